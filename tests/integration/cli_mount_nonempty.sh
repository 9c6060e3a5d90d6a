#!/usr/bin/env bash
# cli_mount_nonempty: drfs mount over a directory that is not empty is
# refused (exit 1, saying so; nothing mounted, the files still there)
# unless -o nonempty, which mounts over it (libfuse 3 has no such option:
# drfs takes it out); after the unmount the files are there again.
. "$(dirname "$0")/lib.sh"
fuse_ok || skip "needs root and FUSE"

make_repo
drfs init "$REPO" >/dev/null 2>&1 || fail "init failed"
mkdir -p "$T/mnt"
echo mine >"$T/mnt/precious"

run_nocrash "mount over a non-empty directory" "$DRFS" mount "$REPO" "$T/mnt" --cache-dir "$CACHE"
[ "$RC" = 1 ] || { cat "$T/last.err" >&2; fail "mount over a non-empty directory: exit $RC, want 1"; }
grep -q "is not empty.*-o nonempty" "$T/last.err" ||
	{ cat "$T/last.err" >&2; fail "the refusal does not say why and how"; }
! mountpoint -q "$T/mnt" || fail "mounted over a non-empty directory"
[ "$(cat "$T/mnt/precious")" = mine ] || fail "the directory's file is gone"
info "a non-empty mountpoint refused"

# a hidden entry counts too
rm "$T/mnt/precious"
: >"$T/mnt/.hidden"
run_nocrash "mount over a dot file" "$DRFS" mount "$REPO" "$T/mnt" --cache-dir "$CACHE"
[ "$RC" = 1 ] && ! mountpoint -q "$T/mnt" || fail "mounted over a directory with a dot file"
rm "$T/mnt/.hidden"
echo mine >"$T/mnt/precious"

mount_repo "$T/mnt" -o nonempty
[ ! -e "$T/mnt/precious" ] && [ -d "$T/mnt/now" ] || fail "-o nonempty: not mounted over the directory"
umount_repo "$T/mnt"
[ "$(cat "$T/mnt/precious")" = mine ] || fail "after the unmount the file is not back"
mount_repo "$T/mnt" -o allow_other,nonempty
[ -d "$T/mnt/snapshots" ] || fail "-o allow_other,nonempty: not mounted"
umount_repo "$T/mnt"
info "-o nonempty mounts over it; the files are back after umount"

# an empty directory needs nothing
rm "$T/mnt/precious"
mount_repo "$T/mnt"
umount_repo "$T/mnt"
info "ok"
