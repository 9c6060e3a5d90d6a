#!/bin/bash
# Replication and failover (--replica): both sides restore identical trees;
# with the primary down (directory gone / dead port) reads come from the
# replica, logged once; an object corrupted on the primary is served from
# the replica; --replica-async catches up; a replica added later is seeded
# and caught up by `drfs copy`; with the primary down, a drill on "latest"
# falls back to the newest snapshot complete on the replica, and so do
# restore and a mount (which shows only the snapshots complete there).
#
# local: primary a directory, replica an S3 bucket when an S3 server is
# available (local + S3), else a second directory. s3: two buckets.
source "$(dirname "$0")/lib.sh"
make_repo
PRIMARY=$REPO

new_bucket() { echo "s3://drfs-test-$(_rand_lower 12)/"; }
if [ "$DRFS_TEST_BACKEND" = s3 ]; then
	REPLICA=$(new_bucket)
	REPLICA2=$(new_bucket)
elif [ -n "${DRFS_TEST_S3_ENDPOINT:-}" ]; then
	export AWS_ENDPOINT_URL_S3=$DRFS_TEST_S3_ENDPOINT
	export AWS_REGION=${AWS_REGION:-us-east-1}
	REPLICA=$(new_bucket)
	REPLICA2=$(new_bucket)
else
	REPLICA=$T/replica
	REPLICA2=$T/replica2
fi
info "primary $PRIMARY, replica $REPLICA"

# ---- objects of a repository, without drfs -------------------------------
s3_req() { # METHOD URL [CURL ARGS...]
	local m=$1 u=$2
	shift 2
	curl -sS -f --aws-sigv4 "aws:amz:${AWS_REGION:-us-east-1}:s3" \
		--user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
		-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -X "$m" "$u" "$@"
}
bucket_of() { local b=${1#s3://}; echo "${b%%/*}"; }
# obj_names URL PREFIX — object names under PREFIX, one a line
obj_names() {
	case $1 in
	s3://*)
		s3_req GET "$DRFS_TEST_S3_ENDPOINT/$(bucket_of "$1")?list-type=2&prefix=${2//\//%2F}" |
			grep -o '<Key>[^<]*</Key>' | sed 's/<Key>//; s/<\/Key>//' | sort
		;;
	*)
		(cd "$1" && find . -type f ! -name '.tmp-*' | sed 's|^\./||' |
			grep "^$2" | sort) || true
		;;
	esac
}
flip() { python3 -c 'import sys
b = bytearray(open(sys.argv[1], "rb").read()); b[len(b) // 2] ^= 0x5a
open(sys.argv[1], "wb").write(b)' "$1"; }
# obj_corrupt URL NAME — flip one byte in the middle of the object
obj_corrupt() {
	case $1 in
	s3://*)
		local u="$DRFS_TEST_S3_ENDPOINT/$(bucket_of "$1")/$2"
		s3_req GET "$u" -o "$T/obj"
		flip "$T/obj"
		s3_req PUT "$u" --data-binary @"$T/obj" >/dev/null
		;;
	*) flip "$1/$2" ;;
	esac
}
obj_del() {
	case $1 in
	s3://*) s3_req DELETE "$DRFS_TEST_S3_ENDPOINT/$(bucket_of "$1")/$2" ;;
	*) rm -f "$1/$2" ;;
	esac
}

# make_empty URL — an empty place for a repository (bucket or directory)
make_empty() {
	case $1 in
	s3://*) s3_req PUT "$DRFS_TEST_S3_ENDPOINT/$(bucket_of "$1")" >/dev/null ;;
	*) mkdir -p "$1" ;;
	esac
}

# ---- data ---------------------------------------------------------------
SRC=$T/src
mkdir -p "$SRC/sub/deeper"
seeded_bytes "$SEED" $((3 << 20)) >"$SRC/big"
seeded_bytes $((SEED + 1)) 70000 >"$SRC/sub/medium"
echo "small file" >"$SRC/sub/deeper/small"
ln -s ../big "$SRC/sub/link"
setfattr -n user.dr -v replica "$SRC/sub/medium" 2>/dev/null || true
touch -d '2020-01-02 03:04:05.123456789' "$SRC/sub/medium"

# ---- 1. init and two backups with a synchronous replica -------------------
drfs init "$PRIMARY" --replica "$REPLICA" >/dev/null
drfs backup "$PRIMARY" "$SRC" --replica "$REPLICA" >/dev/null
echo "second version" >"$SRC/sub/deeper/small"
seeded_bytes $((SEED + 2)) 50000 >"$SRC/new"
drfs backup "$PRIMARY" "$SRC" --replica "$REPLICA" >/dev/null

[ "$(obj_names "$PRIMARY" snapshots/ | wc -l)" = 2 ] || fail "primary: want 2 snapshots"
# Lock objects and the S3 backend's If-None-Match probe object are
# per-backend housekeeping, not repository content.
diff <(obj_names "$PRIMARY" "" | grep -v -e '^locks/' -e '^\.drfs-inm-probe$') \
	<(obj_names "$REPLICA" "" | grep -v -e '^locks/' -e '^\.drfs-inm-probe$') ||
	fail "primary and replica hold different objects"

