#!/bin/bash
# drfs mirror SRC DST keeps a second bucket (or directory) object-identical
# to a repository without its keys - the passphrase is never set - and the
# mirror serves as the recovery copy:
#  1. a first mirror copies every object (locks/ and the probe aside), byte
#     for byte; a drill on the mirror restores and verifies everything;
#  2. a second run copies only what is new;
#  3. killed with -9 part way (s3: slowed by a proxy), the mirror never
#     holds the new snapshot without its packs; the next run completes it;
#  4. what the source prunes is deleted from the mirror only after the
#     grace period (--delete-after), snapshots first; a deferred prune's
#     deletion record (deletions/) and the folder-name claims (names/)
#     are mirrored like every other object;
#  5. an object damaged on the mirror is named and left (exit 3); a mirror
#     holding another repository, or a source that is none, is refused;
#  6. failover: the primary gone, restore, drill and mount read from the
#     mirror given as --replica;
#  7. failback: the mirror mirrored into a new primary, which takes
#     backups again with the same passphrase, mirrored back.
source "$(dirname "$0")/lib.sh"
make_repo

MiB=$((1 << 20))
SRC=$T/src
mkdir -p "$SRC/d"
seeded_bytes "$SEED" $((3 * MiB)) >"$SRC/a"
echo one >"$SRC/d/small"

case $DRFS_TEST_BACKEND in
local)
	MIR=$T/mirror
	NEW=$T/new-primary
	OTHER=$T/other
	;;
s3)
	MIR=s3://drfs-test-mir-$(_rand_lower 10)/host1/
	NEW=s3://drfs-test-new-$(_rand_lower 10)/host1/
	OTHER=s3://drfs-test-oth-$(_rand_lower 10)/
	s3py "
for u in sys.argv[1:]:
    s3.create_bucket(Bucket=u[5:].split('/')[0])" "$MIR" "$NEW" "$OTHER"
	;;
esac

# keyless CMD... — drfs without any passphrase anywhere, no terminal
keyless() {
	env -u DRFS_PASSWORD -u DRFS_PASSWORD_FILE setsid -w "$DRFS" "$@" </dev/null
}
mirror() { keyless mirror "$@" --cache-dir "$T/mirror-state"; }

# names_of REPO — its objects, locks/ and the probe left out
names_of() {
	REPO=$1 obj_names "" | grep -v -E '^(locks/|\.drfs-inm-probe$)' || true
}
# same_objects A B — the same names with the same bytes
same_objects() {
	# one listing after the other: obj_names uses one temporary file
	names_of "$1" >"$T/names.1"
	names_of "$2" >"$T/names.2"
	diff "$T/names.1" "$T/names.2" >"$T/names.diff" ||
		{ cat "$T/names.diff" >&2; fail "$1 and $2 hold different objects"; }
	local n
	for n in $(names_of "$1"); do
		REPO=$1 obj_get "$n" "$T/o1"
		REPO=$2 obj_get "$n" "$T/o2"
		cmp -s "$T/o1" "$T/o2" || fail "\"$n\" differs between $1 and $2"
	done
}
folders() {
	"$DRFS" snapshots "$1" --cache-dir "$T/list-cache-$RANDOM" --json |
		python3 -c 'import json,sys; print(" ".join(s["folder"] for s in json.load(sys.stdin)))'
}

drfs init "$REPO" >/dev/null 2>&1
drfs backup "$REPO" "$SRC" --time 2026-01-01T00:00:00Z >/dev/null

# ---- 1. the first mirror, without keys; a drill on the mirror ------------------
run_nocrash "first mirror" mirror "$REPO" "$MIR"
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "first mirror: exit $RC"; }
grep -qE '^[1-9][0-9]* object\(s\) copied' "$T/last.out" || fail "first mirror copied nothing: $(cat "$T/last.out")"
same_objects "$REPO" "$MIR"
"$DRFS" drill "$MIR" --cache-dir "$T/drill-cache" >"$T/drill.out" 2>&1 ||
	{ cat "$T/drill.out" >&2; fail "drill on the mirror"; }
info "first mirror: $(cat "$T/last.out")"

# ---- 2. incremental ------------------------------------------------------------
echo two >"$SRC/d/small"
drfs backup "$REPO" "$SRC" --time 2026-01-02T00:00:00Z >/dev/null
run_nocrash "second mirror" mirror "$REPO" "$MIR"
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "second mirror: exit $RC"; }
python3 - "$T/last.out" <<'PY' || fail "the second mirror did not copy only what was new: $(cat "$T/last.out")"
import re, sys
t = open(sys.argv[1]).read()
copied, there = map(int, re.search(r"(\d+) object\(s\) copied .* (\d+) already there", t).groups())
sys.exit(0 if 0 < copied < there else 1)
PY
same_objects "$REPO" "$MIR"

