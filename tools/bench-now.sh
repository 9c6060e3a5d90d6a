#!/bin/bash
# SPDX-License-Identifier: MIT
# bench-now.sh - write-path benchmark of the writable now/ (issue 4): rsync
# into a mounted repository plus `drfs snapshot`, against `restic backup`
# and rsync to local disk, same machine, same run. Not a test: prints
# markdown tables of medians for docs/benchmarks.md.
#
#   bash tools/bench-now.sh [RUNS]         (default 3 runs per figure)
#
# Environment: DRFS, BENCH_DIR (default /var/tmp/drfs-bench), BENCH_SRC
# (default $BENCH_DIR/src, made by bench-core.sh), BENCH_SMALL (the small-file
# tree; default $BENCH_DIR/m/small, 100 000 files, shared with
# bench-mount.sh) and BENCH_SMALL_DIRS (directories of 1000 files to create
# when BENCH_SMALL does not exist; default 100). Needs root (drop_caches,
# FUSE).
#
# Figures:
#   - rsync -a of the ~1.4 GB tree into now/ (cold page cache) + `drfs
#     snapshot`, against restic backup of the tree and rsync -a to local
#     disk;
#   - a no-change rsync -a re-run over the small files (default 100 000 in
#     100 dirs x 1000; BENCH_SMALL_DIRS)
#     into now/, on the same mount (right after the copy, and again after
#     the snapshot) and after a remount with a cold page cache, against the
#     same re-run to local disk; then `drfs snapshot`; the same for the
#     README's command, rsync -aHAX --delete;
#   - the daemon's peak RSS (VmHWM).
set -euo pipefail
RUNS=${1:-3}
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DRFS=${DRFS:-$TOP/build/release/drfs}
B=${BENCH_DIR:-/var/tmp/drfs-bench}
SRC=${BENCH_SRC:-$B/src}
N=$B/now
MNT=$N/mnt
SMALL=${BENCH_SMALL:-$B/m/small}  # shared with bench-mount.sh
SMALL_DIRS=${BENCH_SMALL_DIRS:-100}  # directories of 1000 files
export DRFS_PASSWORD=bench-pass RESTIC_PASSWORD=bench-pass

[ -d "$SRC" ] || { echo "no $SRC: run tools/bench-core.sh first" >&2; exit 1; }
[ -x "$DRFS" ] || { echo "no $DRFS: build first" >&2; exit 1; }
mkdir -p "$N" "$MNT"
cleanup() {
	set +e
	mountpoint -q "$MNT" && { "$DRFS" umount "$MNT" || fusermount3 -u -z "$MNT"; }
}
trap cleanup EXIT

drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
run() { # NAME CMD... : append "seconds maxrss_kb load1" to $N/res.NAME
	local name=$1 l
	shift
	l=$(cut -d' ' -f1 /proc/loadavg)
	/usr/bin/time -f '%e %M' -o "$N/time.out" "$@" >/dev/null 2>"$N/err.out" ||
		{ cat "$N/err.out" >&2; echo "failed: $*" >&2; exit 1; }
	echo "$(cat "$N/time.out") $l" >>"$N/res.$name"
	echo "$name: $(tail -1 "$N/res.$name")" >&2
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
col() { [ -s "$N/res.$1" ] && awk -v c="$2" '{ print $c }' "$N/res.$1" | median || echo -; }
all() { [ -s "$N/res.$1" ] && awk '{ print $1 }' "$N/res.$1" | sort -n | paste -sd/ - || echo -; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
SIZE=$(du -sb --apparent-size "$SRC" | cut -f1)
mbs() { awk -v s="$SIZE" -v t="$1" 'BEGIN { printf "%.0f", s / t / 1e6 }'; }
hwm() { awk '/^VmHWM/ { print int($2 / 1024) }' "/proc/$1/status"; }
mount_drfs() {
	"$DRFS" mount "$N/repo" "$MNT" --cache-dir "$N/cache" >/dev/null
	PID=$(getfattr -n user.drfs.pid --only-values "$MNT" 2>/dev/null)
	[ -n "$PID" ] || { echo "no daemon pid" >&2; exit 1; }
}

# can this build write to now/?
rm -rf "$N/repo" "$N/cache"
"$DRFS" init "$N/repo" >/dev/null
mount_drfs
if ! touch "$MNT/now/.probe" 2>/dev/null; then
	echo "now/ is not writable in this build: nothing to measure" >&2
	exit 3
fi
rm -f "$MNT/now/.probe"
"$DRFS" umount "$MNT"

if [ ! -d "$SMALL" ]; then
	python3 - "$SMALL" "$SMALL_DIRS" <<'PY'
import os, random, sys
rnd = random.Random(7)
for d in range(int(sys.argv[2])):
    p = os.path.join(sys.argv[1], "dir-%03d" % d)
    os.makedirs(p)
    for i in range(1000):
        with open(os.path.join(p, "file-%06d.txt" % i), "wb") as fh:
            fh.write(rnd.randbytes(rnd.randint(0, 2048)))
PY
fi

LOAD0=$(uptime)
echo "start: $LOAD0" >&2
rm -f "$N"/res.* "$N"/rss.*
for i in $(seq 1 "$RUNS"); do
	echo "--- run $i" >&2
	rm -rf "$N/repo" "$N/cache" "$N/local" "$N/restic-repo"
	# On ext4 without a journal, creating an inode skips (and reads the
	# inode-table block of) every inode freed in the last
	# dirty_expire_centisecs (30 s; measured: 31 s after a sync was not
	# enough while new inodes dirtied the same inode-table blocks): files
	# created right after a large rm -rf cost several times more. The
	# local-disk runs below start long after any deletion, so give drfs
	# the same start.
	sync
	sleep "${BENCH_SETTLE:-61}"
	"$DRFS" init "$N/repo" >/dev/null
	mount_drfs
	drop; run rsync_now rsync -a "$SRC/" "$MNT/now/src/"
	run snap_now "$DRFS" snapshot "$MNT"
	hwm "$PID" >>"$N/rss.big"
	run rsync_small_now rsync -a "$SMALL/" "$MNT/now/small/"
	run snap_small "$DRFS" snapshot "$MNT"
	run rsync_noop_now rsync -a "$SMALL/" "$MNT/now/small/"
	run snap_noop "$DRFS" snapshot "$MNT"
	run rsync_noop_now_again rsync -a "$SMALL/" "$MNT/now/small/"
	# the README's backup command: --delete reads each directory
	# (readdirplus fills the kernel's caches), -AX asks every file for
	# its xattrs and ACL (one round trip each; the kernel caches ACLs)
	run canon_noop_now rsync -aHAX --delete "$SMALL/" "$MNT/now/small/"
	"$DRFS" umount "$MNT"
	drop; mount_drfs
	run rsync_noop_now_cold rsync -a "$SMALL/" "$MNT/now/small/"
	hwm "$PID" >>"$N/rss.small"
	"$DRFS" umount "$MNT"
	drop; mount_drfs
	run canon_noop_now_cold rsync -aHAX --delete "$SMALL/" "$MNT/now/small/"
	"$DRFS" umount "$MNT"
	du -sb "$N/repo" | cut -f1 >>"$N/repo.size"

	mkdir -p "$N/local"
	drop; run rsync_local rsync -a "$SRC/" "$N/local/src/"
	run rsync_small_local rsync -a "$SMALL/" "$N/local/small/"
	run rsync_noop_local rsync -a "$SMALL/" "$N/local/small/"
	run canon_noop_local rsync -aHAX --delete "$SMALL/" "$N/local/small/"
	drop; run rsync_noop_local_cold rsync -a "$SMALL/" "$N/local/small/"
	drop; run canon_noop_local_cold rsync -aHAX --delete "$SMALL/" "$N/local/small/"
	rm -rf "$N/local"

	restic init -q -r "$N/restic-repo" >/dev/null
	drop; run restic_backup restic -q -r "$N/restic-repo" backup "$SRC"
	run restic_small restic -q -r "$N/restic-repo" backup "$SMALL"
	run restic_small_noop restic -q -r "$N/restic-repo" backup "$SMALL"
	rm -rf "$N/restic-repo"
done
rm -rf "$N/repo" "$N/cache"
LOAD1=$(uptime)
echo "end: $LOAD1" >&2

rssmax() { sort -n "$N/rss.$1" | tail -1; }
sum() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a + b }'; }
echo
echo "Tree: $SIZE bytes, $(find "$SRC" -type f | wc -l) files; small tree $(find "$SMALL" -type f | wc -l) files; medians of $RUNS runs; $(nproc) cores; $(date -u +%F)"
echo "Load at start: ${LOAD0##*load average: }; at end: ${LOAD1##*load average: }"
echo
r=$(col rsync_now 1); s=$(col snap_now 1); t=$(sum "$r" "$s")
l=$(col rsync_local 1); rb=$(col restic_backup 1)
echo "| figure | drfs now/ | local disk | restic backup | drfs vs local | drfs vs restic |"
echo "|---|---|---|---|---|---|"
echo "| rsync -a 1.4 GB (cold cache) | $r s + snapshot $s s = $t s ($(mbs "$t") MB/s) | $l s ($(mbs "$l") MB/s) | $rb s ($(mbs "$rb") MB/s) | $(ratio "$t" "$l")x time | $(ratio "$rb" "$t")x throughput |"
r=$(col rsync_small_now 1); s=$(col snap_small 1); l=$(col rsync_small_local 1); rb=$(col restic_small 1)
echo "| first rsync -a of the small files | $r s + snapshot $s s | $l s | $rb s | $(ratio "$(sum "$r" "$s")" "$l")x time | $(ratio "$rb" "$(sum "$r" "$s")")x |"
r=$(col rsync_noop_now 1); s=$(col snap_noop 1); l=$(col rsync_noop_local 1); rb=$(col restic_small_noop 1)
echo "| no-change rsync -a of the small files, warm | $r s (+ snapshot $s s) | $l s | $rb s | $(ratio "$r" "$l")x time | |"
r=$(col rsync_noop_now_again 1)
echo "| the same again (after the snapshot) | $r s | $l s | | $(ratio "$r" "$l")x time | |"
r=$(col rsync_noop_now_cold 1); l=$(col rsync_noop_local_cold 1)
echo "| no-change rsync -a of the small files, remount + cold cache | $r s | $l s | | $(ratio "$r" "$l")x time | |"
r=$(col canon_noop_now 1); l=$(col canon_noop_local 1)
echo "| no-change rsync -aHAX --delete (README), warm | $r s | $l s | | $(ratio "$r" "$l")x time | |"
r=$(col canon_noop_now_cold 1); l=$(col canon_noop_local_cold 1)
echo "| no-change rsync -aHAX --delete (README), remount + cold cache | $r s | $l s | | $(ratio "$r" "$l")x time | |"
echo
echo "Daemon peak RSS (VmHWM): $(rssmax big) MB after the 1.4 GB rsync + snapshot; $(rssmax small) MB on the cold no-change re-run. Repository after each run: $(sort -n "$N/repo.size" | tail -1) bytes."
echo
echo "All runs (seconds, sorted):"
for k in rsync_now snap_now rsync_small_now snap_small rsync_noop_now snap_noop rsync_noop_now_again canon_noop_now rsync_noop_now_cold canon_noop_now_cold rsync_local rsync_small_local rsync_noop_local canon_noop_local rsync_noop_local_cold canon_noop_local_cold restic_backup restic_small restic_small_noop; do
	echo "- $k: $(all $k)"
done
