#!/bin/bash
# SPDX-License-Identifier: MIT
# bench-mount.sh - read-path benchmark of `drfs mount` (issue 3), against the
# same tree on local disk, `restic restore`, `restic mount` and `borg mount`,
# on the same machine in the same run. Not a test: prints markdown tables of
# medians for docs/benchmarks.md.
#
#   bash tools/bench-mount.sh [RUNS]       (default 3 runs per figure)
#
# Environment: DRFS, BENCH_DIR (default /var/tmp/drfs-bench), BENCH_SRC
# (default $BENCH_DIR/src, made by bench-core.sh), BENCH_BORG=0 to skip
# borg (borg mount needs python3-llfuse), BENCH_RESTIC_MOUNT=0 to skip restic mount (it is slow).
#
# Figures:
#   - `ls -lR` of a 100 000-file snapshot (100 dirs x 1000 files): first run
#     on a fresh mount whose cache has never materialised the tree, second
#     run on the same mount, and a first run on a remount (tree already in
#     LMDB), against the same tree on local disk (cold, then warm);
#   - `ls -l` of single directories of 100, 10 000 and 100 000 entries;
#   - `cp -a` of the ~1.4 GB snapshot out of the mount (cold page cache)
#     against `restic restore`, `restic mount` + `cp -a`, `borg mount` +
#     `cp -a` and `cp -a` disk to disk; the same cp -a again right after
#     (page cache warm), drfs and disk to disk;
#   - the daemon's peak RSS (VmHWM) after browsing and after the copy.
# Needs root (drop_caches, FUSE).
set -euo pipefail
RUNS=${1:-3}
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DRFS=${DRFS:-$TOP/build/release/drfs}
B=${BENCH_DIR:-/var/tmp/drfs-bench}
SRC=${BENCH_SRC:-$B/src}
BORG=${BENCH_BORG:-1}
RMOUNT=${BENCH_RESTIC_MOUNT:-1}
M=$B/m
export DRFS_PASSWORD=bench-pass RESTIC_PASSWORD=bench-pass
export BORG_PASSPHRASE=bench-pass BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes
export BORG_RELOCATED_REPO_ACCESS_IS_OK=yes

[ -d "$SRC" ] || { echo "no $SRC: run tools/bench-core.sh first" >&2; exit 1; }
[ -x "$DRFS" ] || { echo "no $DRFS: build first" >&2; exit 1; }
mkdir -p "$M"
MNT=$M/mnt
RMNT=$M/rmnt
GMNT=$M/gmnt
mkdir -p "$MNT" "$RMNT" "$GMNT"
BGPIDS=()

cleanup() {
	set +e
	mountpoint -q "$MNT" && { "$DRFS" umount "$MNT" || fusermount3 -u -z "$MNT"; }
	for p in "${BGPIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	sleep 1
	fusermount3 -u -z "$RMNT" 2>/dev/null
	fusermount3 -u -z "$GMNT" 2>/dev/null
}
trap cleanup EXIT

drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
# run NAME CMD... : append "seconds load1" to $M/res.NAME
run() {
	local name=$1 l t0 t1
	shift
	l=$(cut -d' ' -f1 /proc/loadavg)
	t0=$(date +%s.%N)
	"$@" >/dev/null 2>"$M/err.out" ||
		{ cat "$M/err.out" >&2; echo "failed: $*" >&2; exit 1; }
	t1=$(date +%s.%N)
	echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }') $l" >>"$M/res.$name"
	echo "$name: $(tail -1 "$M/res.$name")" >&2
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
med() { [ -s "$M/res.$1" ] && awk '{ print $1 }' "$M/res.$1" | median || echo -; }
all() { [ -s "$M/res.$1" ] && awk '{ print $1 }' "$M/res.$1" | sort -n | paste -sd/ - || echo -; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0 || a == "-") print "-"; else printf "%.2f", a / b }'; }
mbs() { awk -v s="$SIZE" -v t="$1" 'BEGIN { if (t == "-") print "-"; else printf "%.0f", s / t / 1e6 }'; }

daemon_pid() { getfattr -n user.drfs.pid --only-values "$MNT" 2>/dev/null; }
hwm() { awk '/^VmHWM/ { print int($2 / 1024) }' "/proc/$1/status"; }
# "anon/file" MiB resident now: private memory / mapped file pages (for
# drfs: LMDB's map, page cache the kernel can reclaim)
rss_split() { awk '/^RssAnon/ { a = int($2 / 1024) } /^RssFile/ { f = int($2 / 1024) } END { print a "/" f }' "/proc/$1/status"; }
mount_drfs() { # CACHE
	"$DRFS" mount "$REPO" "$MNT" --cache-dir "$1" >/dev/null
	PID=$(daemon_pid)
	[ -n "$PID" ] || { echo "no daemon pid" >&2; exit 1; }
}
umount_drfs() { "$DRFS" umount "$MNT" >/dev/null; }
wait_for() { # PATH SECONDS
	local i
	for i in $(seq 1 $(( $2 * 10 ))); do
		[ -e "$1" ] && return 0
		sleep 0.1
	done
	echo "timeout waiting for $1" >&2
	exit 1
}

