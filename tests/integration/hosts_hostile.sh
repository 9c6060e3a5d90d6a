#!/bin/bash
# Hosts, paths and tags are bytes from the repository (docs/hosts.md): any
# host sharing it writes them, and a backed-up directory's name can hold
# any byte but "/" and NUL. What drfs prints of them must not drive the
# terminal or forge lines, and --json must stay valid JSON:
# - a backup of a directory whose name holds an escape sequence, a
#   newline, a carriage return, a bidi override, a byte that is not UTF-8
#   (Latin-1 "é") and real UTF-8, tagged with an escape sequence;
# - `snapshots` prints one line per snapshot, no control byte, the UTF-8
#   as it is and the others as \xHH (before: raw, so the name's newline
#   forged a second snapshot line and ESC reached the terminal);
# - `snapshots --json` parses as strict UTF-8 JSON and gives the path back
#   (the Latin-1 byte as U+FFFD; before: the raw byte made it invalid);
# - prune --dry-run and forget --keep-* --dry-run name the group without
#   control bytes; `restore latest --host` with no such host lists the
#   hosts without control bytes.
source "$(dirname "$0")/lib.sh"
make_repo
drfs init "$REPO" >/dev/null

name=$'evil\e]0;owned\a\e[2J\n2026-01-01/000000 deadbeef  1 1 B  forged:/x\r\xe2\x80\xaecaf\xe9 caf\xc3\xa9'
dir="$T/$name"
mkdir -p "$dir"
echo data >"$dir/file"
drfs backup "$REPO" "$dir" --tag $'t\e[31m' --time 2026-07-01T00:00:00Z \
	-q >/dev/null
drfs backup "$REPO" "$dir" --tag $'t\e[31m' --time 2026-07-02T00:00:00Z \
	-q >/dev/null

# no_controls WHAT FILE: FILE has no byte < 0x20 but newline, no DEL, no C1
# or bidi control encoded in UTF-8, and (it is text) valid UTF-8
no_controls() {
	python3 - "$1" "$2" <<'PY' || fail "$1: $(od -c "$2" | head -n 20)"
import re, sys
what, path = sys.argv[1], sys.argv[2]
b = open(path, 'rb').read()
bad = re.search(rb'[\x00-\x09\x0b-\x1f\x7f]', b)
if bad:
    sys.exit(f'{what}: control byte {bad.group()!r} at {bad.start()}')
t = b.decode('utf-8')  # raises on invalid UTF-8
bad = re.search('[\x80-\x9f\u202a-\u202e\u2066-\u2069]', t)
if bad:
    sys.exit(f'{what}: control character {bad.group()!r}')
PY
}

"$DRFS" snapshots "$REPO" --cache-dir "$CACHE" >"$T/list"
no_controls "snapshots" "$T/list"
[ "$(wc -l <"$T/list")" = 3 ] ||
	fail "snapshots: $(wc -l <"$T/list") lines for 2 snapshots: $(cat -v "$T/list")"
grep -q 'caf\\xe9 café$' "$T/list" ||
	fail "snapshots does not show the Latin-1 byte as \\xe9 and the UTF-8 as it is: $(cat -v "$T/list")"

"$DRFS" snapshots "$REPO" --cache-dir "$CACHE" --json >"$T/json"
python3 - "$T/json" "$dir" "$(hostname)" <<'PY' || fail "snapshots --json: $(cat -v "$T/json")"
import json, os, sys
v = json.loads(open(sys.argv[1], 'rb').read().decode('utf-8'))
want = os.fsencode(os.path.realpath(sys.argv[2])).decode('utf-8', 'replace')
assert len(v) == 2, v
for s in v:
    assert s['path'] == want, (s['path'], want)
    assert s['tags'] == ['t\x1b[31m'], s['tags']
PY

run_nocrash "prune --dry-run" "$DRFS" prune "$REPO" --cache-dir "$CACHE" \
	--keep-last 1 --group-by host,paths,tags --dry-run
[ "$RC" = 0 ] || fail "prune --dry-run: exit $RC: $(cat "$T/last.err")"
no_controls "prune --dry-run" "$T/last.out"
[ "$(grep -c '^snapshots of host' "$T/last.out")" = 1 ] &&
	[ "$(wc -l <"$T/last.out")" = 3 ] ||
	fail "prune --dry-run: $(cat -v "$T/last.out")"
run_nocrash "forget --keep-last 1 --dry-run" "$DRFS" forget "$REPO" \
	--cache-dir "$CACHE" --keep-last 1 --dry-run
[ "$RC" = 0 ] || fail "forget --dry-run: exit $RC: $(cat "$T/last.err")"
no_controls "forget --dry-run" "$T/last.out"
[ "$(wc -l <"$T/last.out")" = 3 ] || fail "forget --dry-run: $(cat -v "$T/last.out")"

expect_clean_failure "restore latest of an unknown host" \
	"$DRFS" restore "$REPO" latest "$T/r" --cache-dir "$CACHE" --host nobody
no_controls "restore latest --host nobody" "$T/last.err"
info "ok"
