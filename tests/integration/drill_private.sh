#!/bin/bash
# What a drill restores stays private while it runs. The snapshot of a
# directory such as ~/Documents has a root of mode 0755 and files of 0644,
# kept from other users on the source machine by the 0700 directory above
# it. The drill restores into a scratch directory in /tmp and gives the
# restored root the snapshot root's metadata; that scratch directory must
# still keep other users out. (Before, the restored root was the mkdtemp
# directory itself: chmod 0755 opened every file of the snapshot to all
# local users until the drill ended.)
# The drill is held in its verification (strace holds its first lgetxattr,
# lib.sh hold) while user nobody tries to read a restored file.
source "$(dirname "$0")/lib.sh"
need_root
command -v setpriv >/dev/null || skip "setpriv is not installed"
id nobody >/dev/null 2>&1 || skip "no user nobody"
command -v setfattr >/dev/null || skip "setfattr is not installed"
make_repo
as_nobody() {
	setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups "$@"
}

# the scratch parent must be reachable by nobody, as /tmp is
W=$(mktemp -d /tmp/drfs-drill_private.XXXXXX)
chmod 755 "$W"
_dp_cleanup() {
	local rc=$?
	rm -rf --one-file-system "$W"
	_lib_cleanup "$rc"
}
trap _dp_cleanup EXIT
export DRFS_DRILL_DIR=$W

mkdir -m 0755 "$T/Documents"
echo "private letter" >"$T/Documents/letter.txt"
chmod 0644 "$T/Documents/letter.txt"
setfattr -n user.tag -v 1 "$T/Documents/letter.txt" 2>/dev/null ||
	skip "no user extended attributes on $T"
drfs init "$REPO" >/dev/null
drfs backup "$REPO" "$T/Documents" -q >/dev/null

hold lgetxattr "$DRFS" drill "$REPO" --cache-dir "$CACHE"
seen=0 leaked=()
for f in "$W"/drfs-drill.*/letter.txt "$W"/drfs-drill.*/*/letter.txt; do
	[ -f "$f" ] || continue
	seen=$((seen + 1))
	modes=$(stat -c '%n %a' "$W"/drfs-drill.* "$(dirname "$f")")
	if as_nobody cat "$f" >/dev/null 2>&1; then
		leaked+=("$f")
	fi
done
hold_wait "drill"
[ "$seen" = 1 ] || fail "the restored letter.txt was not found during the drill ($seen)"
[ ${#leaked[@]} = 0 ] ||
	fail "user nobody read ${leaked[*]} during the drill (modes: $(echo $modes))"
[ "$RC" = 0 ] || { cat "$T/last.out" "$T/last.err" >&2; fail "drill: exit $RC"; }
grep -q '^verified: *1 of 1 files' "$T/last.out" ||
	{ cat "$T/last.out" >&2; fail "drill did not verify the file"; }
[ -z "$(ls -A "$W")" ] || fail "the drill left $(ls -A "$W") behind"
info "ok: nobody could not read the restored file during the drill"
