#!/bin/bash
# SPDX-License-Identifier: MIT
# trace-s3copy.sh - what `cp -a` out of a mount of an s3:// repository
# fetches (issue 21; docs/benchmarks.md, "Copying out of an S3 repository:
# GETs per file"). Backs up regular files of SRC (every STEP-th in sorted
# order, at most N) into a fresh bucket on the test gateway, mounts it with
# an empty cache directory through tests/s3/faultproxy.js (FI_LOG: every
# request with its Range, bytes and times), copies the snapshot out with a
# cold page cache and prints: the GETs of data/ and their bytes against the
# packs' bytes they cover (overlaps fetched twice), how many were in flight
# at once (ms at each level, from the proxy's times), the daemon's CPU
# (utime and stime from /proc/PID/stat) and its write_bytes (/proc/PID/io)
# during the copy, its RssAnon and VmHWM after it, and `drfs status`'s
# reads line. Counts, not times: not a
# benchmark. The bucket is removed at the end.
#
#   bash tools/trace-s3copy.sh [N] [SRC]      (STEP=K: every K-th file)
#
# Environment: DRFS (default build/release/drfs), DRFS_TEST_S3_ENDPOINT,
# AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (as for the tests), TRACE_DIR
# (default /var/tmp/drfs-s3trace), FI_DELAY_MS (added latency per request).
# Needs root (drop_caches) and node.
set -euo pipefail
N=${1:-5000}
SRCROOT=${2:-/usr/share/doc}
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DRFS=${DRFS:-$TOP/build/release/drfs}
T=${TRACE_DIR:-/var/tmp/drfs-s3trace}
EP=${DRFS_TEST_S3_ENDPOINT:?set DRFS_TEST_S3_ENDPOINT (and the AWS_* keys)}
export AWS_REGION=${AWS_REGION:-us-east-1} AWS_ENDPOINT_URL_S3=$EP
export DRFS_PASSWORD=trace-pass
DPID= PPID_=
cleanup() {
	set +e
	mountpoint -q "$T/mnt" && "$DRFS" umount "$T/mnt" >/dev/null 2>&1
	[ -n "$DPID" ] && wait "$DPID" 2>/dev/null
	[ -n "$PPID_" ] && kill "$PPID_" 2>/dev/null && wait "$PPID_" 2>/dev/null
	[ -s "$T/.tokens" ] &&
		python3 "$TOP/tests/tools/s3purge.py" "$EP" "$T/.tokens"
	rm -rf "$T"
}
trap cleanup EXIT
rm -rf "$T" && mkdir -p "$T/src" "$T/mnt"
tok=$(tr -dc a-z0-9 </dev/urandom | head -c 12 || true)
echo "$tok" >"$T/.tokens"
REPO=s3://drfs-trace-$tok/
(cd "$SRCROOT" && find . -type f | sort | awk "NR % ${STEP:-1} == 0" |
	sed -n "1,${N}p") >"$T/list"
rsync -a --files-from="$T/list" "$SRCROOT/" "$T/src/"
"$DRFS" init "$REPO" >/dev/null 2>&1
"$DRFS" --cache-dir "$T/c0" backup "$REPO" "$T/src" >/dev/null 2>&1
port=$(python3 -c 'import socket; s = socket.socket()
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
up=${EP##*:}
FI_LOG=$T/fi.log FI_LIFETIME_S=3600 node "$TOP/tests/s3/faultproxy.js" \
	"$port" "${up%%/*}" 2>"$T/proxy.err" &
PPID_=$!
for _ in $(seq 100); do grep -q faultproxy "$T/proxy.err" && break; sleep 0.1; done
AWS_ENDPOINT_URL_S3=http://127.0.0.1:$port "$DRFS" --cache-dir "$T/c1" \
	mount "$REPO" "$T/mnt" -f >"$T/log" 2>&1 &
DPID=$!
for _ in $(seq 100); do mountpoint -q "$T/mnt" && break; sleep 0.1; done
S=$(ls -d "$T"/mnt/snapshots/*/*/ | head -n 1)
sync
echo 3 >/proc/sys/vm/drop_caches
: >"$T/fi.log"
ticks() { sed 's/^.*) //' "/proc/$DPID/stat" | awk '{ print $12, $13 }'; }
wb() { awk '/^write_bytes/ { print $2 }' "/proc/$DPID/io"; }
read -r u0 s0 < <(ticks)
w0=$(wb)
cp -a "$S" "$T/out"
read -r u1 s1 < <(ticks)
w1=$(wb)
cp "$T/fi.log" "$T/fi.cp.log"
hz=$(getconf CLK_TCK)
files=$(wc -l <"$T/list")
bytes=$(du -sb --apparent-size "$T/src" | cut -f1)
diff -r -q "$T/src" "$T/out" >/dev/null || echo "the copy DIFFERS from the source"
echo "files: $files, bytes: $bytes"
awk -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v hz="$hz" 'BEGIN {
	printf "daemon CPU during the copy: user %.2f s, system %.2f s\n",
		u / hz, s / hz }'
echo "daemon write_bytes during the copy: $((w1 - w0))"
echo "daemon memory after the copy: $(grep -E '^(RssAnon|VmHWM)' "/proc/$DPID/status" | tr -s ' \t' ' ' | paste -sd,)"
getfattr --only-values -n user.drfs.status "$T/mnt" 2>/dev/null | grep '^reads:' || true
python3 - "$T/fi.cp.log" "$files" <<'PY'
import collections, json, sys
log = [json.loads(l) for l in open(sys.argv[1])]
data = [g for g in log if g["m"] == "GET" and g["key"].startswith("data/")]
files = int(sys.argv[2])
got = sum(g["bytes"] for g in data)
spans = collections.defaultdict(list)
for g in data:
    r = g.get("range") or ""
    if r.startswith("bytes="):
        a = int(r[6:].split("-")[0])
        spans[g["key"]].append((a, a + g["bytes"]))
uniq = 0
for v in spans.values():
    v.sort()
    lo, hi = v[0]
    for a, e in v[1:]:
        if a > hi:
            uniq += hi - lo
            lo, hi = a, e
        else:
            hi = max(hi, e)
    uniq += hi - lo
print(f"GETs of data/: {len(data)} ({len(data) / max(files, 1):.4f} per file), "
      f"{len(spans)} packs, {got} bytes, {uniq} distinct pack bytes "
      f"({got / max(uniq, 1):.2f}x)")
ev = sorted([(g["t0"], 1) for g in data] + [(g["t1"], -1) for g in data])
lvl, last, hist, top = 0, None, collections.Counter(), 0
for t, d in ev:
    if last is not None:
        hist[lvl] += t - last
    lvl += d
    top = max(top, lvl)
    last = t
print(f"GETs of data/ in flight at once: at most {top}; ms at each level "
      f"{dict(sorted(hist.items()))}")
PY
