#!/bin/bash
# Monitoring (docs/monitoring.md): drfs metrics of a repository and of a
# mount, parsed by a real Prometheus text-format parser
# (prometheus_client.parser from python3-prometheus-client), with the values
# a known sequence must give, cross-checked with drfs snapshots --json;
# drfs status --json; status --max-age exit codes; a drill recorded; the
# mount's node_exporter textfile; the duration a snapshot records.
source "$(dirname "$0")/lib.sh"
need_pyprom
make_repo
drfs init "$REPO" >/dev/null

# check_metrics FILE EXPR... — parse FILE with prometheus_client; each EXPR
# is Python over m (name -> {labels tuple: value}) that must hold.
check_metrics() {
	local file=$1
	shift
	$PYPROM - "$file" "$@" <<'PY' || fail "metrics of $file: see above"
import sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1]).read()
m, kinds = {}, {}
for fam in text_string_to_metric_families(text):
    kinds[fam.name] = fam.type
    for s in fam.samples:
        m.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
R = dict(list(m.get('drfs_snapshots', {'': 0}))[0]).get('repository')
def v(name, **labels):
    return m[name][tuple(sorted(labels.items()))]
ok = True
for expr in sys.argv[2:]:
    try:
        r = eval(expr)
    except Exception as e:
        r = "%s: %s" % (type(e).__name__, e)
    if r is not True:
        print("FAILED: %s -> %r" % (expr, r), file=sys.stderr)
        ok = False
if not ok:
    print(text, file=sys.stderr)
sys.exit(0 if ok else 1)
PY
}

# 1. a known tree, backed up twice as host h1 (the second adds one file)
src=$T/src
mkdir -p "$src/d"
head -c 300000 /dev/zero | tr '\0' 'a' >"$src/a"
seeded_bytes "$SEED" 200000 >"$src/d/b"
drfs backup "$REPO" "$src" --host h1 --time 2026-01-02T03:04:05Z >/dev/null
seeded_bytes "$((SEED + 1))" 50000 >"$src/c"
drfs backup "$REPO" "$src" --host h1 >/dev/null
drfs snapshots "$REPO" --json >"$T/snaps.json"
python3 - "$T/snaps.json" >"$T/expect" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert len(s) == 2, s
n = s[-1]
assert n["duration_seconds"] is not None and n["duration_seconds"] > 0, n
print(n["files"], n["bytes"], n["added_bytes"], n["duration_seconds"])
PY
read -r files bytes added dur <"$T/expect"
[ "$files" = 3 ] && [ "$bytes" = 550000 ] ||
	fail "snapshots --json: $files files, $bytes bytes (want 3, 550000)"
info "newest snapshot: $files files, $bytes bytes, $added added, ${dur}s"

drfs metrics "$REPO" >"$T/m1"
check_metrics "$T/m1" \
	"list(m['drfs_snapshots'].values()) == [2]" \
	"kinds['drfs_backend_errors'] == 'counter'" \
	"[dict(k)['host'] for k in m['drfs_last_snapshot_files']] == ['h1']" \
	"list(m['drfs_last_snapshot_files'].values()) == [$files]" \
	"list(m['drfs_last_snapshot_bytes'].values()) == [$bytes]" \
	"list(m['drfs_last_snapshot_added_bytes'].values()) == [$added]" \
	"abs(list(m['drfs_last_snapshot_duration_seconds'].values())[0] - $dur) < 0.002" \
	"0 <= list(m['drfs_last_snapshot_age_seconds'].values())[0] < 120" \
	"list(m['drfs_endpoint_up'].values()) == [1]" \
	"list(m['drfs_repository_logical_bytes'].values()) == [$bytes + 500000]" \
	"list(m['drfs_dedup_ratio'].values())[0] > 1" \
	"list(m['drfs_compression_ratio'].values())[0] > 1" \
	"sum(m['drfs_backend_errors_total'].values()) == 0" \
	"'drfs_last_drill_timestamp_seconds' not in m" \
	"'drfs_upload_backlog_objects' not in m" \
	"0 <= list(m['drfs_verified_packs_ratio'].values())[0] <= 1"
# check --read-data reads every pack back: all of them verified
drfs check "$REPO" --read-data >/dev/null 2>&1 || fail "check --read-data failed"
drfs metrics "$REPO" >"$T/m1v"
check_metrics "$T/m1v" \
	"list(m['drfs_verified_packs_ratio'].values()) == [1]" \
	"list(m['drfs_verified_bytes_ratio'].values()) == [1]" \
	"list(m['drfs_oldest_verification_timestamp_seconds'].values())[0] > 1.7e9"