# both sides, each alone with a fresh cache, restore the same tree
drfs restore "$PRIMARY" latest "$T/out-p" --cache-dir "$T/c-p" -q
drfs restore "$REPLICA" latest "$T/out-r" --cache-dir "$T/c-r" -q
treecmp "$SRC" "$T/out-p" >/dev/null || fail "primary's restore differs from the source"
treecmp "$T/out-p" "$T/out-r" || fail "replica's restore differs from the primary's"
info "both sides restore identical trees"

# ---- 2. primary down: reads served by the replica -----------------------------
if [ "$DRFS_TEST_BACKEND" = s3 ]; then
	DEAD=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	down() { "$@" --endpoint "http://127.0.0.1:$DEAD" --retries 0 \
		--replica-endpoint "$DRFS_TEST_S3_ENDPOINT"; }
else
	mv "$PRIMARY" "$PRIMARY.away"
	down() { "$@"; }
fi
rm -rf "$T/out-down"
down drfs restore "$PRIMARY" latest "$T/out-down" --replica "$REPLICA" \
	--cache-dir "$T/c-down" 2>"$T/down.err" || {
	cat "$T/down.err" >&2
	fail "restore with the primary down failed"
}
treecmp "$SRC" "$T/out-down" >/dev/null || fail "restore with the primary down differs"
n=$(grep -c 'reading from replica' "$T/down.err" || true)
[ "$n" = 1 ] || { cat "$T/down.err" >&2; fail "failover logged $n times, want once"; }
info "primary down: $(grep 'reading from replica' "$T/down.err")"
# the mount too starts and serves files with the primary down
if [ "$(id -u)" = 0 ] && [ -e /dev/fuse ] && command -v fusermount3 >/dev/null; then
	if [ "$DRFS_TEST_BACKEND" = s3 ]; then
		mount_repo "$T/mnt" --replica "$REPLICA" --cache-dir "$T/c-mnt" \
			--endpoint "http://127.0.0.1:$DEAD" --retries 0 \
			--replica-endpoint "$DRFS_TEST_S3_ENDPOINT"
	else
		mount_repo "$T/mnt" --replica "$REPLICA" --cache-dir "$T/c-mnt"
	fi
	diff -r "$SRC" "$T/mnt/latest" >&2 || fail "the mount with the primary down serves other bytes"
	umount_repo "$T/mnt"
	info "mount with the primary down: ok"
else
	info "no FUSE here: the mount part is skipped"
fi
# a backup cannot be durable in both: it must fail, not pretend
run_nocrash "backup with the primary down" down drfs backup "$PRIMARY" "$SRC" --replica "$REPLICA"
[ "$RC" != 0 ] || fail "backup succeeded although the primary is down"
[ "$DRFS_TEST_BACKEND" = s3 ] || mv "$PRIMARY.away" "$PRIMARY"

# ---- 3. corrupted objects on the primary are served from the replica ----------
for p in $(obj_names "$PRIMARY" data/); do
	obj_corrupt "$PRIMARY" "$p"
done
run_nocrash "restore of a corrupted primary" drfs restore "$PRIMARY" latest "$T/out-bad" --cache-dir "$T/c-p"
[ "$RC" != 0 ] || fail "restore from a corrupted primary succeeded without the replica"
drfs restore "$PRIMARY" latest "$T/out-fix" --replica "$REPLICA" \
	--cache-dir "$T/c-p" 2>"$T/fix.err" || { cat "$T/fix.err" >&2; fail "restore with --replica failed"; }
treecmp "$SRC" "$T/out-fix" >/dev/null || fail "restore served from the replica differs"
grep -q 'reading from replica' "$T/fix.err" || fail "corruption failover not logged"
info "corrupted primary: $(grep 'reading from replica' "$T/fix.err")"

# ---- 4. asynchronous replica, seeded on first use -----------------------------
drfs init "$T/async-p" >/dev/null
make_empty "$REPLICA2"
drfs backup "$T/async-p" "$SRC" --replica "$REPLICA2" --replica-async \
	--cache-dir "$T/c-a" >/dev/null