LOAD0=$(uptime)
echo "start: $LOAD0" >&2
SIZE=$(du -sb --apparent-size "$SRC" | cut -f1)

# --- the trees and repositories --------------------------------------------
SMALL=$M/small   # 100 dirs x 1000 files
FLAT=$M/flat     # one directory each of 100, 10 000, 100 000 entries
if [ ! -f "$M/trees.done" ]; then
	rm -rf "$SMALL" "$FLAT"
	python3 - "$SMALL" "$FLAT" <<'PY'
import os, random, sys
small, flat = sys.argv[1], sys.argv[2]
rnd = random.Random(7)
def mk(path, n):
    os.makedirs(path)
    for i in range(n):
        with open(os.path.join(path, "file-%06d.txt" % i), "wb") as fh:
            fh.write(rnd.randbytes(rnd.randint(0, 2048)))
for d in range(100):
    mk(os.path.join(small, "dir-%03d" % d), 1000)
for n in (100, 10000, 100000):
    mk(os.path.join(flat, "d%d" % n), n)
PY
	touch "$M/trees.done"
fi
REPO=$M/drfs-repo
CACHE0=$M/drfs-cache0    # the cache as the backups left it
if [ ! -f "$M/repos.done" ]; then
	rm -rf "$REPO" "$CACHE0" "$M/restic-repo" "$M/borg-repo"
	"$DRFS" init "$REPO" >/dev/null
	"$DRFS" backup -q "$REPO" "$SMALL" --cache-dir "$CACHE0" --time 2026-01-01T00:00:01Z --tag small >/dev/null
	"$DRFS" backup -q "$REPO" "$FLAT" --cache-dir "$CACHE0" --time 2026-01-01T00:00:02Z --tag flat >/dev/null
	"$DRFS" backup -q "$REPO" "$SRC" --cache-dir "$CACHE0" --time 2026-01-01T00:00:03Z --tag src >/dev/null
	restic init -q -r "$M/restic-repo" >/dev/null
	restic -q -r "$M/restic-repo" backup "$SRC" >/dev/null
	if [ "$BORG" = 1 ]; then
		borg init -e repokey "$M/borg-repo" >/dev/null 2>&1
		borg create "$M/borg-repo::src" "$SRC" 2>/dev/null
	fi
	touch "$M/repos.done"
fi
SNAP_SMALL=$MNT/snapshots/2026-01-01/000001
SNAP_FLAT=$MNT/snapshots/2026-01-01/000002
SNAP_SRC=$MNT/snapshots/2026-01-01/000003
CACHE=$M/drfs-cache

