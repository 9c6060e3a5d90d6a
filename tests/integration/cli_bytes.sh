#!/usr/bin/env bash
# cli_bytes: sizes printed for people are binary units ("3.1 MiB"); the
# global --bytes (before or after the command) prints exact byte counts
# instead ("3234567 B"), the same numbers --json has: backup, snapshots,
# stats, drill, copy, prune (its summary and its live-bytes line).
. "$(dirname "$0")/lib.sh"

make_repo
drfs init "$REPO" >/dev/null 2>&1 || fail "init failed"
S=$T/src
mkdir -p "$S"
head -c 1234567 /dev/urandom >"$S/a"
head -c 2000000 /dev/zero >"$S/z" # 3234567 bytes in all: 3.1 MiB

# want WHAT FILE REGEX — a line of FILE matches REGEX
want() {
	grep -aqE -- "$3" "$2" || { cat "$2" >&2; fail "$1: no line /$3/"; }
}
# jget CMD... -- EXPR — EXPR of the JSON document drfs CMD... --json prints
jget() {
	local args=()
	while [ "$1" != -- ]; do args+=("$1"); shift; done
	drfs "${args[@]}" --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$2"
}

drfs backup "$REPO" "$S" >"$T/b1.out" 2>&1 || fail "backup failed"
want backup "$T/b1.out" '^snapshot [0-9a-f]{8}: 2 files, 1 dirs, 3\.1 MiB, 1\.[0-9] MiB added'
drfs backup "$REPO" "$S" --bytes >"$T/b2.out" 2>&1 || fail "backup --bytes failed"
want "backup --bytes" "$T/b2.out" '^snapshot [0-9a-f]{8}: 2 files, 1 dirs, 3234567 B, 0 B added'

added=$(jget snapshots "$REPO" -- 'd[0]["added_bytes"]')
[ "$added" -gt 1234567 ] || fail "the first snapshot added $added bytes"
drfs snapshots "$REPO" >"$T/s1.out" || fail "snapshots failed"
want snapshots "$T/s1.out" ' 3\.1 MiB +1\.[0-9] MiB '
"$DRFS" --bytes snapshots "$REPO" --cache-dir "$CACHE" >"$T/s2.out" || fail "--bytes snapshots failed"
want "--bytes snapshots" "$T/s2.out" " 3234567 B +$added B "
want "--bytes snapshots" "$T/s2.out" ' 3234567 B +0 B '

repo_b=$(jget stats "$REPO" -- 'd["repo_bytes"]')
drfs stats "$REPO" >"$T/st1.out" || fail "stats failed"
want stats "$T/st1.out" '^logical size: +6\.2 MiB'
drfs stats "$REPO" --bytes >"$T/st2.out" || fail "stats --bytes failed"
want "stats --bytes" "$T/st2.out" '^logical size: +6469134 B'
want "stats --bytes" "$T/st2.out" "^repository size: +$repo_b B\$"

drfs drill "$REPO" >"$T/d1.out" 2>&1 || fail "drill failed"
want drill "$T/d1.out" '^verified: +2 of 2 files, 3\.1 MiB$'
drfs drill "$REPO" --bytes >"$T/d2.out" 2>&1 || fail "drill --bytes failed"
want "drill --bytes" "$T/d2.out" '^verified: +2 of 2 files, 3234567 B$'

# two more repositories beside the first, each copied to once
case $REPO in
s3://*) REPO2="s3://drfs-test-$(_rand_lower 12)/" REPO3="s3://drfs-test-$(_rand_lower 12)/" ;;
*) REPO2=$T/repo2 REPO3=$T/repo3 ;;
esac
"$DRFS" init "$REPO2" --cache-dir "$T/c2" >/dev/null 2>&1 || fail "init of $REPO2 failed"
"$DRFS" init "$REPO3" --cache-dir "$T/c3" >/dev/null 2>&1 || fail "init of $REPO3 failed"
drfs copy "$REPO" "$REPO2" >"$T/c1.out" 2>&1 || fail "copy failed"
want copy "$T/c1.out" '^copied 2 snapshot\(s\), 0 already there; [0-9]+ new blobs, 1\.[0-9] MiB stored, 3\.1 MiB read'
# its own cache (the destination's is CACHE-DIR.dst)
"$DRFS" copy "$REPO" "$REPO3" --bytes --cache-dir "$T/cc" >"$T/c2.out" 2>&1 ||
	{ cat "$T/c2.out" >&2; fail "copy --bytes failed"; }
want "copy --bytes" "$T/c2.out" '^copied 2 snapshot\(s\), 0 already there; [0-9]+ new blobs, [0-9]{7} B stored, [0-9]{7} B read'

head -c 300000 /dev/urandom >"$S/a"
drfs backup "$REPO" "$S" -q >/dev/null || fail "third backup failed"
drfs prune "$REPO" --keep-last 1 --dry-run >"$T/p1.out" 2>&1 || fail "prune --dry-run failed"
want prune "$T/p1.out" 'live [0-9]+ blob\(s\), [0-9.]+ [KM]iB$'
want prune "$T/p1.out" '^dry run: .*; pack bytes 1\.[0-9] MiB -> [0-9.]+ KiB$'
drfs prune "$REPO" --keep-last 1 --bytes >"$T/p2.out" 2>&1 || fail "prune --bytes failed"
want "prune --bytes" "$T/p2.out" 'live [0-9]+ blob\(s\), [0-9]+ B$'
want "prune --bytes" "$T/p2.out" '; pack bytes [0-9]+ B -> [0-9]+ B$'
after=$(grep -aoE 'pack bytes [0-9]+ B -> [0-9]+ B$' "$T/p2.out" | sed 's/.*-> //; s/ B$//')
[ "$after" = "$(jget stats "$REPO" -- 'd["pack_bytes"]')" ] ||
	fail "prune --bytes says $after pack bytes are left, stats --json $(jget stats "$REPO" -- 'd["pack_bytes"]')"
info "ok"
