#!/bin/bash
# A mount whose cache directory gets only a few pages of disk: the index
# cannot keep its space reserve, so the daemon must not write LMDB pages
# through its map (MDB_WRITEMAP: a page the disk cannot hold is a SIGBUS
# that kills the daemon, not an error). Metadata operations in now/ fail
# with ENOSPC, the daemon keeps serving, and once space is freed they
# work again and a snapshot and a clean unmount follow.
source "$(dirname "$0")/lib.sh"
need_root
make_repo
mkdir -p "$T/cfs"
mount -t tmpfs -o "size=16m,mode=0700" drfs-test "$T/cfs" ||
	skip "cannot mount a tmpfs"
drfs init "$REPO" >/dev/null
echo first >"$T/first"
MNT=$T/mnt
# leave 256 KiB: the lock file (64 KiB), two meta pages and a few more
dd if=/dev/zero of="$T/cfs/spare" bs=64K count=4 status=none
dd if=/dev/zero of="$T/cfs/fill" bs=64K status=none 2>/dev/null || true
rm "$T/cfs/spare"
CACHE=$T/cfs/cache mount_repo "$MNT"
pid=$(daemon_pid "$MNT")
cp "$T/first" "$MNT/now/first"
n=0
while [ "$n" -lt 20000 ]; do
	mkdir "$MNT/now/d$n" 2>"$T/mkdir.err" || break
	n=$((n + 1))
done
kill -0 "$pid" 2>/dev/null ||
	fail "the daemon died on a full cache disk after $n mkdirs"
[ "$n" -lt 20000 ] || fail "20000 directories fit into 256 KiB of cache disk"
grep -q 'No space left' "$T/mkdir.err" ||
	fail "mkdir on a full cache disk: not ENOSPC: $(cat "$T/mkdir.err")"
info "ENOSPC after $n directories, the daemon still serves"
stat "$MNT/now/first" >/dev/null || fail "now/ no longer answers"
rm -f "$T/cfs/fill"
mkdir "$MNT/now/after" || fail "mkdir after freeing space failed"
snap=$(drfs snapshot "$MNT") || fail "snapshot after freeing space failed"
cmp "$T/first" "$snap/first" || fail "the snapshot lost first"
[ -d "$snap/after" ] && [ -d "$snap/d0" ] ||
	fail "the snapshot lacks the directories made"
umount_repo "$MNT"
info "ok"