rm -f "$M"/res.* "$M"/rss.* "$M"/split.*
for i in $(seq 1 "$RUNS"); do
	echo "--- run $i" >&2
	# ls -lR: fresh cache (tree never materialised), same mount, remount
	rm -rf "$CACHE"; cp -a "$CACHE0" "$CACHE"
	drop; mount_drfs "$CACHE"
	run lsR_drfs_first ls -lR "$SNAP_SMALL"
	run lsR_drfs_second ls -lR "$SNAP_SMALL"
	for n in 100 10000 100000; do
		run "ls${n}_drfs_first" ls -l "$SNAP_FLAT/d$n"
		run "ls${n}_drfs_second" ls -l "$SNAP_FLAT/d$n"
	done
	hwm "$PID" >>"$M/rss.browse"
	rss_split "$PID" >>"$M/split.browse"
	umount_drfs
	drop; mount_drfs "$CACHE"
	run lsR_drfs_remount ls -lR "$SNAP_SMALL"
	umount_drfs
	drop
	run lsR_disk_first ls -lR "$SMALL"
	run lsR_disk_second ls -lR "$SMALL"
	for n in 100 10000 100000; do
		drop
		run "ls${n}_disk_first" ls -l "$FLAT/d$n"
		run "ls${n}_disk_second" ls -l "$FLAT/d$n"
	done

	# cp -a of the 1.4 GB snapshot, cold page cache, fresh drfs cache
	rm -rf "$CACHE" "$M/out"; cp -a "$CACHE0" "$CACHE"
	drop; mount_drfs "$CACHE"
	run cp_drfs cp -a "$SNAP_SRC" "$M/out"
	# again on the same mount: the kernel still caches the data
	rm -rf "$M/out"; sync
	run cp_drfs_warm cp -a "$SNAP_SRC" "$M/out"
	hwm "$PID" >>"$M/rss.cp"
	rss_split "$PID" >>"$M/split.cp"
	umount_drfs
	rm -rf "$M/out"
	drop; run cp_disk cp -a "$SRC" "$M/out"
	rm -rf "$M/out"; sync
	run cp_disk_warm cp -a "$SRC" "$M/out"
	rm -rf "$M/out"
	drop; run restore_restic restic -q -r "$M/restic-repo" restore latest --target "$M/out"
	rm -rf "$M/out"
	if [ "$RMOUNT" = 1 ]; then
		restic -q -r "$M/restic-repo" mount "$RMNT" >/dev/null 2>&1 &
		RPID=$!
		BGPIDS+=("$RPID")
		wait_for "$RMNT/snapshots/latest" 60
		drop
		run cp_resticmount cp -a "$RMNT/snapshots/latest$SRC" "$M/out"
		hwm "$RPID" >>"$M/rss.resticmount"
		kill "$RPID"; wait "$RPID" || true
		fusermount3 -u -z "$RMNT" 2>/dev/null || true
		rm -rf "$M/out"
	fi
	if [ "$BORG" = 1 ]; then
		borg mount -f "$M/borg-repo::src" "$GMNT" >/dev/null 2>&1 &
		GPID=$!
		BGPIDS+=("$GPID")
		wait_for "$GMNT${SRC}" 60
		drop
		run cp_borgmount cp -a "$GMNT$SRC" "$M/out"
		hwm "$GPID" >>"$M/rss.borgmount"
		borg umount "$GMNT" || fusermount3 -u -z "$GMNT"
		wait "$GPID" || true
		rm -rf "$M/out"
	fi
done
LOAD1=$(uptime)
echo "end: $LOAD1" >&2

rssmax() { [ -s "$M/rss.$1" ] && sort -n "$M/rss.$1" | tail -1 || echo -; }
echo
echo "Trees: $SIZE bytes in $(find "$SRC" -type f | wc -l) files (copy); 100 000 files in 100 dirs (ls -lR); medians of $RUNS runs; $(nproc) cores; $(date -u +%F)"
echo "Load at start: ${LOAD0##*load average: }; at end: ${LOAD1##*load average: }"
echo
echo "| figure | drfs mount | local disk | drfs / disk |"
echo "|---|---|---|---|"
for w in first second; do
	d=$(med lsR_drfs_$w); l=$(med lsR_disk_$w)
	echo "| ls -lR 100k files, $w run | $d s | $l s | $(ratio "$d" "$l")x |"
done
d=$(med lsR_drfs_remount)
echo "| ls -lR 100k files, remount (tree in LMDB), cold kernel cache | $d s | $(med lsR_disk_first) s | $(ratio "$d" "$(med lsR_disk_first)")x |"
for n in 100 10000 100000; do
	for w in first second; do
		d=$(med ls${n}_drfs_$w); l=$(med ls${n}_disk_$w)
		echo "| ls -l of a $n-entry directory, $w run | $d s | $l s | $(ratio "$d" "$l")x |"
	done
done
echo
echo "| copy out 1.4 GB (cold page cache) | time | MB/s | drfs throughput vs this |"
echo "|---|---|---|---|"
cd_=$(med cp_drfs)
for f in cp_drfs:"cp -a from drfs mount" cp_disk:"cp -a disk to disk" \
	restore_restic:"restic restore" cp_resticmount:"restic mount + cp -a" \
	cp_borgmount:"borg mount + cp -a"; do
	k=${f%%:*}; what=${f#*:}
	t=$(med "$k")
	echo "| $what | $t s | $(mbs "$t") | $(ratio "$t" "$cd_")x |"
done
d=$(med cp_drfs_warm); l=$(med cp_disk_warm)
echo
echo "cp -a again right after (page cache warm): drfs mount $d s, disk to disk $l s ($(ratio "$d" "$l")x)."
echo
echo "Peak RSS (VmHWM, MiB): drfs daemon after browsing $(rssmax browse), after the copy $(rssmax cp); restic mount $(rssmax resticmount); borg mount $(rssmax borgmount)"
echo "drfs daemon resident at the end, RssAnon/RssFile MiB per run: browsing $(paste -sd' ' "$M/split.browse"); copy $(paste -sd' ' "$M/split.cp")"
echo
echo "All runs (seconds, sorted):"
for k in lsR_drfs_first lsR_drfs_second lsR_drfs_remount lsR_disk_first lsR_disk_second cp_drfs cp_drfs_warm cp_disk cp_disk_warm restore_restic cp_resticmount cp_borgmount; do
	echo "- $k: $(all $k)"
done
