#!/usr/bin/env bash
# cli_restore_filter: restore --include / --exclude PATTERN (backup's
# pattern syntax, paths from the snapshot's root). --exclude leaves out the
# matches and everything below them; --include restores only the matches,
# everything below a matching directory and the directories on the way
# (one made on the way that stays empty is removed again; one already in
# DIR keeps its metadata); both together; and --dry-run's plan lists the
# same entries.
. "$(dirname "$0")/lib.sh"

make_repo
drfs init "$REPO" >/dev/null 2>&1 || fail "init failed"
S=$T/src
mkdir -p "$S/docs/sub" "$S/src" "$S/empty"
echo a >"$S/docs/a.txt"
echo b >"$S/docs/b.md"
echo c >"$S/docs/sub/c.txt"
echo m >"$S/src/main.c"
echo o >"$S/src/x.o"
echo t >"$S/top.txt"
chmod 0755 "$S/src"
drfs backup "$REPO" "$S" -q >/dev/null || fail "backup failed"

listing() { (cd "$1" && find . -mindepth 1 | sed 's|^\./||' | sort); }
# restore_is NAME ARGS... — restore into $T/NAME with ARGS; the listing
# must be the lines on stdin
restore_into() {
	local name=$1
	shift
	run_nocrash "restore $*" drfs restore "$REPO" latest "$T/$name" "$@"
	[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "restore $*: exit $RC"; }
	listing "$T/$name" >"$T/got"
	diff "$T/want" "$T/got" >&2 || fail "restore $*: wrong entries"
}

printf '%s\n' docs docs/a.txt docs/sub docs/sub/c.txt top.txt >"$T/want"
restore_into inc1 --include '*.txt'
info "--include '*.txt': the .txt files and their directories, no empty ones"

printf '%s\n' src src/main.c src/x.o >"$T/want"
restore_into inc2 --include /src
[ "$(stat -c %a "$T/inc2/src")" = 755 ] || fail "--include /src: its mode not restored"

printf '%s\n' docs docs/a.txt docs/b.md empty src src/main.c top.txt >"$T/want"
restore_into exc1 --exclude '*.o' --exclude /docs/sub
info "--exclude: the matches and their subtrees left out"

printf '%s\n' docs docs/a.txt docs/sub docs/sub/c.txt >"$T/want"
restore_into both --include /docs --exclude '*.md'

# a directory on the way that is already there: kept, with its own mode
mkdir -p "$T/pre/src"
chmod 0700 "$T/pre/src"
echo mine >"$T/pre/src/mine"
printf '%s\n' docs docs/a.txt docs/sub docs/sub/c.txt src src/mine top.txt >"$T/want"
restore_into pre --include '*.txt'
[ "$(stat -c %a "$T/pre/src")" = 700 ] ||
	fail "a directory on the way, already in DIR, got the snapshot's mode"
info "--include: a directory already in DIR keeps its metadata"

# the dry run plans the same entries (directories on the way: no line)
run_nocrash "restore --dry-run --include" drfs restore "$REPO" latest "$T/dry" \
	--dry-run --include '*.txt' --exclude /docs/sub
[ "$RC" = 0 ] && [ ! -e "$T/dry" ] || fail "restore --dry-run --include: exit $RC or DIR made"
sed '$d' "$T/last.out" | sort >"$T/got"
printf '%s\n' "create    docs/a.txt" "create    top.txt" >"$T/want"
diff "$T/want" "$T/got" >&2 || fail "restore --dry-run --include: wrong plan"

# a pattern that is not one: refused before anything runs
run_nocrash "restore --include /" drfs restore "$REPO" latest "$T/bad" --include /
[ "$RC" = 2 ] && [ ! -e "$T/bad" ] || fail "--include /: exit $RC, want 2 and nothing made"
info "ok"
