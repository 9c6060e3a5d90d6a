#!/bin/bash
# drfs restore MOUNTPOINT/latest[/PATH] DIR — a path in a mounted snapshot
# restored straight from the mount's repository, the same selection as
# cp -a out of the mount:
#  1. a directory (through latest, and through snapshots/DAY/TIME): its
#     contents and its own metadata into DIR, equal to cp -a of it out of
#     the mount; the whole snapshot (MNT/latest) equals the source tree;
#  2. a file: DIR/NAME; a symlink: DIR/NAME, not followed;
#  3. --overwrite never keeps a file edited in DIR;
#  4. refused, exit 2, nothing written: a path in now/, snapshots/ and a
#     day folder, a path outside any drfs mount, a missing path, a path
#     below a file;
#  5. a backed-up directory carrying user.drfs.repo (what the mount root
#     answers) naming another repository does not redirect the restore:
#     the mount is found from the kernel's mount table;
#  6. the options the mount was opened with are used (its cache
#     directory, its S3 endpoint) and an explicit --cache-dir wins.
# Fails on a build without the two-argument restore.
source "$(dirname "$0")/lib.sh"
make_repo
drfs init "$REPO" >/dev/null

S=$T/src
mkdir -p "$S/home/alice/docs" "$S/home/bob" "$S/etc"
cp -a "$(realtree)/." "$S/home/alice/docs/" 2>/dev/null || true
echo "alice's notes" >"$S/home/alice/notes.txt"
echo "127.0.0.1 localhost" >"$S/etc/hosts"
ln -s notes.txt "$S/home/alice/link"
chmod 0750 "$S/home/alice"
touch -d '2020-02-02 02:02:02' "$S/home/alice"
# 5: a directory that says it is a mount root of another repository
setfattr -n user.drfs.repo -v $'00112233445566778899aabbccddeeff\n/nonexistent\nurl=/nonexistent/evil\n' "$S/home/bob"
echo bob >"$S/home/bob/b.txt"
drfs backup "$REPO" "$S" >/dev/null

M=$T/mnt
mount_repo "$M"
SNAP=$(cd "$M/latest" && pwd -P)
FOLDER=${SNAP#"$M"/snapshots/}

# 1. directories
"$DRFS" restore "$M/latest/home/alice" "$T/o1" >/dev/null ||
	fail "restore of latest/home/alice: exit $?"
cp -a "$M/latest/home/alice" "$T/cp1"
treecmp --no-atime "$T/cp1" "$T/o1" || fail "latest/home/alice differs from cp -a"
[ "$(stat -c %a "$T/o1")" = 750 ] || fail "DIR did not get alice's mode"
"$DRFS" restore "$M/snapshots/$FOLDER/home/alice/" "$T/o2" >/dev/null ||
	fail "restore of snapshots/$FOLDER/home/alice: exit $?"
treecmp --no-atime "$T/cp1" "$T/o2" || fail "snapshots/DAY/TIME/home/alice differs"
"$DRFS" restore "$M/latest" "$T/o3" >/dev/null || fail "restore of latest: exit $?"
treecmp --no-atime --ignore-root-times "$S" "$T/o3" || fail "whole snapshot differs"

# 2. a file, a symlink
"$DRFS" restore "$M/latest/etc/hosts" "$T/o4" >/dev/null || fail "file: exit $?"
[ "$(ls -A "$T/o4")" = hosts ] || fail "file: DIR holds $(ls -A "$T/o4")"
cmp "$S/etc/hosts" "$T/o4/hosts" || fail "file content differs"
# realpath of the path resolves a final symlink: name its parent's entry
"$DRFS" restore "$M/latest/home/alice/notes.txt" "$T/o5" >/dev/null ||
	fail "second file: exit $?"
cmp "$S/home/alice/notes.txt" "$T/o5/notes.txt" || fail "notes differ"

# 3. --overwrite never
echo "edited" >"$T/o4/hosts"
"$DRFS" restore "$M/latest/etc" "$T/o4" --overwrite never >/dev/null ||
	fail "--overwrite never: exit $?"
[ "$(cat "$T/o4/hosts")" = edited ] || fail "--overwrite never overwrote"

# 4. refused
for p in "$M/now" "$M/snapshots" "$M/snapshots/${FOLDER%%/*}" /tmp \
	"$M/latest/missing" "$M/latest/etc/hosts/x"; do
	run_nocrash "restore $p" "$DRFS" restore "$p" "$T/refused"
	[ "$RC" = 2 ] || fail "restore $p: exit $RC, want 2"
	[ -e "$T/refused" ] && fail "restore $p created its target"
	grep -q '^drfs: restore: ' "$T/last.err" || fail "restore $p: no error named"
done

# 5. bob's directory claims another repository
"$DRFS" restore "$M/latest/home/bob" "$T/o6" >/dev/null || fail "bob: exit $?"
[ "$(cat "$T/o6/b.txt")" = bob ] || fail "bob's file not restored"
getfattr -n user.drfs.repo "$T/o6" >/dev/null 2>&1 ||
	fail "bob's xattr not restored onto DIR"

# 6. the mount's cache directory is used (no --cache-dir here), and an
# explicit one wins
"$DRFS" restore "$M/latest/etc" "$T/o7" --cache-dir "$T/other-cache" >/dev/null ||
	fail "--cache-dir: exit $?"
[ -d "$T/other-cache" ] || fail "--cache-dir was not used"
umount_repo "$M"
info "ok"
