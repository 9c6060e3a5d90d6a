#!/usr/bin/env bash
# cli_json: every command that takes --json prints one JSON document on
# stdout that parses and matches the schema docs/json.md documents for it
# (read from its tables here: each field there, of its type, and no field
# that is not there); a command that does not report refuses --json.
. "$(dirname "$0")/lib.sh"

make_repo
json_init() {
	python3 -c 'import json,re,sys; d=json.load(open(sys.argv[1])); assert re.fullmatch("[0-9a-f]{32}", d["repo_id"]) and d["repo"] == sys.argv[2] and d["encrypted"], d' \
		"$T/last.out" "$REPO" || fail "init --json: wrong values"
}
S=$T/src
mkdir -p "$S/d"
head -c 200000 /dev/urandom >"$S/a"
printf 'caf\xe9 latin-1\n' >"$S/b"
printf 'x' >"$S/$(printf 'bad\xffname')"
echo c >"$S/d/c"

# json_check CMD-NAME — the document in $T/last.out against docs/json.md's
# tables for "drfs CMD-NAME"
json_check() {
	python3 - "$DRFS_SRC/docs/json.md" "$1" "$T/last.out" <<'EOF' ||
import json, re, sys
doc, cmd, out = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(doc, encoding='utf-8').read()
m = re.search(r'^## drfs ' + re.escape(cmd) + r'\n(.*?)(?=^## |\Z)', text,
              re.M | re.S)
assert m, 'docs/json.md has no section "## drfs %s"' % cmd
section = m.group(1)
# the tables of the section: the first is the document's (or its array
# elements'), a second one the elements of its array field
tables = []
for t in re.findall(r'((?:^\|.*\|\n)+)', section, re.M):
    rows = [r for r in t.strip().split('\n')[2:]]
    fields = {}
    for r in rows:
        cells = [c.strip() for c in r.strip('|').split('|')]
        fields[cells[0]] = cells[1]
    tables.append(fields)
assert tables, 'no table for %s' % cmd
types = {'string': str, 'integer': int, 'number': (int, float),
         'boolean': bool, 'array': list, 'object': dict}
raw = open(out, encoding='utf-8').read()
assert raw.endswith('\n') and raw.count('\n') == 1, \
    'not one document on one line: %r' % raw[:200]
v = json.loads(raw)

def check(obj, fields, where):
    assert isinstance(obj, dict), '%s: not an object' % where
    for k in obj:
        assert k in fields, '%s: field "%s" is not documented' % (where, k)
    for k, t in fields.items():
        optional = 'optional' in t
        if k not in obj:
            assert optional, '%s: documented field "%s" missing' % (where, k)
            continue
        want = types[t.split(',')[0].strip()]
        val = obj[k]
        if val is None and 'null' in t:
            continue
        ok = isinstance(val, want) and not (
            want in (int, (int, float)) and isinstance(val, bool))
        assert ok, '%s: "%s" is %r, want %s' % (where, k, val, t)

if isinstance(v, list):
    for i, e in enumerate(v):
        check(e, tables[0], '%s[%d]' % (cmd, i))
else:
    check(v, tables[0], cmd)
    # an array field whose elements are objects: the second table
    for k, val in v.items():
        if isinstance(val, list) and val and isinstance(val[0], dict):
            assert len(tables) > 1, '%s.%s: elements not documented' % (cmd, k)
            for i, e in enumerate(val):
                check(e, tables[1], '%s.%s[%d]' % (cmd, k, i))
print('%s: %d bytes of JSON match docs/json.md' % (cmd, len(raw)),
      file=sys.stderr)
EOF
	{ head -c 2000 "$T/last.out" >&2; fail "drfs $1 --json does not match docs/json.md"; }
}
# json_run NAME RC CMD... — run, expect exit RC, check against NAME
json_run() {
	local name=$1 want=$2
	shift 2
	run_nocrash "$name --json" "$@"
	[ "$RC" = "$want" ] || { cat "$T/last.err" >&2; fail "$* : exit $RC, want $want"; }
	json_check "$name"
}

# json_lines_run NAME RC CMD... --json --progress: every line but the
# last against "drfs progress", the last (type "summary") against NAME
json_lines_run() {
	local name=$1 want=$2 n=0
	shift 2
	run_nocrash "$name --json --progress" "$@"
	[ "$RC" = "$want" ] || { cat "$T/last.err" >&2; fail "$* : exit $RC, want $want"; }
	cp "$T/last.out" "$T/lines.out"
	local total
	total=$(wc -l <"$T/lines.out")
	while IFS= read -r line; do
		n=$((n + 1))
		printf '%s\n' "$line" >"$T/last.out"
		if [ "$n" -lt "$total" ]; then
			json_check progress
		else
			json_check "$name"
			python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["type"] == "summary"' \
				"$T/last.out" || fail "$name --json --progress: the last line is no summary"
		fi
	done <"$T/lines.out"
	[ "$n" -ge 1 ] || fail "$name --json --progress: no output"
}