# 2. status of the repository: young -> 0, --max-age shorter -> 4
drfs status "$REPO" --host h1 --max-age 1h >/dev/null ||
	fail "status --max-age 1h of a fresh snapshot exited $?"
rc=0
drfs status "$REPO" --host h1 --max-age 1s --json >"$T/st.json" 2>"$T/st.err" || rc=$?
[ "$rc" = 0 ] && sleep 2 && { rc=0; drfs status "$REPO" --host h1 --max-age 1s --json >"$T/st.json" 2>"$T/st.err" || rc=$?; }
[ "$rc" = 4 ] || fail "status --max-age 1s exited $rc (want 4)"
grep -q "old (--max-age 1s)" "$T/st.err" || fail "no reason: $(cat "$T/st.err")"
python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
assert s["snapshots"] == 2 and len(s["problems"]) == 1, s
assert s["hosts"][0]["host"] == "h1" and s["hosts"][0]["files"] == 3, s
assert s["endpoint_up"] is True and s["mounted"] is False, s
' "$T/st.json" || fail "status --json: $(cat "$T/st.json")"

# 3. a drill, recorded in the cache and shown
drfs drill "$REPO" latest --host h1 >/dev/null 2>&1 || fail "drill failed"
drfs metrics "$REPO" >"$T/m2"
check_metrics "$T/m2" \
	"list(m['drfs_last_drill_success'].values()) == [1]" \
	"list(m['drfs_last_successful_drill_restore_seconds'].values())[0] >= 0" \
	"abs(list(m['drfs_last_drill_timestamp_seconds'].values())[0] - $(date +%s)) < 120"

# 4. a mount: snapshots of now/, backlog, RSS, the textfile
mount_repo "$T/mnt" --metrics-textfile "$T/drfs.prom" --metrics-every 1s
cp -a "$src/." "$T/mnt/now/"
drfs snapshot "$T/mnt" --time 2026-01-01T00:00:00Z >/dev/null
drfs metrics "$T/mnt" >"$T/m3"
me=$(hostname)
check_metrics "$T/m3" \
	"list(m['drfs_snapshots'].values()) == [3]" \
	"sorted(dict(k)['host'] for k in m['drfs_last_snapshot_files']) == sorted(['h1', '$me'])" \
	"v('drfs_last_snapshot_files', repository=R, host='$me') == 3" \
	"v('drfs_last_snapshot_bytes', repository=R, host='$me') == $bytes" \
	"v('drfs_last_snapshot_timestamp_seconds', repository=R, host='$me') == 1767225600" \
	"list(m['drfs_upload_backlog_objects'].values()) == [0]" \
	"list(m['drfs_daemon_resident_memory_bytes'].values())[0] > 1000000" \
	"list(m['drfs_endpoint_up'].values()) == [1]"
# the textfile: written within a few seconds, parses the same way
for _ in $(seq 1 50); do
	grep -q "drfs_snapshots{.*} 3" "$T/drfs.prom" 2>/dev/null && break
	sleep 0.2
done
check_metrics "$T/drfs.prom" "list(m['drfs_snapshots'].values()) == [3]" \
	"list(m['drfs_upload_backlog_objects'].values()) == [0]"
[ ! -e "$T/drfs.prom.tmp" ] || fail "the textfile's temporary file is left"

# status of the mount: its snapshot (2026-01-01) is old -> 4; young -> 0
rc=0
drfs status "$T/mnt" --max-age 26h --json >"$T/st2.json" 2>"$T/st2.err" || rc=$?
[ "$rc" = 4 ] || fail "status of a mount whose snapshot is old exited $rc (want 4)"
python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
assert s["mounted"] is True and s["newest_snapshot"].startswith("2026-01-01T00:00:00"), s
assert s["backlog"]["objects"] == 0 and s["rss_bytes"] > 0, s
' "$T/st2.json" || fail "status --json of the mount: $(cat "$T/st2.json")"
echo more >"$T/mnt/now/e"
drfs snapshot "$T/mnt" >/dev/null
drfs status "$T/mnt" --max-age 26h >/dev/null ||
	fail "status of a mount with a fresh snapshot exited $?"
umount_repo "$T/mnt"

# 5. garbage for --max-age is a usage error
rc=0
drfs status "$REPO" --max-age soon >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "--max-age soon exited $rc (want 2)"