# ---- 3. killed part way ------------------------------------------------------------
for i in $(seq 1 12); do
	seeded_bytes $((SEED + 100 + i)) $((3 * MiB)) >"$SRC/big-$i"
done
drfs backup "$REPO" "$SRC" --time 2026-01-03T00:00:00Z >/dev/null
want=$(folders "$REPO")
MOPT=()
if [ "$DRFS_TEST_BACKEND" = s3 ]; then
	# the mirror's writes go through a slow proxy: the kill lands mid-way
	PPORT=$(free_port)
	bg_start env FI_DELAY_MS=150 FI_LIFETIME_S=900 node "$LIB_DIR/../s3/faultproxy.js" \
		"$PPORT" "${DRFS_TEST_S3_ENDPOINT##*:}" 2>"$T/slow.err"
	wait_line "$T/slow.err" faultproxy "the slow proxy"
	MOPT=(--replica-endpoint "http://127.0.0.1:$PPORT")
fi
before=$(names_of "$MIR" | grep -c '^data/' || true)
env -u DRFS_PASSWORD -u DRFS_PASSWORD_FILE "$DRFS" mirror "$REPO" "$MIR" \
	--cache-dir "$T/mirror-state" --threads 1 "${MOPT[@]}" \
	</dev/null >"$T/killed.out" 2>"$T/killed.err" &
mpid=$!
for _ in $(seq 1 600); do
	now=$(names_of "$MIR" | grep -c '^data/' || true)
	[ "$now" -gt "$before" ] && break
	kill -0 "$mpid" 2>/dev/null || break
	sleep 0.02
done
kill -9 "$mpid" 2>/dev/null || true
wait "$mpid" 2>/dev/null || true
if [ "$(folders "$MIR")" != "$want" ]; then
	info "killed part way: $(names_of "$MIR" | grep -c '^data/') of $(names_of "$REPO" | grep -c '^data/') packs on the mirror, the new snapshot not there"
else
	info "the mirror finished before the kill landed"
fi
# whichever it was, what the mirror shows is complete: its latest (the new
# snapshot if it is there) drills clean
"$DRFS" drill "$MIR" --cache-dir "$T/drill-cache2" >"$T/drill2.out" 2>&1 ||
	{ cat "$T/drill2.out" >&2; fail "the interrupted mirror does not drill"; }
run_nocrash "mirror after the kill" mirror "$REPO" "$MIR"
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "the mirror after the kill: exit $RC"; }
same_objects "$REPO" "$MIR"
[ "$(folders "$MIR")" = "$want" ] || fail "the resumed mirror lacks snapshots"

# ---- 4. deletes after the grace period ------------------------------------------------
drfs forget "$REPO" 2026-01-01/000000 >/dev/null 2>&1
drfs prune "$REPO" --keep-last 10 >/dev/null 2>&1
run_nocrash "mirror within the grace period" mirror "$REPO" "$MIR" --delete-after 1h
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "mirror (grace): exit $RC"; }
grep -qE ' 0 deleted, [1-9][0-9]* to delete once gone from the source for 1h' "$T/last.out" ||
	fail "the mirror deleted within the grace period: $(cat "$T/last.out")"
case " $(folders "$MIR") " in
*" 2026-01-01/000000 "*) ;;
*) fail "the forgotten snapshot left the mirror within the grace period" ;;
esac
sleep 2
run_nocrash "mirror after the grace period" mirror "$REPO" "$MIR" --delete-after 1s
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "mirror (after grace): exit $RC"; }
grep -qE ' [1-9][0-9]* deleted, 0 to delete' "$T/last.out" ||
	fail "the mirror did not delete after the grace period: $(cat "$T/last.out")"
same_objects "$REPO" "$MIR"
# a prune beside a live mount defers its deletion: the deletion record
# (deletions/) reaches the mirror like the folder-name claims (names/)
echo four >"$SRC/d/small" # the pruned snapshots' own pack is doomed
drfs backup "$REPO" "$SRC" --time 2026-01-04T00:00:00Z >/dev/null
CACHE=$T/live-cache mount_repo "$T/mnt" --no-snapshot-on-unmount
drfs prune "$REPO" --keep-last 1 >"$T/dprune.out" 2>&1 ||
	{ cat "$T/dprune.out" >&2; fail "prune beside a live mount"; }
grep -q 'deletion deferred' "$T/dprune.out" ||
	fail "prune beside a live mount did not defer: $(cat "$T/dprune.out")"
