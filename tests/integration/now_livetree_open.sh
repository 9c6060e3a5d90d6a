#!/bin/bash
# A file kept open for writing across a gc of the mount (`drfs prune
# MNT`, which runs with now/'s live tree: drfs_now_with_live_tree chunks
# every stale staged file, open ones included) must keep what is written
# after it: the bytes written before and after the prune must both reach
# now/, the next snapshot and, after a remount, now/ again. The build
# before the fix left the open file "marked": the write after the prune
# did not make it stale again, the snapshot took the old extents with the
# new size (zeros), and the flush after the close dropped its staging.
source "$(dirname "$0")/lib.sh"
need_root
make_repo
MNT=$T/mnt
drfs init "$REPO" >/dev/null
mount_repo "$MNT"
mkdir "$MNT/now/d"
echo kept >"$MNT/now/d/other"
drfs snapshot "$MNT" >/dev/null || fail "the first snapshot failed"

exec {fd}>"$MNT/now/d/held"
printf 'first half|' >&"$fd"
# the prune runs in the mount (its gc thread), now/'s live tree alive
drfs prune --keep-last 100 "$MNT" >"$T/prune.out" 2>&1 ||
	{ cat "$T/prune.out" >&2; fail "drfs prune MNT failed"; }
printf 'second half, written after the prune' >&"$fd"
exec {fd}>&-
want='first half|second half, written after the prune'
got=$(cat "$MNT/now/d/held")
[ "$got" = "$want" ] || fail "now/ after the prune reads '$got'"
sleep 6 # the flush after the close (5 s idle) has unstaged it
snap=$(drfs snapshot "$MNT") || fail "the snapshot after the prune failed"
got=$(tr '\0' '@' <"$snap/d/held")
[ "$got" = "$want" ] || fail "the snapshot holds '$got', not '$want'"
umount_repo "$MNT"
mount_repo "$MNT"
got=$(tr '\0' '@' <"$MNT/now/d/held")
[ "$got" = "$want" ] || fail "now/ after a remount reads '$got'"
umount_repo "$MNT"
check_repo "after the prune in the mount"
info "a file open across a prune in the mount keeps every write"
