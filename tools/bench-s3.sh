#!/bin/bash
# SPDX-License-Identifier: MIT
# bench-s3.sh - S3 backend benchmark (issue 5): backup, no-change backup and
# restore of the ~1.4 GB tree to a loopback Ceph RadosGW, against drfs on the
# local backend and restic's S3 backend on the same server, same run. Not a
# test: prints markdown tables of medians for docs/benchmarks.md.
#
#   bash tools/bench-s3.sh [RUNS]          (default 3 runs per figure)
#
# Environment: DRFS, BENCH_DIR (default /var/tmp/drfs-bench), BENCH_SRC
# (default $BENCH_DIR/src, made by bench-core.sh). Needs root (drop_caches)
# and radosgw, ceph-mon, ceph-osd (see tests/s3/start-rgw.sh).
#
# The timed runs talk to RadosGW directly. One more backup of each tool goes
# through a small counting proxy (below) to count requests by method and
# key prefix, and bytes sent.
set -euo pipefail
RUNS=${1:-3}
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DRFS=${DRFS:-$TOP/build/release/drfs}
B=${BENCH_DIR:-/var/tmp/drfs-bench}
SRC=${BENCH_SRC:-$B/src}
S=$B/s3
RGW=$S/rgw
export DRFS_PASSWORD=bench-pass RESTIC_PASSWORD=bench-pass
export AWS_ACCESS_KEY_ID=benchaccess AWS_SECRET_ACCESS_KEY=benchsecret123
export AWS_REGION=us-east-1
unset AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3 AWS_PROFILE

[ -d "$SRC" ] || { echo "no $SRC: run tools/bench-core.sh first" >&2; exit 1; }
[ -x "$DRFS" ] || { echo "no $DRFS: build first" >&2; exit 1; }
rm -rf "$S"
mkdir -p "$S"
PROXY_PID=
cleanup() {
	set +e
	[ -n "$PROXY_PID" ] && kill "$PROXY_PID" 2>/dev/null
	bash "$TOP/tests/s3/start-rgw.sh" --stop "$RGW"
}
trap cleanup EXIT
bash "$TOP/tests/s3/start-rgw.sh" "$RGW" 0 "$AWS_ACCESS_KEY_ID" \
	"$AWS_SECRET_ACCESS_KEY" >&2
