#!/usr/bin/env bash
# cli_dry_run: backup --dry-run and restore --dry-run change nothing — not
# one object of the repository (names and bytes), not the cache's files,
# not the restore target (names, kinds, modes, sizes, mtimes, contents,
# symlink targets) — and say what a real run would do: backup the files,
# bytes and new bytes (which the real backup then matches), restore one
# line per entry it would create, overwrite, replace, keep or link, under
# each --overwrite mode, with conflicts named (exit 3) as in a real run.
. "$(dirname "$0")/lib.sh"

make_repo
drfs init "$REPO" >/dev/null 2>&1 || fail "init failed"
mkdir -p "$T/src/sub/deep"
head -c 300000 /dev/urandom >"$T/src/a"
echo bee >"$T/src/b"
echo deep >"$T/src/sub/deep/c"
ln -s b "$T/src/lnk"
ln "$T/src/b" "$T/src/hl"
drfs backup "$REPO" "$T/src" -q >/dev/null || fail "first backup failed"

# every object of the repository with its bytes' hash
repo_state() {
	local n
	obj_names "" | while read -r n; do
		obj_get "$n" "$T/.obj"
		printf '%s %s\n' "$n" "$(sha256sum <"$T/.obj" | cut -c1-64)"
	done
	rm -f "$T/.obj"
}
# the cache directory's file names (LMDB's own files change in place)
cache_state() { (cd "$CACHE" && find . ! -name '*.lock' | sort); }
# a directory: every entry's kind, mode, size, mtime, symlink target, hash
tree_state() {
	[ -e "$1" ] || { echo absent; return; }
	(cd "$1" && find . -printf '%p %y %m %s %T@ %l\n' | sort &&
		find . -type f -exec sha256sum {} + | sort)
}
# unchanged BEFORE AFTER WHAT — the states numbered BEFORE (saved) and
# AFTER (taken now) of the repository and the cache are the same
unchanged() {
	repo_state >"$T/repo.$2"
	cache_state >"$T/cache.$2"
	cmp -s "$T/repo.$1" "$T/repo.$2" ||
		{ diff "$T/repo.$1" "$T/repo.$2" >&2 || true; fail "$3 changed the repository"; }
	cmp -s "$T/cache.$1" "$T/cache.$2" ||
		{ diff "$T/cache.$1" "$T/cache.$2" >&2 || true; fail "$3 changed the cache's files"; }
}
nsnap() { drfs snapshots "$REPO" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }

# ---- backup --dry-run ----------------------------------------------------
head -c 1048576 /dev/urandom >"$T/src/new"
repo_state >"$T/repo.0"
cache_state >"$T/cache.0"
run_nocrash "backup --dry-run" drfs backup "$REPO" "$T/src" --dry-run
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "backup --dry-run: exit $RC"; }
cp "$T/last.out" "$T/dry.out"
unchanged 0 1 "backup --dry-run"
[ "$(nsnap)" = 1 ] || fail "backup --dry-run wrote a snapshot"
line=$(cat "$T/dry.out")
info "dry run said: $line"
[[ $line =~ ^dry\ run:\ would\ store\ 5\ files,\ 3\ dirs,\ .*new\ to\ the\ repository:\ ([0-9.]+)\ (B|KiB|MiB)\ in\ ([0-9]+)\ blobs ]] ||
	fail "backup --dry-run: unexpected summary \"$line\""
new=${BASH_REMATCH[1]} unit=${BASH_REMATCH[2]}
# the 1 MiB file is new, the rest is not: 1.0 MiB (and a few trees)
[ "$unit" = MiB ] && [ "${new%.*}" = 1 ] ||
	fail "backup --dry-run: new bytes \"$new $unit\", want the new file's 1.0 MiB"

# the real backup stores what the dry run said
drfs backup "$REPO" "$T/src" -q >/dev/null || fail "second backup failed"
drfs snapshots "$REPO" --json | python3 -c '
import json, sys
s = json.load(sys.stdin)[-1]
assert s["files"] == 5 and s["dirs"] == 3, s
assert s["bytes"] == 300000 + 4 + 5 + 4 + 1048576, s["bytes"]' ||
	fail "the real backup differs from what the dry run said"
# nothing new now; and --skip-if-unchanged would write nothing
run_nocrash "backup --dry-run (unchanged)" drfs backup "$REPO" "$T/src" --dry-run
grep -q "new to the repository: 0 B in 0 blobs" "$T/last.out" ||
	fail "dry run of an unchanged directory: $(cat "$T/last.out")"
run_nocrash "backup --dry-run --skip-if-unchanged" drfs backup "$REPO" "$T/src" \
	--dry-run --skip-if-unchanged
[ "$RC" = 0 ] && grep -q "no snapshot would be written" "$T/last.err" ||
	{ cat "$T/last.err" >&2; fail "dry run with --skip-if-unchanged"; }
