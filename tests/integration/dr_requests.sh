#!/bin/bash
# The exact S3 requests of each command, recorded by a proxy in front of
# RadosGW (tests/s3/faultproxy.js FI_LOG) and compared with the contract
# tools/aws/requests.json, from which docs/disaster-recovery.md's request
# table and the IAM policies of tools/aws/ are derived: every request a
# command makes is listed for it, every required one is made. And the
# point of it all: every object drfs creates - packs included - is PUT
# with If-None-Match: *; the only PUT without it is the overwrite probe of
# init and check (.drfs-inm-probe), which create-only credentials refuse.
#
# DRFS_REQUESTS_RECORD=1 prints each command's classes instead of checking
# (to update the contract after a deliberate change).
#
# local: skipped (no requests to record); the s3 variant runs it.
source "$(dirname "$0")/lib.sh"
[ "$DRFS_TEST_BACKEND" = s3 ] || skip "request sets are S3's (see the s3 variant)"
make_repo
command -v node >/dev/null || skip "node is not installed"
python3 -c 'import boto3' 2>/dev/null || skip "python3-boto3 is not installed"
SRCDIR=${DRFS_SRC:-$LIB_DIR/../..}
CONTRACT=$SRCDIR/tools/aws/requests.json
REQS="python3 $TOOLS/s3requests.py"
[ -f "$CONTRACT" ] || fail "no contract at $CONTRACT"

PORT=$(free_port)
bg_start env FI_LOG="$T/req.log" FI_LIFETIME_S=1800 node "$LIB_DIR/../s3/faultproxy.js" \
	"$PORT" "${DRFS_TEST_S3_ENDPOINT##*:}" 2>"$T/proxy.err"
wait_line "$T/proxy.err" faultproxy "the recording proxy"
export AWS_ENDPOINT_URL_S3=http://127.0.0.1:$PORT

B=drfs-test-req-$(_rand_lower 10)
PRE=host1/
REPO=s3://$B/host1
BAD=$T/contract.diff
: >"$BAD"

# rec NAME CMD... — run CMD alone through the proxy; its requests to $B/$PRE
# must match the contract for NAME
rec() {
	local name=$1
	shift
	: >"$T/req.log"
	"$@" >"$T/$name.out" 2>"$T/$name.err" ||
		{ cat "$T/$name.err" >&2; fail "$name: $* failed"; }
	sleep 0.3 # the proxy logs a request once answered
	cp "$T/req.log" "$T/$name.log"
	if [ -n "${DRFS_REQUESTS_RECORD:-}" ]; then
		echo "== $name" >&2
		$REQS classify "$T/req.log" "$B" "$PRE" >&2
		return 0
	fi
	$REQS check "$CONTRACT" "$name" "$T/req.log" "$B" "$PRE" >>"$BAD" || true
}

# rec_sides NAME SRCB SRCPRE DSTB DSTPRE CMD... — the same for a command
# with a source and a destination (copy, mirror)
rec_sides() {
	local name=$1 sb=$2 sp=$3 db=$4 dp=$5
	shift 5
	: >"$T/req.log"
	"$@" >"$T/$name.out" 2>"$T/$name.err" ||
		{ cat "$T/$name.err" >&2; fail "$name: $* failed"; }
	sleep 0.3
	cp "$T/req.log" "$T/$name.log"
	if [ -n "${DRFS_REQUESTS_RECORD:-}" ]; then
		echo "== $name (src)" >&2
		$REQS classify "$T/req.log" "$sb" "$sp" >&2
		echo "== $name (dst)" >&2
		$REQS classify "$T/req.log" "$db" "$dp" >&2
		return 0
	fi
	$REQS check "$CONTRACT" "$name" "$T/req.log" "$sb" "$sp" src >>"$BAD" || true
	$REQS check "$CONTRACT" "$name" "$T/req.log" "$db" "$dp" dst >>"$BAD" || true
}