EP=$(cat "$RGW/endpoint")
PORT=${EP##*:}

drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
run() { # NAME CMD... : append "seconds maxrss_kb load1" to $S/res.NAME
	local name=$1 l
	shift
	l=$(cut -d' ' -f1 /proc/loadavg)
	/usr/bin/time -f '%e %M' -o "$S/time.out" "$@" >/dev/null 2>"$S/err.out" ||
		{ cat "$S/err.out" >&2; echo "failed: $*" >&2; exit 1; }
	echo "$(cat "$S/time.out") $l" >>"$S/res.$name"
	echo "$name: $(tail -1 "$S/res.$name")" >&2
}
rmbucket() {
	timeout 300 radosgw-admin -c "$RGW/ceph.conf" bucket rm --bucket="$1" \
		--purge-objects >/dev/null 2>&1 || echo "could not remove bucket $1" >&2
	sleep 8 # let the gateway's gc free the memstore
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
col() { [ -s "$S/res.$1" ] && awk -v c="$2" '{ print $c }' "$S/res.$1" | median || echo -; }
all() { awk '{ print $1 }' "$S/res.$1" | sort -n | paste -sd/ -; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
SIZE=$(du -sb --apparent-size "$SRC" | cut -f1)
mbs() { awk -v s="$SIZE" -v t="$1" 'BEGIN { printf "%.0f", s / t / 1e6 }'; }
LOAD0=$(uptime)
echo "start: $LOAD0" >&2

for i in $(seq 1 "$RUNS"); do
	echo "--- run $i" >&2
	# drfs, local backend
	rm -rf "$S/lrepo" "$S/lcache" "$S/out"
	"$DRFS" init "$S/lrepo" >/dev/null
	drop; run local_backup "$DRFS" backup -q "$S/lrepo" "$SRC" --cache-dir "$S/lcache"
	run local_nochange "$DRFS" backup -q "$S/lrepo" "$SRC" --cache-dir "$S/lcache"
	drop; run local_restore "$DRFS" restore -q "$S/lrepo" latest "$S/out" --cache-dir "$S/lcache"
	rm -rf "$S/lrepo" "$S/lcache" "$S/out"

	# drfs, RadosGW
	bk=drfs-bench-$i-$RANDOM
	"$DRFS" init "s3://$bk" --endpoint "$EP" >/dev/null
	drop; run s3_backup "$DRFS" backup -q "s3://$bk" "$SRC" --endpoint "$EP" --cache-dir "$S/scache"
	run s3_nochange "$DRFS" backup -q "s3://$bk" "$SRC" --endpoint "$EP" --cache-dir "$S/scache"
	drop; run s3_restore "$DRFS" restore -q "s3://$bk" latest "$S/out" --endpoint "$EP" --cache-dir "$S/scache"
	rm -rf "$S/out"
	# restore on a fresh machine: empty cache directory
	drop; run s3_restore_fresh "$DRFS" restore -q "s3://$bk" latest "$S/out" --endpoint "$EP" --cache-dir "$S/scache-fresh"
	rm -rf "$S/out" "$S/scache" "$S/scache-fresh"
	rmbucket "$bk"

	# restic, RadosGW
	bk=restic-bench-$i-$RANDOM
	export RESTIC_CACHE_DIR=$S/rcache
	restic -q -r "s3:$EP/$bk" init >/dev/null
	drop; run restic_backup restic -q -r "s3:$EP/$bk" backup "$SRC"
	run restic_nochange restic -q -r "s3:$EP/$bk" backup "$SRC"
	drop; run restic_restore restic -q -r "s3:$EP/$bk" restore latest --target "$S/out"
	rm -rf "$S/out" "$S/rcache"
	unset RESTIC_CACHE_DIR
	rmbucket "$bk"
done

# --- request counts: one backup of each through a counting proxy -----------
cat >"$S/count.js" <<'JS'
// count.js LISTEN UPSTREAM: forward HTTP, count requests by method and by
// the first key component ("data", "index", ...); print JSON on SIGTERM.
const http = require('http');
const [lp, up] = process.argv.slice(2).map(Number);
const st = { requests: 0, bytes_up: 0, bytes_down: 0, method: {}, put_prefix: {} };
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
http.createServer((req, res) => {
  st.requests++;
  st.method[req.method] = (st.method[req.method] || 0) + 1;
  if (req.method === 'PUT' || req.method === 'POST') {
    const parts = req.url.split('?')[0].split('/');
    const pre = parts.length > 3 ? parts[2] : (parts.length > 2 && parts[2] ? 'obj' : 'bucket');
    st.put_prefix[pre] = (st.put_prefix[pre] || 0) + 1;
  }
  req.on('data', (c) => { st.bytes_up += c.length; });
  const u = http.request({ host: '127.0.0.1', port: up, method: req.method,
    path: req.url, headers: req.headers, agent }, (ur) => {
    res.writeHead(ur.statusCode, ur.headers);
    ur.on('data', (c) => { st.bytes_down += c.length; });
    ur.pipe(res);
  });
  u.on('error', () => req.socket.destroy());
  req.pipe(u);
}).listen(lp, '127.0.0.1', () => process.stderr.write('listening\n'));
process.on('SIGTERM', () => { process.stdout.write(JSON.stringify(st) + '\n'); process.exit(0); });
JS
PPORT=$((PORT + 7))
count_start() {
	node "$S/count.js" "$PPORT" "$PORT" >"$S/count.$1" 2>/dev/null &
	PROXY_PID=$!
	for _ in $(seq 1 50); do
		(exec 3<>"/dev/tcp/127.0.0.1/$PPORT") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "counting proxy did not start" >&2; exit 1
}
count_stop() { kill "$PROXY_PID"; wait "$PROXY_PID" || true; PROXY_PID=; }
PEP=http://127.0.0.1:$PPORT
bk=drfs-count-$RANDOM
"$DRFS" init "s3://$bk" --endpoint "$EP" >/dev/null
count_start drfs
"$DRFS" backup -q "s3://$bk" "$SRC" --endpoint "$PEP" --cache-dir "$S/ccache" >/dev/null
count_stop
count_start drfs_nochange
"$DRFS" backup -q "s3://$bk" "$SRC" --endpoint "$PEP" --cache-dir "$S/ccache" >/dev/null
count_stop
DSTORED=$("$DRFS" stats "s3://$bk" --endpoint "$EP" --cache-dir "$S/ccache" --json |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["repo_bytes"])')
rm -rf "$S/ccache"
rmbucket "$bk"
bk=restic-count-$RANDOM
export RESTIC_CACHE_DIR=$S/rcache
restic -q -r "s3:$EP/$bk" init >/dev/null
count_start restic
restic -q -r "s3:$PEP/$bk" backup "$SRC" >/dev/null
count_stop
RSTORED=$(restic -q -r "s3:$EP/$bk" stats --mode raw-data --json 2>/dev/null |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["total_size"])')
rm -rf "$S/rcache"
rmbucket "$bk"
LOAD1=$(uptime)
echo "end: $LOAD1" >&2

echo
echo "Tree: $SIZE bytes, $(find "$SRC" -type f | wc -l) files; RadosGW $(radosgw --version | awk '{print $3}') (memstore) on loopback; medians of $RUNS runs; $(nproc) cores; $(date -u +%F)"
echo "Load at start: ${LOAD0##*load average: }; at end: ${LOAD1##*load average: }"
echo
echo "| operation | drfs local | drfs RadosGW | S3/local | restic RadosGW | drfs S3 vs restic S3 |"
echo "|---|---|---|---|---|---|"
for f in backup nochange restore; do
	l=$(col local_$f 1); s=$(col s3_$f 1); r=$(col restic_$f 1)
	case $f in
	nochange) echo "| no-change backup | $l s | $s s | $(ratio "$s" "$l")x | $r s | $(ratio "$s" "$r")x time |" ;;
	*) echo "| $f (cold page cache) | $l s ($(mbs "$l") MB/s) | $s s ($(mbs "$s") MB/s) | $(ratio "$s" "$l")x | $r s ($(mbs "$r") MB/s) | $(ratio "$r" "$s")x throughput |" ;;
	esac
done
s=$(col s3_restore_fresh 1)
echo "| restore, empty cache dir | | $s s ($(mbs "$s") MB/s) | | | |"
for f in backup nochange restore; do
	echo "| peak RSS, $f | $(( $(col local_$f 2) / 1024 )) MB | $(( $(col s3_$f 2) / 1024 )) MB | | $(( $(col restic_$f 2) / 1024 )) MB | |"
done
echo
echo "Request counts (one initial backup each, through the counting proxy):"
echo
for t in drfs drfs_nochange restic; do
	echo "- $t: $(cat "$S/count.$t")"
done
python3 - "$S/count.drfs" "$S/count.restic" "$SIZE" "$DSTORED" "$RSTORED" <<'PY'
import json, sys
d, r = (json.load(open(p)) for p in sys.argv[1:3])
size, ds, rs = (int(x) for x in sys.argv[3:6])
for name, c, st in (("drfs", d, ds), ("restic", r, rs)):
    puts = c["method"].get("PUT", 0) + c["method"].get("POST", 0)
    print("- %s: %d requests, %d PUT/POST; %.1f PUTs per GB of source, "
          "%.1f per GB stored (%.0f MB stored)"
          % (name, c["requests"], puts, puts / (size / 1e9),
             puts / (st / 1e9), st / 1e6))
PY
echo
echo "All runs (seconds, sorted):"
for k in local_backup local_nochange local_restore s3_backup s3_nochange s3_restore s3_restore_fresh restic_backup restic_nochange restic_restore; do
	echo "- $k: $(all $k)"
done
