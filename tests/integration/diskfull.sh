#!/bin/bash
# A full disk (a small tmpfs: no blocks reserved for root, unlike ext4):
# - local: a backup into a repository whose disk fills up fails with one
#   clear message and exit != 0; the repository still passes check
#   --read-data and restores the earlier snapshot;
# - both backends: with the mount's cache directory on a full disk, a write
#   into now/ fails with ENOSPC, but unlink still works (LMDB commits run on
#   reserved space), frees the space, and a snapshot, later writes and a
#   clean unmount follow; opening a cache on a disk with no space left at
#   all is a clear error, not a crash (LMDB's lock file used to SIGBUS).
source "$(dirname "$0")/lib.sh"
need_root
make_repo

small_fs() { # DIR MiB — a tmpfs of that size on DIR
	mkdir -p "$1"
	mount -t tmpfs -o "size=$2m,mode=0700" drfs-test "$1" ||
		skip "cannot mount a tmpfs"
}

mkdir -p "$T/src"
seeded_bytes "$SEED" $((3 << 20)) >"$T/src/a"
echo small >"$T/src/b"

# ---- a repository on a full disk (local) -----------------------------------
if [ "$DRFS_TEST_BACKEND" = local ]; then
	small_fs "$T/rfs" 24
	R=$T/rfs/repo
	drfs init "$R" >/dev/null
	drfs backup "$R" "$T/src" --cache-dir "$T/rc" >/dev/null
	seeded_bytes $((SEED + 1)) $((40 << 20)) >"$T/src/big"
	expect_clean_failure "backup into a full repository" \
		drfs backup "$R" "$T/src" --cache-dir "$T/rc"
	grep -q 'No space left' "$T/last.err" ||
		fail "the full repository is not named as the cause"
	rm "$T/src/big"
	drfs check "$R" --read-data --cache-dir "$T/rc" >"$T/check.out" 2>&1 ||
		{ cat "$T/check.out" >&2; fail "check after the failed backup"; }
	drfs restore "$R" latest "$T/out" --cache-dir "$T/rc2" -q
	treecmp --no-atime --ignore-root-times "$T/src" "$T/out" >&2 ||
		fail "the earlier snapshot does not restore identically"
	info "full repository: clean failure, check and restore ok"
fi

# ---- the mount's cache directory on a full disk ------------------------------
small_fs "$T/cfs" 48
drfs init "$REPO" >/dev/null
MNT=$T/mnt
CACHE=$T/cfs/cache mount_repo "$MNT"
cp "$T/src/a" "$MNT/now/a"
seeded_bytes $((SEED + 2)) $((60 << 20)) >"$T/big60"
if cp "$T/big60" "$MNT/now/big60" 2>"$T/cp.err"; then
	fail "a 60 MiB file fit into now/ with 48 MiB of cache disk"
fi
grep -q 'No space left' "$T/cp.err" || fail "cp into now/: not ENOSPC: $(cat "$T/cp.err")"
rm "$MNT/now/big60" || fail "unlink in now/ failed on a full cache disk"
snap=$(drfs snapshot "$MNT") || fail "snapshot after freeing space failed"
cmp "$T/src/a" "$snap/a" || fail "the snapshot after ENOSPC lost a"
[ ! -e "$snap/big60" ] || fail "the removed file is in the snapshot"
cp "$T/src/b" "$MNT/now/b" || fail "writing after freeing space failed"
umount_repo "$MNT"
info "full cache disk: ENOSPC for the write, unlink, snapshot and writes after it ok"

# a cache directory on a disk with no space left at all
dd if=/dev/zero of="$T/cfs/fill" bs=1M status=none 2>/dev/null || true
expect_clean_failure "opening a cache on a full disk" \
	drfs snapshots "$REPO" --cache-dir "$T/cfs/fresh"
grep -q 'No space left' "$T/last.err" || fail "the full cache disk is not named"
rm -f "$T/cfs/fill"
# and everything is still there, from a cache elsewhere
drfs check "$REPO" --read-data --cache-dir "$T/c3" >/dev/null 2>"$T/check3.err" ||
	{ cat "$T/check3.err" >&2; fail "check after the full-cache run"; }
drfs restore "$REPO" latest "$T/out2" --cache-dir "$T/c3" -q
cmp "$T/src/a" "$T/out2/a" && cmp "$T/src/b" "$T/out2/b" ||
	fail "the latest snapshot does not restore a and b"
info "ok"