json_run init 0 drfs init "$REPO" --json
json_init
json_run backup 0 drfs backup "$REPO" "$S" --json --tag t1
json_run backup 0 drfs backup "$REPO" "$S" --json --dry-run
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["dry_run"] and not d["snapshot_written"] and d["files"] == 4, d' \
	"$T/last.out" || fail "backup --dry-run --json: wrong values"
echo more >"$S/d/new"
json_run backup 0 drfs backup "$REPO" "$S" --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["snapshot_written"] and len(d["id"]) == 64 and d["files"] == 5, d' \
	"$T/last.out" || fail "backup --json: wrong values"
json_run snapshots 0 drfs snapshots "$REPO" --json
json_run stats 0 drfs stats "$REPO" --json
json_run check 0 drfs check "$REPO" --json
json_run check 0 drfs check "$REPO" --json --read-data
json_lines_run check 0 drfs check "$REPO" --json --read-data --progress
json_lines_run backup 0 drfs backup "$REPO" "$S" --json --progress --dry-run
json_run restore 0 drfs restore "$REPO" latest "$T/r1" --json --dry-run
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["dry_run"] and len(d["plan"]) == 6, d' \
	"$T/last.out" || fail "restore --dry-run --json: wrong plan"
[ ! -e "$T/r1" ] || fail "restore --dry-run --json made DIR"
# the plan streams into the document: with --progress it waits for the
# progress lines (the last of them printed as the restore ends)
json_lines_run restore 0 drfs restore "$REPO" latest "$T/r1" --json --dry-run --progress
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["dry_run"] and len(d["plan"]) == 6, d' \
	"$T/last.out" || fail "restore --dry-run --json --progress: wrong plan"
[ "$(wc -l <"$T/lines.out")" -ge 2 ] || fail "restore --dry-run --json --progress: no progress line"
[ ! -e "$T/r1" ] || fail "restore --dry-run --json --progress made DIR"
json_run restore 0 drfs restore "$REPO" latest "$T/r1" --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["ok"] and d["files"] == 5 and d["plan"] == [], d' \
	"$T/last.out" || fail "restore --json: wrong values"
# a conflict: exit 3, the problem among the messages
rm "$T/r1/a" && mkdir "$T/r1/a"
json_run restore 3 drfs restore "$REPO" latest "$T/r1" --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert not d["ok"] and d["errors"] == 1 and "in the way" in d["messages"][0], d' \
	"$T/last.out" || fail "restore --json with a conflict: wrong values"
json_run drill 0 drfs drill "$REPO" --json
json_lines_run drill 0 drfs drill "$REPO" --json --progress
json_run prune 0 drfs prune "$REPO" --json --dry-run --keep-last 1
json_lines_run prune 0 drfs prune "$REPO" --json --dry-run --keep-last 1 --progress
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["dry_run"] and d["kept"] == 1 and d["removed"] == 1 and len(d["snapshots"]) == 2, d' \
	"$T/last.out" || fail "prune --dry-run --json: wrong values"
json_run forget 0 drfs forget "$REPO" --json --keep-last 2
first=$(drfs snapshots "$REPO" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
json_run forget 0 drfs forget "$REPO" "${first:0:12}" --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["ok"] and d["snapshots"] == [{"id": sys.argv[2], "held": False, "forgotten": True}], d' \
	"$T/last.out" "$first" || fail "forget SNAPSHOT --json: wrong values"
json_run prune 0 drfs prune "$REPO" --json --keep-last 1
drfs policy "$REPO" --keep-daily 7 >/dev/null || fail "policy --keep-daily failed"
json_run policy 0 drfs policy "$REPO" --json
make_repo_2() { # a second repository beside the first
	case $REPO in
	s3://*) REPO2="s3://drfs-test-$(_rand_lower 12)/" ;;
	*) REPO2=$T/repo2 ;;
	esac
}
make_repo_2
"$DRFS" init "$REPO2" --cache-dir "$T/cache2" >/dev/null 2>&1 || fail "init of the second repository failed"
json_run copy 0 drfs copy "$REPO" "$REPO2" --json
json_run mirror 0 drfs mirror "$REPO" "$REPO2-m" --json

# hold, release: the snapshot's id and its hold
id=$(drfs snapshots "$REPO" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["id"])')
json_run hold 0 drfs hold "$REPO" latest --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d == {"id": sys.argv[2], "held": True}, d' \
	"$T/last.out" "$id" || fail "hold --json: wrong values"
drfs snapshots "$REPO" --json | python3 -c 'import json,sys; assert json.load(sys.stdin)[-1]["held"]' ||
	fail "hold --json did not hold"
