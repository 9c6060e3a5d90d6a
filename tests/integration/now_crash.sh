#!/bin/bash
# kill -9 of the mount daemon in the middle of a large rsync into now/:
# after a remount on the same cache, every committed snapshot is intact,
# every fsync'd file is intact, a new snapshot works and drfs check
# --read-data is clean.
source "$(dirname "$0")/lib.sh"
need_root
make_repo

MNT=$T/mnt
drfs init "$REPO" >/dev/null

# a committed snapshot
mkdir -p "$T/src/base"
for i in 1 2 3 4; do
	seeded_bytes "$i" $((3 << 20)) >"$T/src/base/f$i"
done
echo small >"$T/src/base/small"
touch -d @1700000000 "$T/src/base"
mount_repo "$MNT"
rsync -aHAXS "$T/src/" "$MNT/now/"
snap=$(drfs snapshot "$MNT" --time 2026-04-01T00:00:00Z)
treecmp --no-atime --ignore-root-times "$T/src" "$snap" ||
	fail "the first snapshot differs"

# fsync'd files (one new, one rewritten copy-on-write in place)
seeded_bytes 11 $((5 << 20)) >"$T/synced-new"
dd if="$T/synced-new" of="$MNT/now/synced-new" bs=1M conv=fsync status=none
cp "$T/src/base/f2" "$T/synced-cow"
printf 'REWRITTEN' | dd of="$T/synced-cow" bs=1 seek=12345 conv=notrunc \
	status=none
printf 'REWRITTEN' | dd of="$MNT/now/base/f2" bs=1 seek=12345 \
	conv=notrunc,fsync status=none

# a large rsync, killed in the middle
mkdir -p "$T/big"
for i in $(seq 1 40); do
	seeded_bytes $((100 + i)) $((8 << 20)) >"$T/big/b$i"
done
pid=$(getfattr --only-values -n user.drfs.pid "$MNT" 2>/dev/null) ||
	fail "cannot read the daemon's pid"
rsync -aHAXS "$T/big/" "$MNT/now/big/" >/dev/null 2>&1 &
rs=$!
for _ in $(seq 1 200); do
	[ "$(ls "$MNT/now/big" 2>/dev/null | wc -l)" -ge 6 ] && break
	sleep 0.05
done
kill -9 "$pid"
wait "$rs" && fail "rsync finished before the kill" || true
for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
fusermount3 -u -z "$MNT" 2>/dev/null || umount -l "$MNT"

# remount on the same cache: recovers by itself (staging bounded: 24 MiB)
mount_repo "$MNT" --cache-size 24M
treecmp --no-atime --ignore-root-times "$T/src" "$MNT/snapshots/2026-04-01/000000" ||
	fail "the committed snapshot differs after the crash"
cmp "$T/synced-new" "$MNT/now/synced-new" ||
	fail "fsync'd new file lost or damaged by the crash"
cmp "$T/synced-cow" "$MNT/now/base/f2" ||
	fail "fsync'd in-place rewrite lost or damaged by the crash"
for f in "$MNT"/now/big/b*; do
	[ -f "$f" ] || continue
	# partially written files are allowed, but readable to their size
	cat "$f" >/dev/null || fail "\"$f\" unreadable after the crash"
done

# the interrupted rsync completes (writers wait for uploads when staging
# is full); a new snapshot works and is exact
# (what the crash left staged is chunked and uploaded in the background
# first; the bound is for new writes)
for _ in $(seq 1 300); do
	[ "$(du -sk "$CACHE/staging" | cut -f1)" -le $((24 << 10)) ] && break
	sleep 0.1
done
# (du fails when a staging file goes while it counts: not an error here)
(while :; do du -sk "$CACHE/staging" 2>/dev/null | cut -f1 || true
	sleep 0.05; done) >"$T/staged.log" & sampler=$!
rsync -aHAXS "$T/big/" "$MNT/now/big/"
kill "$sampler" 2>/dev/null || true
staged=$(sort -n "$T/staged.log" | tail -n 1)
info "staging peaked at ${staged} KiB (rsync of 320 MiB, --cache-size 24M)"
[ "$staged" -le $(((24 + 8 + 8) << 10)) ] ||
	fail "staging held ${staged} KiB with --cache-size 24M"
new=$(drfs snapshot "$MNT" --time 2026-04-02T00:00:00Z)
cmp "$T/synced-new" "$new/synced-new" || fail "snapshot lost the fsync'd file"
cmp "$T/synced-cow" "$new/base/f2" || fail "snapshot lost the fsync'd rewrite"
for i in $(seq 1 40); do
	cmp "$T/big/b$i" "$new/big/b$i" || fail "big/b$i differs in the new snapshot"
done
umount_repo "$MNT"

drfs check "$REPO" --read-data >"$T/check" 2>&1 ||
	{ cat "$T/check" >&2; fail "drfs check --read-data after the crash"; }
info "ok"