drfs restore "$REPLICA2" latest "$T/out-a" --cache-dir "$T/c-a2" -q
treecmp "$SRC" "$T/out-a" >/dev/null || fail "async replica differs after catch-up"
info "async replica caught up"
case $REPLICA2 in
s3://*)
	# an unreachable replica: sync backups fail, async ones succeed and
	# the lag shows in `drfs snapshots --replica` until a catch-up
	echo "lag" >"$SRC/lag"
	deadrep=(--replica "$REPLICA2" --replica-endpoint http://127.0.0.1:1 --retries 0 --cache-dir "$T/c-a")
	run_nocrash "sync backup with the replica down" drfs backup "$T/async-p" "$SRC" "${deadrep[@]}"
	[ "$RC" != 0 ] || fail "a sync backup succeeded with the replica down"
	grep -qE 'replica.*(unreachable|unavailable)' "$T/last.err" || fail "unclear: $(cat "$T/last.err")"
	drfs backup "$T/async-p" "$SRC" "${deadrep[@]}" --replica-async >/dev/null
	on_a() {
		drfs snapshots "$T/async-p" --replica "$REPLICA2" --cache-dir "$T/c-a" --json |
			python3 -c 'import json, sys; print(" ".join(s["on"] for s in json.load(sys.stdin)))'
	}
	[ "$(on_a)" = "both primary" ] || fail "lag not shown: $(on_a)"
	drfs backup "$T/async-p" "$SRC" --replica "$REPLICA2" --replica-async --cache-dir "$T/c-a" >/dev/null
	[ "$(on_a)" = "both both both" ] || fail "lag not caught up: $(on_a)"
	rm "$SRC/lag"
	info "unreachable replica: sync backup refused, async lag tracked and caught up"
	;;
esac

# ---- 5. a replica added later: incomplete until copied; drill falls back ------
P3=$T/p3
R3=$T/r3
drfs init "$P3" >/dev/null
drfs backup "$P3" "$SRC" --cache-dir "$T/c3" >/dev/null
echo "third" >"$SRC/third"
make_empty "$R3"
drfs backup "$P3" "$SRC" --replica "$R3" --cache-dir "$T/c3" >/dev/null
[ -f "$R3/config" ] || fail "the new replica was not seeded with the config"
# the replica has the new snapshot but not the data it shares with the first
mv "$P3" "$P3.away"
run_nocrash "drill of an incomplete replica" drfs drill "$P3" --replica "$R3" --cache-dir "$T/c3"
[ "$RC" != 0 ] || fail "drill trusted a replica that lacks data"
info "incomplete replica refused: $(grep -m1 -i 'complete' "$T/last.err" || true)"
mv "$P3.away" "$P3"
on_sides() {
	drfs snapshots "$P3" --replica "$R3" --cache-dir "$T/c3" --json |
		python3 -c 'import json, sys; print(" ".join(s["on"] for s in json.load(sys.stdin)))'
}
[ "$(on_sides)" = "primary primary+partial" ] ||
	fail "snapshots --replica before catch-up: $(on_sides)"
drfs copy "$P3" "$R3" --cache-dir "$T/c3" >"$T/copy.out"
info "catch-up: $(cat "$T/copy.out")"
[ "$(on_sides)" = "both both" ] || fail "snapshots --replica after catch-up: $(on_sides)"
drfs copy "$P3" "$R3" --cache-dir "$T/c3" >"$T/copy2.out"
grep -q 'copied 0 missing' "$T/copy2.out" || fail "second catch-up copied: $(cat "$T/copy2.out")"
# lose a pack that only the newest snapshot needs, on the replica
before=$(obj_names "$R3" data/)
echo "fourth" >"$SRC/fourth"
drfs backup "$P3" "$SRC" --replica "$R3" --cache-dir "$T/c3" >/dev/null
for p in $(obj_names "$R3" data/); do
	grep -qxF "$p" <<<"$before" || obj_del "$R3" "$p"
done
mv "$P3" "$P3.away"
drfs drill "$P3" latest --replica "$R3" --cache-dir "$T/c3" --json \
	>"$T/drill.json" 2>"$T/drill.err" || { cat "$T/drill.err" >&2; fail "drill did not fall back"; }
grep -q 'newest complete' "$T/drill.err" || { cat "$T/drill.err" >&2; fail "no fallback message"; }
info "$(grep 'newest complete' "$T/drill.err")"
# restore and the mount fall back the same way
drfs restore "$P3" latest "$T/out3" --replica "$R3" --cache-dir "$T/c3" \
	2>"$T/restore3.err" || { cat "$T/restore3.err" >&2; fail "restore did not fall back"; }
grep -q 'newest complete' "$T/restore3.err" || fail "restore: no fallback message"
[ -f "$T/out3/third" ] && [ ! -e "$T/out3/fourth" ] ||
	fail "restore of latest from a lagging replica is not the newest complete snapshot"
REPO=$P3 CACHE=$T/c3 mount_repo "$T/m3" --replica "$R3"
nsnap=$(ls -d "$T/m3"/snapshots/*/* | wc -l)
[ "$nsnap" = 2 ] || fail "mount from a lagging replica shows $nsnap snapshots, want the 2 complete ones"
cmp "$SRC/third" "$T/m3/latest/third" || fail "mount: latest/third unreadable"
[ ! -e "$T/m3/latest/fourth" ] || fail "mount: latest is the incomplete snapshot"
grep -qs 'not complete on replica' "$T/mount.err" "$T/c3"/mount-*.log ||
	fail "mount: no log line about the lagging snapshot"
umount_repo "$T/m3"
mv "$P3.away" "$P3"
echo "dr_replica: ok"
