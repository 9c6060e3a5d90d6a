#!/bin/bash
# SPDX-License-Identifier: MIT
# bench-floor.sh - what any FUSE file system, and any backup that chunks,
# compresses and encrypts, costs on this machine: the floors under the
# targets of bench-mount.sh and bench-now.sh. Not a test: prints markdown
# tables of medians for docs/benchmarks.md.
#
#   bash tools/bench-floor.sh [RUNS]       (default 3 runs per figure)
#
# Environment: DRFS, BENCH_DIR (default /var/tmp/drfs-bench), BENCH_SRC
# (default $BENCH_DIR/src), BENCH_SMALL (default $BENCH_DIR/m/small, both
# made by the other bench scripts). Needs root (drop_caches, FUSE), gcc and
# libfuse3-dev (tools/fusefloor.c is built here), restic for the last table.
#
# Figures, each against the same work on local disk, same run:
#   - cp -a of the ~1.4 GB tree out of tools/fusefloor (a FUSE file system
#     that only relays each request to the disk, configured as drfs mount)
#     and, when bench-mount.sh's repository is there, out of its drfs
#     snapshot of the same tree; cold page cache;
#   - no-change rsync -a of the small files into a fusefloor mount of an
#     identical copy: warm (second run on the mount), with a 0 s attribute
#     timeout for files (every lstat of a file a GETATTR round trip: what
#     the kernel forces on files renamed since their attributes were
#     cached, i.e. right after an rsync into now/), and on a fresh mount
#     with a cold page cache (every name a LOOKUP round trip; the copy
#     behind the mount is read into the page cache first, so the relay
#     itself never waits for the disk, while rsync to local disk reads
#     both trees cold); the README's rsync -aHAX --delete, warm; the same
#     re-runs into drfs's now/ after an rsync of the small files into it
#     (BENCH_FLOOR_NOW=0 skips them);
#   - CPU time of rsync -a of the big tree to local disk and of `drfs
#     backup` of it (the chunking, hashing, compression and encryption any
#     write into now/ has to do), against restic backup's wall time.
set -euo pipefail
RUNS=${1:-3}
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DRFS=${DRFS:-$TOP/build/release/drfs}
B=${BENCH_DIR:-/var/tmp/drfs-bench}
SRC=${BENCH_SRC:-$B/src}
SMALL=${BENCH_SMALL:-$B/m/small}
M=$B/m # bench-mount.sh's directory: drfs-repo, drfs-cache0
F=$B/floor
MNT=$F/mnt
export DRFS_PASSWORD=bench-pass RESTIC_PASSWORD=bench-pass

[ -d "$SRC" ] || { echo "no $SRC: run tools/bench-core.sh first" >&2; exit 1; }
[ -d "$SMALL" ] || { echo "no $SMALL: run tools/bench-now.sh first" >&2; exit 1; }
[ -x "$DRFS" ] || { echo "no $DRFS: build first" >&2; exit 1; }
mkdir -p "$F" "$MNT"
FPID=
cleanup() {
	set +e
	if mountpoint -q "$MNT"; then
		if [ -n "$FPID" ]; then fusermount3 -u "$MNT"; else "$DRFS" umount "$MNT"; fi
	fi
	[ -n "$FPID" ] && wait "$FPID" 2>/dev/null
	rm -rf "$F/out" "$F/repo" "$F/restic-repo" "$F/cache"
}
trap cleanup EXIT

gcc -std=gnu11 -O2 -Wall -Wextra -D_GNU_SOURCE -DFUSE_USE_VERSION=312 \
	-I"$TOP/include" -I"$TOP/src/fs" "$TOP/tools/fusefloor.c" "$TOP/src/fs/loop.c" \
	$(pkg-config --cflags --libs fuse3) -lpthread -o "$F/fusefloor"

drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
run() { # NAME CMD... : append "seconds user sys" to $F/res.NAME
	local name=$1
	shift
	/usr/bin/time -f '%e %U %S' -o "$F/time.out" "$@" >/dev/null 2>"$F/err.out" ||
		{ cat "$F/err.out" >&2; echo "failed: $*" >&2; exit 1; }
	cat "$F/time.out" >>"$F/res.$name"
	echo "$name: $(tail -1 "$F/res.$name")" >&2
}
floor_mount() { # DIR TIMEOUT
	"$F/fusefloor" "$1" "$MNT" "$2" &
	FPID=$!
	for _ in $(seq 100); do mountpoint -q "$MNT" && return; sleep 0.05; done
	echo "fusefloor did not mount" >&2
	exit 1
}
floor_umount() { fusermount3 -u "$MNT"; wait "$FPID" || true; FPID=; }
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
col() { [ -s "$F/res.$1" ] && awk -v c="$2" '{ print $c }' "$F/res.$1" | median || echo -; }
cpu() { [ -s "$F/res.$1" ] && awk '{ print $2 + $3 }' "$F/res.$1" | median || echo -; }
all() { [ -s "$F/res.$1" ] && awk '{ print $1 }' "$F/res.$1" | sort -n | paste -sd/ - || echo -; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-") print "-"; else printf "%.2f", a / b }'; }

SNAP=
if [ -d "$M/drfs-repo" ] && [ -d "$M/drfs-cache0" ]; then
	SNAP=snapshots/2026-01-01/000003 # bench-mount.sh's --time
fi
rm -f "$F"/res.*
rm -rf "$F/copy"
rsync -a "$SMALL/" "$F/copy/"
LOAD0=$(uptime)
echo "start: $LOAD0" >&2
for i in $(seq 1 "$RUNS"); do
	echo "--- run $i" >&2
	# cp -a of the big tree: disk, fusefloor, drfs (cold page cache)
	rm -rf "$F/out"; drop; run cp_disk cp -a "$SRC" "$F/out"
	rm -rf "$F/out"; drop; floor_mount "$SRC" 86400
	run cp_floor cp -a "$MNT" "$F/out"
	floor_umount
	if [ -n "$SNAP" ]; then
		rm -rf "$F/out" "$F/cache"; cp -a "$M/drfs-cache0" "$F/cache"
		drop; "$DRFS" mount "$M/drfs-repo" "$MNT" --cache-dir "$F/cache" >/dev/null
		run cp_drfs cp -a "$MNT/$SNAP" "$F/out"
		"$DRFS" umount "$MNT" >/dev/null
	fi
	rm -rf "$F/out" "$F/cache"

	# no-change rsync of the small files
	rsync -a "$SMALL/" "$F/copy/" # page cache warm for both trees
	run noop_local rsync -a "$SMALL/" "$F/copy/"
	run canon_local rsync -aHAX --delete "$SMALL/" "$F/copy/"
	drop; run noop_local_cold rsync -a "$SMALL/" "$F/copy/"
	drop; find "$F/copy" -ls >/dev/null
	floor_mount "$F/copy" 86400
	run noop_floor_cold rsync -a "$SMALL/" "$MNT/"
	run noop_floor rsync -a "$SMALL/" "$MNT/"
	run canon_floor rsync -aHAX --delete "$SMALL/" "$MNT/"
	floor_umount
	floor_mount "$F/copy" 0
	rsync -a "$SMALL/" "$MNT/" # names looked up: what is left is GETATTR
	run noop_floor_getattr rsync -a "$SMALL/" "$MNT/"
	floor_umount
	if [ "${BENCH_FLOOR_NOW:-1}" = 1 ]; then # the same into drfs's now/
		rm -rf "$F/repo" "$F/cache"; "$DRFS" init "$F/repo" >/dev/null
		"$DRFS" mount "$F/repo" "$MNT" --cache-dir "$F/cache" --no-snapshot-on-unmount >/dev/null
		rsync -a "$SMALL/" "$MNT/now/small/"
		run noop_now_after rsync -a "$SMALL/" "$MNT/now/small/"
		run noop_now rsync -a "$SMALL/" "$MNT/now/small/"
		run canon_now rsync -aHAX --delete "$SMALL/" "$MNT/now/small/"
		"$DRFS" umount "$MNT" >/dev/null
		drop; "$DRFS" mount "$F/repo" "$MNT" --cache-dir "$F/cache" --no-snapshot-on-unmount >/dev/null
		run noop_now_cold rsync -a "$SMALL/" "$MNT/now/small/"
		"$DRFS" umount "$MNT" >/dev/null
		rm -rf "$F/repo" "$F/cache"
	fi

	# CPU floor of a backup into now/
	rm -rf "$F/out"; drop; run rsync_local rsync -a "$SRC/" "$F/out/"
	rm -rf "$F/out" "$F/repo"; "$DRFS" init "$F/repo" >/dev/null
	drop; run drfs_backup "$DRFS" backup -q "$F/repo" "$SRC" --cache-dir "$F/cache"
	rm -rf "$F/repo" "$F/cache"
	if command -v restic >/dev/null; then
		rm -rf "$F/restic-repo"; restic init -q -r "$F/restic-repo" >/dev/null
		drop; run restic_backup restic -q -r "$F/restic-repo" backup "$SRC"
		rm -rf "$F/restic-repo"
	fi
done
rm -rf "$F/out" "$F/copy"
LOAD1=$(uptime)
echo "end: $LOAD1" >&2

echo
echo "Medians of $RUNS runs; $(nproc) cores; kernel $(uname -r); libfuse $(pkg-config --modversion fuse3); $(date -u +%F)"
echo "Load at start: ${LOAD0##*load average: }; at end: ${LOAD1##*load average: }"
echo
d=$(col cp_disk 1); f=$(col cp_floor 1); r=$(col cp_drfs 1)
echo "| cp -a of the big tree, cold | time | vs disk to disk |"
echo "|---|---|---|"
echo "| disk to disk | $d s | 1.00x |"
echo "| out of fusefloor | $f s | $(ratio "$f" "$d")x |"
echo "| out of a drfs snapshot | $r s | $(ratio "$r" "$d")x |"
echo
l=$(col noop_local 1); lc=$(col noop_local_cold 1); cl=$(col canon_local 1)
echo "| no-change rsync of the small files | local disk | fusefloor | floor / local | drfs now/ | drfs / local |"
echo "|---|---|---|---|---|---|"
row() { # LABEL FLOOR_KEY NOW_KEY LOCAL
	local f n
	f=$(col "$2" 1); n=$(col "$3" 1)
	echo "| $1 | $4 s | $f s | $(ratio "$f" "$4")x | $n s | $(ratio "$n" "$4")x |"
}
row "rsync -a, warm" noop_floor noop_now "$l"
row "rsync -a, a GETATTR per file (drfs: right after the copy)" noop_floor_getattr noop_now_after "$l"
row "rsync -a, fresh mount + cold cache" noop_floor_cold noop_now_cold "$lc"
row "rsync -aHAX --delete, warm" canon_floor canon_now "$cl"
echo
rl=$(col rsync_local 1); rc=$(cpu rsync_local); bc=$(cpu drfs_backup); rb=$(col restic_backup 1)
echo "| big tree, CPU floor | wall | CPU (user + sys) |"
echo "|---|---|---|"
echo "| rsync -a to local disk, cold | $rl s | $rc s |"
echo "| drfs backup | $(col drfs_backup 1) s | $bc s |"
echo "| restic backup | $rb s | $(cpu restic_backup) s |"
echo
echo "rsync's CPU + drfs backup's CPU = $(awk -v a="$rc" -v b="$bc" 'BEGIN { printf "%.2f", a + b }') CPU-s; on $(nproc) cores that is at least $(awk -v a="$rc" -v b="$bc" -v n="$(nproc)" 'BEGIN { printf "%.2f", (a + b) / n }') s of wall time, against 1.15 x local rsync = $(awk -v a="$rl" 'BEGIN { printf "%.2f", a * 1.15 }') s and restic / 1.25 = $(awk -v a="$rb" 'BEGIN { if (a == "-") print "-"; else printf "%.2f", a / 1.25 }') s."
echo
echo "All runs (seconds, sorted):"
for k in cp_disk cp_floor cp_drfs noop_local noop_floor noop_floor_getattr noop_local_cold noop_floor_cold canon_local canon_floor noop_now noop_now_after noop_now_cold canon_now rsync_local drfs_backup restic_backup; do
	echo "- $k: $(all $k)"
done