json_run release 0 drfs release "$REPO" latest --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d == {"id": sys.argv[2], "held": False}, d' \
	"$T/last.out" "$id" || fail "release --json: wrong values"
drfs snapshots "$REPO" --json | python3 -c 'import json,sys; assert not json.load(sys.stdin)[-1]["held"]' ||
	fail "release --json did not release"
# a failed hold: nothing on stdout
run_nocrash "hold --json of no snapshot" "$DRFS" hold "$REPO" ffffffffffff --json --cache-dir "$CACHE"
[ "$RC" = 1 ] && [ ! -s "$T/last.out" ] || fail "hold --json of no snapshot: exit $RC, want 1 and nothing on stdout"

# snapshot of a mount's now/: written, then unchanged with
# --skip-if-unchanged (the same folder, none written)
if fuse_ok; then
	mount_repo "$T/mnt"
	echo new >"$T/mnt/now/snapfile"
	json_run snapshot 0 drfs snapshot "$T/mnt" --json
	spath=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["written"] and "repository" not in d, d; print(d["path"])' "$T/last.out") ||
		fail "snapshot --json: wrong values"
	case $spath in "$T/mnt/snapshots/"*) ;; *) fail "snapshot --json: path $spath is not in the mount's snapshots/" ;; esac
	[ "$(cat "$spath/snapfile")" = new ] || fail "snapshot --json: no $spath/snapfile"
	json_run snapshot 0 drfs snapshot "$T/mnt" --json --skip-if-unchanged
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d == {"path": sys.argv[2], "written": False}, d' \
		"$T/last.out" "$spath" || fail "snapshot --json --skip-if-unchanged: wrong values"
	umount_repo "$T/mnt"
else
	info "(no FUSE here: snapshot --json not tested)"
fi

# repair: a clean index and snapshots, then a lost pack
nsnap=$(drfs snapshots "$REPO" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
json_run repair 0 drfs repair index "$REPO" --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d == {"repair": "index", "damaged_objects": 0}, d' \
	"$T/last.out" || fail "repair index --json: wrong values"
json_run repair 0 drfs repair snapshots "$REPO" --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["snapshots"] == int(sys.argv[2]) and d["repaired"] == 0 and not d["dry_run"], d' \
	"$T/last.out" "$nsnap" || fail "repair snapshots --json: wrong values"
lost=$(obj_sizes data/ | sort -n | tail -1 | cut -d' ' -f2)
[ -n "$lost" ] || fail "no pack found"
obj_del "$lost"
obj_names "" | grep -v '^locks/' >"$T/objects.before"
json_run repair 0 drfs repair snapshots "$REPO" --json --dry-run
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["dry_run"] and d["repaired"] >= 1 and d["bytes_lost"] > 0 and d["messages"], d' \
	"$T/last.out" || fail "repair snapshots --dry-run --json of a lost pack: wrong values"
obj_names "" | grep -v '^locks/' | cmp -s - "$T/objects.before" ||
	fail "repair snapshots --dry-run --json changed the repository"
info "backup, snapshots, stats, check, restore, drill, prune, forget, policy, copy, mirror, init, hold, release, snapshot, repair, metrics: --json matches docs/json.md"

# metrics: the samples of the text format, the same values
json_run metrics 0 drfs metrics "$REPO" --json
drfs metrics "$REPO" >"$T/metrics.txt" || fail "drfs metrics failed"
python3 - "$T/last.out" "$T/metrics.txt" <<'PY' || fail "metrics --json differs from the text format"
import json, math, sys
d = json.load(open(sys.argv[1]))
text = {}
for l in open(sys.argv[2]):
    if l.startswith('#') or not l.strip():
        continue
    key, _, v = l.rstrip('\n').rpartition(' ')
    text[key] = float(v)
got = {}
for m in d['metrics']:
    assert set(m) == {'name', 'type', 'help', 'labels', 'value'}, m
    assert m['type'] in ('gauge', 'counter'), m
    assert m['help'], m
    lab = ','.join('%s="%s"' % kv for kv in m['labels'].items())
    got[m['name'] + ('{%s}' % lab if lab else '')] = m['value']
assert set(got) == set(text), set(got) ^ set(text)
for k, v in text.items():
    if math.isfinite(v):
        # the age grows between the two runs
        assert got[k] == v or 'age' in k or 'timestamp' in k, (k, v, got[k])
    else:
        assert got[k] is None, k
snaps = [m for m in d['metrics'] if m['name'] == 'drfs_snapshots']
assert len(snaps) == 1 and snaps[0]['value'] >= 1, snaps
PY

# commands that do not report refuse --json
for cmd in "mount $REPO $T/x" "umount $T/x"; do
	run_nocrash "$cmd --json" "$DRFS" $cmd --json
	[ "$RC" = 2 ] && [ ! -s "$T/last.out" ] ||
		fail "drfs $cmd --json: exit $RC, want 2 and nothing on stdout"
done
info "ok"
