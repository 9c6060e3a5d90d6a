#!/bin/bash
# Directories moved under drfs backup's walk. The walk keeps a descriptor
# only for the root and the deepest 32 directories (docs/architecture.md,
# "Tree walks"); a directory above those is reopened on the way back
# through ".." of the one below and must still be the same directory
# (device, inode), else it is looked up again by name. Each race is made
# exact with fanotify (tests/tools/fanblock.py): the backup's open of a
# file 40 levels below x waits while the test moves directories, then goes
# on.
#  1. x renamed meanwhile: all of x is in the snapshot (under the name it
#     was listed with), no error;
#  2. the levels below x moved out of it: ".." leads to the wrong directory,
#     which is noticed; x is found again by name and the rest of x is in
#     the snapshot, nothing of where ".." led;
#  3. x moved away and another directory made in its place: reported,
#     naming x, exit 3; the entries of x not read yet are left out, and
#     nothing of the other directory is taken for x's.
# The rest of the tree is backed up in every case.
source "$(dirname "$0")/lib.sh"
need_root
make_repo
drfs init "$REPO" >/dev/null

N=40 # levels below x: x's descriptor is closed while the walk is there
chain() {
	local s
	printf -v s '%*s' "$1" ''
	s=${s// /d\/}
	printf '%s' "${s%/}"
}
FB=
trap 'rc=$?; [ -n "$FB" ] && kill "$FB" 2>/dev/null; _lib_cleanup "$rc"' EXIT

# race NAME CMD...: back up $T/NAME (x/<N levels>/f, x/z, zz) while CMD runs
# at the backup's first open of the deepest file; sets RC and FOLDER
race() {
	local name=$1 src=$T/$1
	shift
	mkdir -p "$src/x/$(chain $N)"
	echo deep >"$src/x/$(chain $N)/f"
	echo "x's z" >"$src/x/z"
	echo "top zz" >"$src/zz"
	rm -f "$T/ready" "$T/ready.done"
	python3 "$TOOLS/fanblock.py" "$src/x/$(chain $N)/f" "$T/ready" -- \
		sh -c "cd '$src' && $*" &
	FB=$!
	for _ in $(seq 1 100); do
		[ -e "$T/ready" ] && break
		kill -0 "$FB" 2>/dev/null || fail "$name: fanblock.py exited"
		sleep 0.1
	done
	[ -e "$T/ready" ] || fail "$name: fanblock.py is not ready after 10 s"
	run_nocrash "backup $name" drfs backup "$REPO" "$src"
	kill "$FB"
	wait "$FB" || true
	FB=
	[ "$(cat "$T/ready.done" 2>/dev/null)" = 0 ] ||
		fail "$name: the move did not run while backup read x/.../f"
	FOLDER=$(tail -n 1 "$T/last.out")
	rm -rf "$T/out"
	drfs restore "$REPO" "$FOLDER" "$T/out" -q
}
# has FILE TEXT: the restored FILE holds TEXT
has() {
	[ "$(cat "$T/out/$1" 2>/dev/null)" = "$2" ] ||
		fail "$NAME: restored $1: '$(cat "$T/out/$1" 2>&1)', want '$2'"
}

NAME=renamed
race $NAME 'mv x y'
[ "$RC" = 0 ] || fail "$NAME: backup exit $RC: $(cat "$T/last.err")"
has "x/$(chain $N)/f" deep
has x/z "x's z"
has zz "top zz"
[ ! -e "$T/out/y" ] || fail "$NAME: y (listed after the walk) restored"

NAME=moved-out
race $NAME 'mv x/d moved'
[ "$RC" = 0 ] || fail "$NAME: backup exit $RC: $(cat "$T/last.err")"
has "x/$(chain $N)/f" deep
has x/z "x's z"
has zz "top zz"
[ "$(ls "$T/out/x")" = "$(printf 'd\nz')" ] ||
	fail "$NAME: x holds $(ls "$T/out/x" | tr '\n' ' ')"

NAME=replaced
race $NAME 'mv x/d moved && mv x gone && mkdir x && echo impostor >x/z'
[ "$RC" = 3 ] || fail "$NAME: backup exit $RC, want 3: $(cat "$T/last.err")"
grep -q "\"/x\": moved during the backup" "$T/last.err" ||
	fail "$NAME: not reported: $(cat "$T/last.err")"
has "x/$(chain $N)/f" deep
[ ! -e "$T/out/x/z" ] || fail "$NAME: x/z restored: '$(cat "$T/out/x/z")'"
has zz "top zz"
info "ok: renamed, moved out, replaced"