# created_without_inm LOG... — fail naming each object PUT without
# If-None-Match (not the overwrite probe), over the recorded logs
created_without_inm() {
	python3 - "$@" <<'PY' || fail "an object was created without If-None-Match (above)"
import json, sys
bad = 0
for log in sys.argv[1:]:
    for line in open(log):
        r = json.loads(line)
        if r["m"] != "PUT" or not r["key"] or r["q"]:
            continue  # not an object's creation (retention, parts, buckets)
        if r["inm"] or r["key"].endswith(".drfs-inm-probe"):
            continue
        print("%s: PUT %s without If-None-Match" % (log.split("/")[-1], r["key"]))
        bad = 1
sys.exit(bad)
PY
}

SRC=$T/src
mkdir -p "$SRC/d"
seeded_bytes "$SEED" $((3 << 20)) >"$SRC/big"
echo one >"$SRC/d/small"

rec init-new-bucket drfs init "$REPO"
# a second repository in the bucket that now exists: what a writer's init
# needs (no bucket to create)
PRE=host2/
rec init drfs init "s3://$B/host2" --cache-dir "$T/host2-cache"
PRE=host1/
rec backup drfs backup "$REPO" "$SRC"
created_without_inm "$T/backup.log"
echo two >"$SRC/d/small"
rec backup drfs backup "$REPO" "$SRC"
rec snapshots drfs snapshots "$REPO"
rec stats drfs stats "$REPO"
rec restore drfs restore "$REPO" latest "$T/out" -q
treecmp "$SRC" "$T/out" >/dev/null || fail "restore through the proxy differs"
rec check drfs check "$REPO"
rec check-read-data drfs check "$REPO" --read-data
rec drill drfs drill "$REPO"
# a host mounting its repository: write to now/, snapshot, unmount
mount_and_write() {
	mount_repo "$T/mnt"
	echo three >"$T/mnt/now/d/small"
	seeded_bytes $((SEED + 1)) $((1 << 20)) >"$T/mnt/now/new"
	"$DRFS" snapshot "$T/mnt" >/dev/null
	cat "$T/mnt/latest/new" >/dev/null
	umount_repo "$T/mnt"
}
rec mount mount_and_write
# browsing a mount from a fresh cache, nothing written (a restorer)
mount_and_read() {
	CACHE=$T/browse-cache mount_repo "$T/mnt" --no-snapshot-on-unmount
	cmp "$T/mnt/latest/new" <(seeded_bytes $((SEED + 1)) $((1 << 20)))
	umount_repo "$T/mnt"
}
rec mount-browse mount_and_read
first=$(drfs snapshots "$REPO" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["folder"])')
rec hold drfs hold "$REPO" "$first"
rec release drfs release "$REPO" "$first"
rec policy drfs policy "$REPO" --keep-last 5
rec policy drfs policy "$REPO" --keep-last 4
rec forget drfs forget "$REPO" "$first"
# snapshots are grouped by host and paths: a third backup makes prune remove
# one (its pack deleted at once: nobody else uses the repository)
echo three >"$SRC/d/small"
drfs backup "$REPO" "$SRC" >/dev/null
rec prune drfs prune "$REPO" --keep-last 1
# the shipped prune timer's case, from elsewhere (another cache, e.g. the
# pruner's credentials) while a mount is live: deletion deferred, a
# deletion record written, nothing deleted; the next run finishes it
echo four >"$SRC/d/small"
drfs backup "$REPO" "$SRC" >/dev/null
CACHE=$T/live-cache mount_repo "$T/mnt" --no-snapshot-on-unmount
rec prune-deferred drfs prune "$REPO" --keep-last 1 --cache-dir "$T/pruner-cache"
cat "$T/prune-deferred.out" "$T/prune-deferred.err" | grep -q 'deletion deferred' ||
	fail "prune beside a live mount did not defer: $(cat "$T/prune-deferred.out")"
