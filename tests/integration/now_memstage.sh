#!/bin/bash
# Small files written to now/ are staged in memory (memfd) until their
# chunks are durable. Checks what that must not change:
#   - a clean unmount without a snapshot keeps them (chunked and flushed,
#     or spilled to staging files), and so does fsync (spill to disk);
#   - files that pass 1 MiB, or are fallocate'd, move to staging files;
#   - after kill -9, a file whose content was only in memory is empty with
#     a new mtime (never the right size with wrong bytes), the daemon says
#     so in its log, fsync'd files are intact, and an rsync re-run repairs
#     everything;
#   - a staging file emptied by a machine crash gives an empty file with a
#     new mtime too (not zeros of the old size, which rsync would skip);
#   - with DRFS_MEM_STAGING=0 (every file staged on disk) the same copy is
#     exact.
source "$(dirname "$0")/lib.sh"
need_root
make_repo
MNT=$T/mnt
drfs init "$REPO" >/dev/null
status() { getfattr --only-values -n user.drfs.status "$MNT" 2>/dev/null; }

mkdir -p "$T/src/small" "$T/src/big"
for i in $(seq 1 300); do
	seeded_bytes "$i" $((i * 7)) >"$T/src/small/f$i"
done
seeded_bytes 1000 $((3 << 20)) >"$T/src/big/over-1m"
cp -a "$(realtree)" "$T/src/real"

# ---- clean unmount without a snapshot -------------------------------------
mount_repo "$MNT" --no-snapshot-on-unmount
rsync -aHAX "$T/src/" "$MNT/now/"
st=$(status) || fail "no status"
grep -Eq 'in memory: [1-9][0-9]* files' <<<"$st" ||
	fail "nothing staged in memory after copying small files: $st"
# fsync'd: moved to disk at once
seeded_bytes 2000 5000 >"$T/synced"
dd if="$T/synced" of="$MNT/now/synced" conv=fsync status=none
# fallocate'd: staged on disk (tmpfs has no FALLOC_FL_ZERO_RANGE)
printf 'abcdefgh' >"$MNT/now/falloc"
fallocate -z -o 2 -l 3 "$MNT/now/falloc" ||
	fail "fallocate --zero-range on a small file failed"
[ "$(od -An -c "$MNT/now/falloc" | tr -d ' ')" = 'ab\0\0\0fgh' ] ||
	fail "zero-range result: $(od -An -c "$MNT/now/falloc")"
cp "$T/synced" "$T/src/synced"
printf 'ab\0\0\0fgh' >"$T/src/falloc"
touch -r "$MNT/now/falloc" "$T/src/falloc"
touch -r "$MNT/now/synced" "$T/src/synced"
umount_repo "$MNT"
mount_repo "$MNT" --no-snapshot-on-unmount
treecmp --no-atime --ignore-root-times "$T/src" "$MNT/now" ||
	fail "now/ differs after an unmount without a snapshot"
snap=$(drfs snapshot "$MNT" --time 2026-06-01T00:00:00Z)
treecmp --no-atime --ignore-root-times "$T/src" "$snap" ||
	fail "the snapshot differs from the source"

# ---- kill -9 with files only in memory --------------------------------------
mkdir -p "$T/src2/new"
for i in $(seq 1 200); do
	seeded_bytes $((5000 + i)) $((100 + i)) >"$T/src2/new/g$i"
done
seeded_bytes 3000 4000 >"$T/src2/fsynced"
rsync -a "$T/src2/new/" "$MNT/now/new/"
dd if="$T/src2/fsynced" of="$MNT/now/fsynced" conv=fsync status=none
# past 1 MiB: staged on disk, not fsync'd
seeded_bytes 3001 $((2 << 20)) >"$MNT/now/disklost"
before=$(date +%s)
pid=$(daemon_pid "$MNT") || fail "cannot read the daemon's pid"
kill -9 "$pid"
for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
fusermount3 -u -z "$MNT" 2>/dev/null || umount -l "$MNT"
# a machine crash that loses an unsynced staging file's data leaves it
# empty: the file must come back empty, not as 2 MiB of zeros
sf=$(find "$CACHE/staging" -type f -size 2048k)
[ -n "$sf" ] && [ "$(echo "$sf" | wc -l)" = 1 ] ||
	fail "no single 2 MiB staging file: $sf"
: >"$sf"
mount_repo "$MNT"
[ "$(stat -c %s "$MNT/now/disklost")" = 0 ] ||
	fail "a staging file emptied by a crash came back with $(stat -c %s "$MNT/now/disklost") bytes"
[ "$(stat -c %Y "$MNT/now/disklost")" -ge "$before" ] ||
	fail "now/disklost was emptied but kept its old mtime"
cmp "$T/src2/fsynced" "$MNT/now/fsynced" ||
	fail "an fsync'd small file was lost or damaged by kill -9"
lost=0
for i in $(seq 1 200); do
	f=$MNT/now/new/g$i
	[ -f "$f" ] || fail "now/new/g$i is missing after the crash"
	cmp -s "$T/src2/new/g$i" "$f" && continue
	[ "$(stat -c %s "$f")" = 0 ] ||
		fail "now/new/g$i differs and is not empty after the crash"
	[ "$(stat -c %Y "$f")" -ge "$before" ] ||
		fail "now/new/g$i was emptied but kept its old mtime"
	lost=$((lost + 1))
done
[ "$lost" -gt 0 ] ||
	fail "no file was lost: the kill did not hit memory staging"
grep -qs "lost their content" "$T/mount.err" "$CACHE"/mount-*.log ||
	fail "the daemon did not log the lost files"
info "$lost of 200 unsynced files were emptied by kill -9"
# the tree is sound: a snapshot of it works, a re-run repairs it
snap=$(drfs snapshot "$MNT" --time 2026-06-01T00:01:00Z)
rsync -a "$T/src2/new/" "$MNT/now/new/"
for i in $(seq 1 200); do
	cmp -s "$T/src2/new/g$i" "$MNT/now/new/g$i" ||
		fail "rsync did not repair now/new/g$i"
done
snap=$(drfs snapshot "$MNT" --time 2026-06-01T00:02:00Z)
treecmp --no-atime --ignore-root-times "$T/src2/new" "$snap/new" ||
	fail "the snapshot after the repair differs"
treecmp --no-atime --ignore-root-times "$T/src/real" "$snap/real" ||
	fail "the real tree changed"
umount_repo "$MNT"

# ---- every file staged on disk ----------------------------------------------
DRFS_MEM_STAGING=0 mount_repo "$MNT"
rsync -aHAX --delete "$T/src2/new/" "$MNT/now/disk/"
st=$(status)
grep -q 'in memory: 0 files' <<<"$st" ||
	fail "DRFS_MEM_STAGING=0 staged in memory: $st"
snap=$(drfs snapshot "$MNT" --time 2026-06-01T00:03:00Z)
treecmp --no-atime --ignore-root-times "$T/src2/new" "$snap/disk" ||
	fail "disk staging: the snapshot differs"
umount_repo "$MNT"
drfs check "$REPO" --read-data >"$T/check" 2>&1 ||
	{ cat "$T/check" >&2; fail "drfs check --read-data"; }
info "ok"
