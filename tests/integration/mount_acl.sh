#!/bin/bash
# The kernel enforces the POSIX ACLs of backed-up files in a mount shared
# with -o allow_other: a user an ACL entry denies cannot read a file that
# its mode bits alone would let them read, and a user an ACL entry grants
# can read one its mode bits would refuse - in a snapshot and in now/, as
# on the source. (Mode bits alone, the mount's behaviour before it asked
# for FUSE_CAP_POSIX_ACL, let the denied user read.) chmod in now/ keeps
# the ACL's mask in step, as on a local file system.
source "$(dirname "$0")/lib.sh"
need_root
[ -e /dev/fuse ] || skip "no /dev/fuse"
command -v setfacl >/dev/null || skip "setfacl is not installed"
command -v setpriv >/dev/null || skip "setpriv is not installed"
id nobody >/dev/null 2>&1 && id daemon >/dev/null 2>&1 || skip "no users nobody and daemon"
make_repo

as() { # USER CMD... — run CMD as USER, no supplementary groups
	local u=$1
	shift
	setpriv --reuid="$u" --regid="$(id -g "$u")" --clear-groups "$@"
}

# Other users must reach the files: $T may sit in a private directory, so
# the source and the mount point live in a world-traversable one of /tmp.
W=$(mktemp -d /tmp/drfs-mount_acl.XXXXXX)
chmod 755 "$W"
_acl_cleanup() {
	local rc=$?
	mountpoint -q "$W/mnt" 2>/dev/null && { fusermount3 -u -z "$W/mnt" || umount -l "$W/mnt"; }
	rm -rf --one-file-system "$W"
	_lib_cleanup "$rc"
}
trap _acl_cleanup EXIT
mkdir -p "$W/src"
chmod 755 "$W/src"
echo "denied to nobody" >"$W/src/deny"
chmod 644 "$W/src/deny"
setfacl -m u:nobody:--- "$W/src/deny" || skip "no ACL support on $W"
echo "granted to daemon" >"$W/src/grant"
chmod 640 "$W/src/grant"
setfacl -m u:daemon:r-- "$W/src/grant"
# the source itself behaves as expected (else the test proves nothing)
! as nobody cat "$W/src/deny" >/dev/null 2>&1 || fail "source: nobody can read deny"
as daemon cat "$W/src/grant" >/dev/null || fail "source: daemon cannot read grant"

drfs init "$REPO" >/dev/null
drfs backup "$REPO" "$W/src" >/dev/null
MNT=$W/mnt
# now/ starts from the backup (not its own lineage: docs/hosts.md)
mount_repo "$MNT" -o allow_other --no-snapshot-on-unmount --from latest
chmod 755 "$MNT" 2>/dev/null || true
S=$MNT/latest
as nobody cat "$S/deny" >/dev/null 2>"$T/deny.err" &&
	fail "snapshot: nobody read a file its ACL denies them"
grep -q 'Permission denied' "$T/deny.err" || fail "snapshot: not EACCES: $(cat "$T/deny.err")"
as daemon cat "$S/grant" >/dev/null || fail "snapshot: daemon cannot read a file its ACL grants"
as nobody cat "$S/grant" >/dev/null 2>&1 && fail "snapshot: nobody read a 0640 file"

# now/ shows the same tree and enforces the same
as nobody cat "$MNT/now/deny" >/dev/null 2>&1 && fail "now/: nobody read deny"
as daemon cat "$MNT/now/grant" >/dev/null || fail "now/: daemon cannot read grant"
# chmod narrows the mask, as on ext4: the named entry loses read
chmod 600 "$MNT/now/grant"
getfacl -p "$MNT/now/grant" 2>/dev/null | grep -q '^mask::---' ||
	fail "now/: chmod 600 did not narrow the ACL mask: $(getfacl -p "$MNT/now/grant")"
as daemon cat "$MNT/now/grant" >/dev/null 2>&1 && fail "now/: daemon reads after chmod 600"
umount_repo "$MNT"
info "ok"