mpid=$(daemon_pid "$T/mnt") || fail "cannot read the mount's pid"
umount_repo "$T/mnt"
for _ in $(seq 1 100); do kill -0 "$mpid" 2>/dev/null || break; sleep 0.1; done
# the next run, the mount gone: the deferred packs and the record deleted
rec prune-finish drfs prune "$REPO" --keep-last 1 --cache-dir "$T/pruner-cache"
cat "$T/prune-finish.out" "$T/prune-finish.err" | grep -q 'finished 1 earlier deletion record' ||
	fail "the next prune did not finish the deletion record: $(cat "$T/prune-finish.out" "$T/prune-finish.err")"
rec repair-index drfs repair index "$REPO"

# copy to another repository (its own keys) under another prefix
drfs init "s3://$B/copy" --cache-dir "$T/copy-cache" >/dev/null 2>&1
rec_sides copy "$B" "$PRE" "$B" copy/ \
	drfs copy "$REPO" "s3://$B/copy"
# mirror into another bucket, without keys (no passphrase at all)
B2=drfs-test-req-$(_rand_lower 10)
s3py "s3.create_bucket(Bucket='$B2')"
rec_sides mirror "$B" "$PRE" "$B2" "$PRE" \
	env -u DRFS_PASSWORD "$DRFS" mirror "$REPO" "s3://$B2/host1" --cache-dir "$T/mirror-state"
# what the source pruned since, deleted from the mirror (no grace here)
echo five >"$SRC/d/small"
drfs backup "$REPO" "$SRC" >/dev/null
drfs prune "$REPO" --keep-last 1 >/dev/null
rec_sides mirror-delete "$B" "$PRE" "$B2" "$PRE" \
	env -u DRFS_PASSWORD "$DRFS" mirror "$REPO" "s3://$B2/host1" --cache-dir "$T/mirror-state" \
	--delete-after 0s
grep -q ' [1-9][0-9]* deleted' "$T/mirror-delete.out" ||
	fail "the mirror deleted nothing the source pruned: $(cat "$T/mirror-delete.out")"

# Object Lock: lock-extend (governance, then converted to compliance) and
# check's audit, on a bucket created with Object Lock
B3=drfs-test-req-lock-$(_rand_lower 8)
s3py "s3.create_bucket(Bucket='$B3', ObjectLockEnabledForBucket=True)"
drfs init "s3://$B3/host1" --cache-dir "$T/lock-cache" >/dev/null 2>&1
drfs backup "s3://$B3/host1" "$SRC" --cache-dir "$T/lock-cache" >/dev/null
B_SAVED=$B
B=$B3
rec lock-extend drfs lock-extend "s3://$B3/host1" --cache-dir "$T/lock-cache" --keep-within 2m
rec lock-extend-compliance drfs lock-extend "s3://$B3/host1" --cache-dir "$T/lock-cache" \
	--keep-within 3m --compliance
rec check-object-lock drfs check "s3://$B3/host1" --cache-dir "$T/lock-cache"
B=$B_SAVED

[ -n "${DRFS_REQUESTS_RECORD:-}" ] && { info "recorded (not checked)"; exit 0; }

# ---- create-only, over everything recorded -----------------------------------
created_without_inm "$T"/*.log
n_data=$(cat "$T"/*.log | python3 -c '
import json, sys
print(sum(1 for l in sys.stdin for r in [json.loads(l)]
          if r["m"] == "PUT" and "/data/" in "/" + r["key"] and r["inm"]))')
[ "$n_data" -gt 0 ] || fail "no pack was PUT with If-None-Match"
if [ -s "$BAD" ]; then
	cat "$BAD" >&2
	fail "requests differ from tools/aws/requests.json (above)"
fi
info "every command's requests match tools/aws/requests.json; $n_data pack PUTs, all with If-None-Match: *"
echo "dr_requests: ok"