umount_repo "$T/mnt"
run_nocrash "mirror of a deletion record" mirror "$REPO" "$MIR" --delete-after 0s
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "mirror of a deletion record: exit $RC"; }
same_objects "$REPO" "$MIR"
names_of "$MIR" | grep -q '^deletions/' || fail "the deletion record is not on the mirror"
names_of "$MIR" | grep -q '^names/' || fail "the folder-name claims are not on the mirror"

# ---- 5. damage and refusals ---------------------------------------------------------------
pack=$(names_of "$MIR" | grep '^data/' | head -n 1)
REPO=$MIR obj_get "$pack" "$T/pack"
if [ "$DRFS_TEST_BACKEND" = s3 ]; then
	python3 -c 'import sys; b = bytearray(open(sys.argv[1], "rb").read()); b[100] ^= 1; open(sys.argv[1], "wb").write(b)' "$T/pack"
else
	truncate -s -1 "$T/pack" # a directory has no ETag: sizes are compared
fi
REPO=$MIR obj_del "$pack"
REPO=$MIR obj_put "$pack" "$T/pack"
run_nocrash "mirror over a damaged object" mirror "$REPO" "$MIR"
[ "$RC" = 3 ] || { cat "$T/last.err" >&2; fail "mirror over a damaged object: exit $RC, want 3"; }
grep -q "\"$pack\" differs between the source and the mirror" "$T/last.err" ||
	fail "the damaged object is not named: $(cat "$T/last.err")"
REPO=$MIR obj_get "$pack" "$T/pack2"
cmp -s "$T/pack" "$T/pack2" || fail "the mirror replaced the damaged object (it should leave it)"
REPO=$REPO obj_get "$pack" "$T/pack"
REPO=$MIR obj_del "$pack"
REPO=$MIR obj_put "$pack" "$T/pack" # repaired by hand, as docs say
"$DRFS" init "$OTHER" --cache-dir "$T/other-cache" >/dev/null 2>&1
expect_clean_failure "mirror into another repository" mirror "$REPO" "$OTHER"
grep -q 'holds another repository' "$T/last.err" || fail "not refused as another repository: $(cat "$T/last.err")"
mkdir -p "$T/empty"
expect_clean_failure "mirror from no repository" mirror "$T/empty" "$T/somewhere"
grep -q 'is not a drfs repository' "$T/last.err" || fail "not refused as no repository: $(cat "$T/last.err")"

# ---- 6. failover: the primary is gone --------------------------------------------------------
case $DRFS_TEST_BACKEND in
local)
	mv "$REPO" "$REPO.gone"
	GONE=(--replica "$MIR")
	;;
s3)
	# the primary's endpoint refuses connections; the mirror is reachable
	GONE=(--endpoint http://127.0.0.1:1 --retries 0 --replica "$MIR"
		--replica-endpoint "$DRFS_TEST_S3_ENDPOINT")
	;;
esac
"$DRFS" restore "$REPO" latest "$T/restored" --cache-dir "$T/fo-cache" "${GONE[@]}" -q \
	2>"$T/fo.err" || { cat "$T/fo.err" >&2; fail "restore with the primary gone"; }
treecmp "$SRC" "$T/restored" >/dev/null || fail "the restore from the mirror differs"
"$DRFS" drill "$REPO" --cache-dir "$T/fo-cache" "${GONE[@]}" >"$T/fo-drill.out" 2>&1 ||
	{ cat "$T/fo-drill.out" >&2; fail "drill with the primary gone"; }
CACHE=$T/fo-mount-cache mount_repo "$T/mnt" --no-snapshot-on-unmount "${GONE[@]}"
cmp "$SRC/big-3" "$T/mnt/latest/big-3" || fail "the mount does not read from the mirror"
umount_repo "$T/mnt"
[ "$DRFS_TEST_BACKEND" = local ] && mv "$REPO.gone" "$REPO.old"

# ---- 7. failback: the mirror into a new primary, backups there, mirrored back ---------------
run_nocrash "mirror into the new primary" mirror "$MIR" "$NEW"
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "failback mirror: exit $RC"; }
echo three >"$SRC/d/small"
"$DRFS" backup "$NEW" "$SRC" --cache-dir "$T/new-cache" >/dev/null 2>"$T/nb.err" ||
	{ cat "$T/nb.err" >&2; fail "backup to the new primary (same passphrase)"; }
mirror "$NEW" "$MIR" >/dev/null 2>"$T/back.err" || { cat "$T/back.err" >&2; fail "mirroring the new primary back"; }
same_objects "$NEW" "$MIR"
info "failover and failback through the mirror: ok"
echo "dr_mirror: ok"