[ "$(nsnap)" = 2 ] || fail "a dry run wrote a snapshot"
info "backup --dry-run: repository and cache unchanged, numbers right"

# ---- restore --dry-run -------------------------------------------------------
repo_state >"$T/repo.2"
cache_state >"$T/cache.2"
# into a directory that does not exist: not created
run_nocrash "restore --dry-run (absent)" drfs restore "$REPO" latest "$T/absent" --dry-run
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "restore --dry-run: exit $RC"; }
[ ! -e "$T/absent" ] || fail "restore --dry-run created the target"
sed '$d' "$T/last.out" | sort >"$T/plan"
cat >"$T/want" <<'EOF'
create    a
create    b
create    lnk
create    new
create    sub/
create    sub/deep/
create    sub/deep/c
link      hl
EOF
diff "$T/want" "$T/plan" >&2 || fail "restore --dry-run into a new directory: wrong plan"
grep -q "^dry run: would write 4 files" "$T/last.out" ||
	fail "restore --dry-run summary: $(tail -1 "$T/last.out")"

# into a directory with changes: a file edited, a file gone, a directory
# where the snapshot has a file (a conflict), a file where it has a symlink
mkdir -p "$T/dst"
cp -a "$T/src/." "$T/dst/"
echo edited >"$T/dst/b"
rm "$T/dst/new"
rm "$T/dst/a" && mkdir "$T/dst/a" && echo mine >"$T/dst/a/keepme"
rm "$T/dst/lnk" && echo notalink >"$T/dst/lnk"
touch -d '2001-01-01' "$T/dst/sub/deep/c"
tree_state "$T/dst" >"$T/dst.0"
plan() { # MODE: the plan's lines (sorted), the run's exit status in RC
	run_nocrash "restore --dry-run --overwrite $1" drfs restore "$REPO" latest \
		"$T/dst" --dry-run --overwrite "$1"
	sed '$d' "$T/last.out" | sort >"$T/plan"
	tree_state "$T/dst" >"$T/dst.1"
	cmp -s "$T/dst.0" "$T/dst.1" ||
		{ diff "$T/dst.0" "$T/dst.1" >&2 || true; fail "restore --dry-run --overwrite $1 changed the target"; }
	[ "$RC" = 3 ] || { cat "$T/last.err" >&2; fail "--overwrite $1: exit $RC, want 3 (a conflict)"; }
	grep -q '"'"$T"'/dst/a": a directory is in the way of a file' "$T/last.err" ||
		{ cat "$T/last.err" >&2; fail "--overwrite $1: the conflict is not named"; }
}
# --overwrite always: a file in the way of a symlink is a conflict too
plan always
grep -q '"'"$T"'/dst/lnk": a file is in the way of a symlink' "$T/last.err" ||
	{ cat "$T/last.err" >&2; fail "--overwrite always: file in the way of a symlink not named"; }
printf '%s\n' "create    new" "link      hl" "overwrite b" "overwrite sub/deep/c" |
	sort >"$T/want"
diff "$T/want" "$T/plan" >&2 || fail "--overwrite always: wrong plan"
plan replace
printf '%s\n' "create    new" "link      hl" "overwrite b" "overwrite sub/deep/c" \
	"replace   lnk" | sort >"$T/want"
diff "$T/want" "$T/plan" >&2 || fail "--overwrite replace: wrong plan"
plan if-changed
printf '%s\n' "create    new" "link      hl" "overwrite b" "keep      sub/deep/c" |
	sort >"$T/want"
diff "$T/want" "$T/plan" >&2 || fail "--overwrite if-changed: wrong plan"
plan if-newer
printf '%s\n' "create    new" "keep      b" "keep      hl" "overwrite sub/deep/c" |
	sort >"$T/want"
diff "$T/want" "$T/plan" >&2 || fail "--overwrite if-newer: wrong plan"
plan never
printf '%s\n' "create    new" "keep      b" "keep      hl" "keep      sub/deep/c" |
	sort >"$T/want"
diff "$T/want" "$T/plan" >&2 || fail "--overwrite never: wrong plan"

unchanged 2 3 "restore --dry-run"

# the real restore (--overwrite replace) does what its dry run said
run_nocrash "restore --overwrite replace" drfs restore "$REPO" latest "$T/dst" \
	--overwrite replace
[ "$RC" = 3 ] || fail "the real restore: exit $RC, want 3 (the conflict)"
[ "$(readlink "$T/dst/lnk")" = b ] && cmp -s "$T/src/new" "$T/dst/new" &&
	cmp -s "$T/src/b" "$T/dst/b" && [ -f "$T/dst/a/keepme" ] ||
	fail "the real restore did not do what its dry run said"
info "restore --dry-run: target, repository and cache unchanged; the plan of each mode right"
info "ok"
