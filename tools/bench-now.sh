#!/bin/bash
# SPDX-License-Identifier: MIT
# bench-now.sh - write-path benchmark of the writable now/ (issues 4, 17):
# rsync into a mounted repository plus `drfs snapshot`, against `restic
# backup`, `borg create`, rsync to local disk and rsync into a FUSE relay,
# same machine, same run. Not a test: prints markdown tables of medians for
# docs/benchmarks.md.
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
#   - rsync -a of the ~1.4 GB tree and of the small files into now/ (cold
#     page cache) + `drfs snapshot`, with the daemon's CPU time (per GB,
#     per file), against restic backup and borg create -C zstd,3 of the
#     same trees (each column only when the tool is installed), rsync -a to
#     local disk, and rsync -a into tools/fusefloor (the write floor: a
#     FUSE relay to a local directory configured as drfs mount);
#   - a no-change rsync -a re-run over the small files (default 100 000 in
#     100 dirs x 1000; BENCH_SMALL_DIRS)
#     into now/, on the same mount (right after the copy, and again after
#     the snapshot) and after a remount with a cold page cache, against the
#     same re-run to local disk; then `drfs snapshot`; the same for the
#     README's command, rsync -aHAX --delete;
#   - the daemon's peak RSS (VmHWM).
#
#   bash tools/bench-now.sh cores [RUNS]
#
# The daemon's throughput on 1 core (`taskset -c 0 drfs mount`) and on
# all of them, alternating, RUNS each (default 3): rsync -a of BENCH_SRC
# into now/ of a fresh repository (cold page cache) + `drfs snapshot`,
# wall time, MB/s, the daemon's CPU-s and its CPU-s per wall second; and,
# from the last 2-core run, the daemon's CPU by thread name (drfs-chunk:
# the now/ chunker, one thread; drfs-seal: the writer's workers, hashing,
# compressing, encrypting; drfs-upload; drfs: the FUSE loop's threads;
# "exited": threads gone before the end, FUSE threads mostly), the
# profile that says what more cores would give.
#
#   bash tools/bench-now.sh loop [RUNS]
#
# drfs's FUSE loop (src/fs/loop.c) against libfuse's (the mount started
# with DRFS_FUSE_LOOP=libfuse), alternating, RUNS each (default 3): rsync
# -a into now/ of a fresh repository (cold page cache) + `drfs snapshot`
# of 10 000 of the small files and of BENCH_SRC, wall time, the daemon's
# CPU-s and its RssAnon peak.
#
#   bash tools/bench-now.sh uring [RUNS]
#
# FUSE over io_uring (the mount started with DRFS_FUSE_URING=1) against
# /dev/fuse, alternating, RUNS each (default 3), as `loop` does (same
# trees, same figures), and in both modes a row for the README's
# no-change `rsync -aHAX --delete` over the 10 000 small files, warm
# (its time and the daemon's CPU). Needs the fuse module's enable_uring
# parameter set (echo Y >/sys/module/fuse/parameters/enable_uring). The main run
# uses io_uring for drfs and the relay when DRFS_FUSE_URING=1 is in the
# environment and the parameter is set, and says which it used.
#
#   bash tools/bench-now.sh level [RUNS]
#
# The repository's zstd level (`drfs init --compression L`, for L in
# BENCH_LEVELS, default "3 2 1") against restic backup (its default
# compression, auto), in a rotating order, RUNS each (default 3): rsync -a
# of BENCH_SRC into now/ of a fresh repository (cold page cache) + `drfs
# snapshot`, or `restic backup` of it into a fresh restic repository;
# wall time, the daemon's CPU-s and CPU-s per GB, and the repository's
# size: what a cheaper level buys in time and costs in space.
#
#   bash tools/bench-now.sh profile [N...]
#
# Untimed per-file figures, meaningful on a busy machine (wall time is
# not): for each N (default 25000 100000) small files (BENCH_PROFILE_FILES
# overrides the default list), rsync -a into now/ of a fresh repository +
# `drfs snapshot`, and the daemon's CPU time (utime + stime from
# /proc/PID/stat) per file, LMDB write transactions per file (the
# txnid of the cache's data.mdb), the RssAnon and RssFile peaks (sampled
# every 0.2 s) and the repository's size; then the FUSE requests per file
# by opcode (a second mount with -d, BENCH_PROFILE_REQ files, default
# 2000); then, when BENCH_SRC exists, the daemon's CPU per GB over rsync
# -a of that tree + snapshot, the relay floor's, and `drfs backup`'s CPU
# per GB on the same tree (`profile 0`: that tree only, no small files).
# DRFS_MEM_STAGING and the like pass through.
set -euo pipefail
PROFILE=
CORES=
LOOP=
LEVEL=
if [ "${1:-}" = profile ]; then
	PROFILE=1
	shift
elif [ "${1:-}" = cores ]; then
	CORES=1
	shift
elif [ "${1:-}" = loop ]; then
	LOOP=loop
	shift
elif [ "${1:-}" = uring ]; then
	LOOP=uring
	shift
elif [ "${1:-}" = level ]; then
	LEVEL=1
	shift
fi
URING_PARAM=/sys/module/fuse/parameters/enable_uring
TRANSPORT=/dev/fuse
[ "$(cat "$URING_PARAM" 2>/dev/null)" = Y ] &&
	[ "${DRFS_FUSE_URING:-}" = 1 ] && TRANSPORT=io_uring
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

[ -x "$DRFS" ] || { echo "no $DRFS: build first" >&2; exit 1; }
mkdir -p "$N" "$MNT"
SAMPLER=
cleanup() {
	set +e
	[ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null
	mountpoint -q "$MNT" && { "$DRFS" umount "$MNT" || fusermount3 -u -z "$MNT"; }
}
trap cleanup EXIT

# make_small DIR NDIRS: NDIRS directories of 1000 files of 0-2048 random
# bytes (the same files for the same NDIRS)
make_small() {
	[ -d "$1" ] && return 0
	python3 - "$1" "$2" <<'PY'
import os, random, sys
rnd = random.Random(7)
for d in range(int(sys.argv[2])):
    p = os.path.join(sys.argv[1], "dir-%03d" % d)
    os.makedirs(p)
    for i in range(1000):
        with open(os.path.join(p, "file-%06d.txt" % i), "wb") as fh:
            fh.write(rnd.randbytes(rnd.randint(0, 2048)))
PY
}

# ---- profile: per-file figures, no timing -------------------------------
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# write transactions LMDB committed so far: the newer meta page's txnid
txnid() {
	python3 - "$1" <<'PY'
import struct, sys
with open(sys.argv[1], "rb") as f:
    b = f.read(8192)
print(max(struct.unpack_from("<Q", b, o + 144)[0] for o in (0, 4096)))
PY
}
# sample PID's RssAnon and RssFile (kB) into FILE every 0.2 s
start_sampler() {
	local pid=$1 out=$2
	: >"$out"
	(while kill -0 "$pid" 2>/dev/null; do
		awk '/^RssAnon|^RssFile/ { printf "%s ", $2 } END { print "" }' \
			"/proc/$pid/status" >>"$out" 2>/dev/null || break
		sleep 0.2
	done) &
	SAMPLER=$!
}
stop_sampler() { kill "$SAMPLER" 2>/dev/null; wait "$SAMPLER" 2>/dev/null || :; SAMPLER=; }
peak() { awk -v c="$2" 'NF >= 2 && $c > m { m = $c } END { printf "%.1f", m / 1024 }' "$1"; }
mount_fresh() {
	rm -rf "$N/repo" "$N/cache"
	"$DRFS" init "$N/repo" >/dev/null 2>&1
	"$DRFS" mount "$N/repo" "$MNT" --cache-dir "$N/cache" >/dev/null
	PID=$(getfattr -n user.drfs.pid --only-values "$MNT" 2>/dev/null)
	[ -n "$PID" ] || { echo "no daemon pid" >&2; exit 1; }
}
# profile_copy LABEL SRC FILES BYTES: rsync SRC into now/ of a fresh
# repository + snapshot; prints a table row
profile_copy() {
	local label=$1 src=$2 files=$3 bytes=$4 tk=$(getconf CLK_TCK) c0 c1 x0 x1
	mount_fresh
	start_sampler "$PID" "$N/rss.sample"
	c0=$(cpu_ticks "$PID"); x0=$(txnid "$N/cache/data.mdb")
	rsync -a "$src/" "$MNT/now/t/"
	"$DRFS" snapshot "$MNT" >/dev/null
	c1=$(cpu_ticks "$PID"); x1=$(txnid "$N/cache/data.mdb")
	stop_sampler
	"$DRFS" umount "$MNT"
	awk -v l="$label" -v f="$files" -v b="$bytes" -v c=$((c1 - c0)) \
		-v tk="$tk" -v x=$((x1 - x0)) -v ra="$(peak "$N/rss.sample" 1)" \
		-v rf="$(peak "$N/rss.sample" 2)" -v rs="$(du -sb "$N/repo" | cut -f1)" \
		'BEGIN { printf "| %s | %d | %.2f | %.0f | %.1f | %.2f | %s | %s | %.1f |\n",
		l, f, c / tk, c / tk / f * 1e6, c / tk / (b / 1e9), x / f, ra, rf,
		rs / 1e6 }'
}
# profile_floor LABEL SRC FILES BYTES: the same rsync into tools/fusefloor
# (a FUSE relay that does no work of its own) over a directory on tmpfs
# (BENCH_FLOOR_DIR, default /dev/shm/drfs-floor): its CPU is what the FUSE
# round trips cost, the floor under the daemon's. (On a disk, the relay
# also pays for the file system's work, and on the journal-less ext4 of
# the benchmark machine several times that right after a deletion: see
# BENCH_SETTLE below.)
FLOOR=${BENCH_FLOOR_DIR:-/dev/shm/drfs-floor}
profile_floor() {
	local label=$1 src=$2 files=$3 bytes=$4 tk=$(getconf CLK_TCK) c0 c1 fp
	rm -rf "$FLOOR"
	mkdir -p "$FLOOR"
	"$N/fusefloor" "$FLOOR" "$MNT" &
	fp=$!
	for _ in $(seq 1 100); do mountpoint -q "$MNT" && break; sleep 0.1; done
	start_sampler "$fp" "$N/rss.sample"
	c0=$(cpu_ticks "$fp")
	rsync -a "$src/" "$MNT/t/"
	c1=$(cpu_ticks "$fp")
	stop_sampler
	fusermount3 -u "$MNT"
	wait "$fp" || :
	awk -v l="$label" -v f="$files" -v b="$bytes" -v c=$((c1 - c0)) \
		-v tk="$tk" -v ra="$(peak "$N/rss.sample" 1)" \
		-v rf="$(peak "$N/rss.sample" 2)" \
		'BEGIN { printf "| %s | %d | %.2f | %.0f | %.1f | - | %s | %s | - |\n",
		l, f, c / tk, c / tk / f * 1e6, c / tk / (b / 1e9), ra, rf }'
	rm -rf "$FLOOR"
}
# profile_backup LABEL SRC FILES BYTES: `drfs backup` of SRC into a fresh
# repository and cache: its CPU (user + sys, /usr/bin/time), the floor the
# daemon's CPU per GB is compared with (same chunker, writer, zstd level)
profile_backup() {
	local label=$1 src=$2 files=$3 bytes=$4 u s
	rm -rf "$N/repo" "$N/bcache"
	"$DRFS" init "$N/repo" >/dev/null 2>&1
	/usr/bin/time -f '%U %S' -o "$N/time.out" "$DRFS" backup "$N/repo" \
		"$src" --cache-dir "$N/bcache" >/dev/null 2>"$N/err.out" ||
		{ cat "$N/err.out" >&2; exit 1; }
	read -r u s <"$N/time.out"
	awk -v l="$label" -v f="$files" -v b="$bytes" -v c="$(echo "$u $s" |
		awk '{ print $1 + $2 }')" -v rs="$(du -sb "$N/repo" | cut -f1)" \
		'BEGIN { printf "| %s | %d | %.2f | %.0f | %.1f | - | - | - | %.1f |\n",
		l, f, c, c / f * 1e6, c / (b / 1e9), rs / 1e6 }'
	rm -rf "$N/bcache"
}
# profile_requests FILES: FUSE requests per file by opcode, from a mount
# with -d over the first FILES/1000 directories of the small files
profile_requests() {
	local files=$1 dirs=$(($1 / 1000)) src=$N/req-src d
	rm -rf "$src" "$N/repo" "$N/cache"
	mkdir -p "$src"
	for d in $(seq 0 $((dirs - 1))); do
		cp -a "$SMALL_P/$(printf dir-%03d "$d")" "$src/"
	done
	"$DRFS" init "$N/repo" >/dev/null 2>&1
	"$DRFS" mount -d "$N/repo" "$MNT" --cache-dir "$N/cache" \
		>/dev/null 2>"$N/fuse.log" &
	for _ in $(seq 1 100); do mountpoint -q "$MNT" && break; sleep 0.1; done
	mkdir "$MNT/now/t"
	local l0=$(wc -l <"$N/fuse.log")
	rsync -a "$src/" "$MNT/now/t/"
	"$DRFS" snapshot "$MNT" >/dev/null
	"$DRFS" umount "$MNT"
	wait
	echo "FUSE requests per file (rsync -a of $files small files + snapshot, \`drfs mount -d\`):"
	echo
	echo "| opcode | requests | per file |"
	echo "|---|---|---|"
	tail -n +"$((l0 + 1))" "$N/fuse.log" |
		sed -n 's/.*opcode: \([A-Z_]*\) .*/\1/p' | sort | uniq -c |
		sort -rn | awk -v f="$files" '{ t += $1
			printf "| %s | %d | %.2f |\n", $2, $1, $1 / f }
			END { printf "| all | %d | %.2f |\n", t, t / f }'
	rm -rf "$src"
}
if [ -n "$PROFILE" ]; then
	[ $# -gt 0 ] || set -- ${BENCH_PROFILE_FILES:-25000 100000}
	echo "Daemon per file ($DRFS, $(date -u +%F), load $(cut -d' ' -f1-3 /proc/loadavg)):"
	echo
	echo "| tree | files | daemon CPU-s | µs per file | CPU-s per GB | LMDB txns per file | RssAnon peak MiB | RssFile peak MiB | repository MB |"
	echo "|---|---|---|---|---|---|---|---|---|"
	gcc -std=gnu11 -O2 -Wall -Wextra -D_GNU_SOURCE -DFUSE_USE_VERSION=312 \
		-I"$TOP/include" -I"$TOP/src/fs" "$TOP/tools/fusefloor.c" "$TOP/src/fs/loop.c" \
		$(pkg-config --cflags --libs fuse3) -lpthread -o "$N/fusefloor"
	for f in "$@"; do
		[ "$f" -gt 0 ] || continue # profile 0: BENCH_SRC only
		SMALL_P=$B/m/small-$f
		make_small "$SMALL_P" $((f / 1000))
		find "$SMALL_P" -type f -exec cat {} + >/dev/null # page cache
		sz=$(du -sb --apparent-size "$SMALL_P" | cut -f1)
		profile_copy "small files, drfs now/" "$SMALL_P" "$f" "$sz"
		profile_floor "small files, relay floor" "$SMALL_P" "$f" "$sz"
	done
	if [ -d "$SRC" ]; then
		f=$(find "$SRC" -type f | wc -l)
		sz=$(du -sb --apparent-size "$SRC" | cut -f1)
		find "$SRC" -type f -exec cat {} + >/dev/null # page cache
		profile_copy "$SRC, drfs now/" "$SRC" "$f" "$sz"
		profile_floor "$SRC, relay floor" "$SRC" "$f" "$sz"
		profile_backup "$SRC, drfs backup" "$SRC" "$f" "$sz"
	fi
	REQ=${BENCH_PROFILE_REQ:-2000}
	[ "$1" -gt 0 ] || REQ=0
	if [ "$REQ" -gt 0 ]; then
		echo
		SMALL_P=$B/m/small-$1
		profile_requests "$REQ"
	fi
	rm -rf "$N/repo" "$N/cache"
	exit 0
fi

[ -d "$SRC" ] || { echo "no $SRC: run tools/bench-core.sh first" >&2; exit 1; }

# BENCH_DROP=0: no page-cache drops (to try the script on a shared machine;
# the figures are then not cold-cache ones)
drop() { [ "${BENCH_DROP:-1}" = 0 ] || { sync; echo 3 >/proc/sys/vm/drop_caches; }; }
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
ratio() { case "$1$2" in *-*) echo - ;; *) awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }' ;; esac; }
SIZE=$(du -sb --apparent-size "$SRC" | cut -f1)
mbs() { awk -v s="$SIZE" -v t="$1" 'BEGIN { printf "%.0f", s / t / 1e6 }'; }
hwm() { awk '/^VmHWM/ { print int($2 / 1024) }' "/proc/$1/status"; }
mount_drfs() { # [PREFIX...]: e.g. taskset -c 0
	"$@" "$DRFS" mount "$N/repo" "$MNT" --cache-dir "$N/cache" >/dev/null
	PID=$(getfattr -n user.drfs.pid --only-values "$MNT" 2>/dev/null)
	[ -n "$PID" ] || { echo "no daemon pid" >&2; exit 1; }
}

# fresh_copy TREE [PREFIX...]: a fresh repository mounted (PREFIX: e.g.
# taskset -c 0, or env VAR=...), then rsync -a of TREE into now/ (cold
# page cache) + `drfs snapshot`; sets WALL and CPU (the daemon's), in
# seconds, and leaves it mounted. FRESH_SAMPLE=1: RssAnon sampled into
# $N/rss.sample meanwhile.
# mark: note the time and the daemon's CPU; since_mark: WALL and CPU
# (seconds) since then
mark() { MARK_C=$(cpu_ticks "$PID"); MARK_T=$(date +%s.%N); }
since_mark() {
	WALL=$(awk -v a="$MARK_T" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
	CPU=$(awk -v c=$(($(cpu_ticks "$PID") - MARK_C)) -v tk="$(getconf CLK_TCK)" \
		'BEGIN { printf "%.2f", c / tk }')
}
fresh_copy() {
	local tree=$1
	shift
	rm -rf "$N/repo" "$N/cache"
	sync
	sleep "${BENCH_SETTLE:-61}" # see the main runs below
	# FRESH_INIT: options of drfs init, e.g. "--compression 1"
	# shellcheck disable=SC2086
	"$DRFS" init ${FRESH_INIT:-} "$N/repo" >/dev/null 2>&1
	mount_drfs "$@"
	[ "${FRESH_SAMPLE:-0}" = 1 ] && start_sampler "$PID" "$N/rss.sample"
	drop
	mark
	rsync -a "$tree/" "$MNT/now/src/"
	"$DRFS" snapshot "$MNT" >/dev/null
	since_mark
	[ "${FRESH_SAMPLE:-0}" = 1 ] && stop_sampler
	return 0
}

# ---- cores: throughput on 1 core and on all -------------------------------
# thread_cpu PID: "name CPU-s" per thread name of PID, and "exited"
thread_cpu() {
	local tk total t n st
	tk=$(getconf CLK_TCK)
	total=$(cpu_ticks "$1")
	for t in /proc/"$1"/task/*; do
		# a thread may end meanwhile (then it counts as exited); comm
		# may hold spaces: the fields after its ")" are fixed
		n=$(cat "$t/comm" 2>/dev/null) && st=$(cat "$t/stat" 2>/dev/null) ||
			continue
		sed 's/^.*) //' <<<"$st" | awk -v n="$n" '{ print n, $12 + $13 }'
	done | awk -v tk="$tk" -v total="$total" '
		{ c[$1] += $2; s += $2 }
		END {
			for (n in c) printf "%s %.2f\n", n, c[n] / tk
			printf "exited %.2f\n", (total - s) / tk
		}' | sort
}
if [ -n "$CORES" ]; then
	[ -d "$SRC" ] || { echo "no $SRC" >&2; exit 1; }
	NCPU=$(nproc)
	rm -f "$N"/res.cores*
	for i in $(seq 1 "$RUNS"); do
		order="1 $NCPU"
		[ $((i % 2)) = 0 ] && order="$NCPU 1"
		for c in $order; do
			pin=()
			[ "$c" = 1 ] && pin=(taskset -c 0)
			fresh_copy "$SRC" "${pin[@]}"
			[ "$c" = "$NCPU" ] && thread_cpu "$PID" >"$N/threads.out"
			"$DRFS" umount "$MNT"
			echo "$WALL $CPU" >>"$N/res.cores$c"
			echo "cores $c: $(tail -1 "$N/res.cores$c")" >&2
		done
	done
	echo "Daemon on 1 core and on $NCPU ($DRFS, $(date +%F), $RUNS runs" \
		"each, alternating; $SRC, $(awk -v s="$SIZE" \
		'BEGIN { printf "%.3f GB", s / 1e9 }')):"
	echo
	echo "| daemon's cores | rsync + snapshot, s (runs) | MB/s | daemon CPU-s | daemon CPU-s per wall s |"
	echo "|---|---|---|---|---|"
	for c in 1 "$NCPU"; do
		w=$(col "cores$c" 1)
		cpu=$(col "cores$c" 2)
		echo "| $c | $w ($(all "cores$c")) | $(mbs "$w") | $cpu |" \
			"$(ratio "$cpu" "$w") |"
	done
	echo
	echo "Daemon CPU by thread, last $NCPU-core run:"
	echo
	echo "| thread | CPU-s |"
	echo "|---|---|"
	awk '{ printf "| %s | %s |\n", $1, $2 }' "$N/threads.out"
	rm -rf "$N/repo" "$N/cache"
	exit 0
fi

# ---- level: the repository's zstd level, against restic ------------------
if [ -n "$LEVEL" ]; then
	[ -d "$SRC" ] || { echo "no $SRC" >&2; exit 1; }
	command -v restic >/dev/null || { echo "no restic" >&2; exit 1; }
	read -r -a levels <<<"${BENCH_LEVELS:-3 2 1}"
	variants=(restic "${levels[@]}")
	rm -f "$N"/res.level.*
	for i in $(seq 1 "$RUNS"); do
		# rotate the order by one each run
		order=()
		for j in "${!variants[@]}"; do
			order+=("${variants[$(((i - 1 + j) % ${#variants[@]}))]}")
		done
		for v in "${order[@]}"; do
			if [ "$v" = restic ]; then
				rm -rf "$N/restic-repo"
				sync
				sleep "${BENCH_SETTLE:-61}"
				restic init -q -r "$N/restic-repo" >/dev/null
				drop
				run level.restic.time restic -q -r "$N/restic-repo" \
					backup "$SRC"
				WALL=$(tail -1 "$N/res.level.restic.time" | cut -d' ' -f1)
				CPU=-
				sz=$(du -sb "$N/restic-repo" | cut -f1)
				rm -rf "$N/restic-repo"
			else
				FRESH_INIT="--compression $v" fresh_copy "$SRC"
				"$DRFS" umount "$MNT"
				sz=$(du -sb "$N/repo" | cut -f1)
			fi
			echo "$WALL $CPU $sz" >>"$N/res.level.$v"
			echo "level $v: $(tail -1 "$N/res.level.$v")" >&2
		done
	done
	echo "zstd level of the repository against restic ($DRFS, $(date +%F)," \
		"$RUNS runs each, rotating; $SRC, $(awk -v s="$SIZE" \
		'BEGIN { printf "%.3f GB", s / 1e9 }')):"
	echo
	echo "| variant | rsync + snapshot, s (runs) | daemon CPU-s | CPU-s per GB | repository bytes | size vs level ${levels[0]} | time vs restic |"
	echo "|---|---|---|---|---|---|---|"
	rw=$(col level.restic 1)
	s0=$(col "level.${levels[0]}" 3)
	for v in "${variants[@]}"; do
		w=$(col "level.$v" 1)
		cpu=$(col "level.$v" 2)
		per=-
		[ "$v" = restic ] ||
			per=$(awk -v c="$cpu" -v s="$SIZE" 'BEGIN { printf "%.2f", c / (s / 1e9) }')
		name="drfs now/, --compression $v"
		[ "$v" = restic ] && name="restic backup (compression auto)"
		echo "| $name | $w ($(all "level.$v")) | $cpu | $per |" \
			"$(col "level.$v" 3) | $(ratio "$(col "level.$v" 3)" "$s0") |" \
			"$(ratio "$w" "$rw") |"
	done
	rm -rf "$N/repo" "$N/cache"
	exit 0
fi

# ---- loop: drfs's FUSE loop against libfuse's; uring: io_uring or not -----
if [ -n "$LOOP" ]; then
	[ -d "$SRC" ] || { echo "no $SRC" >&2; exit 1; }
	if [ "$LOOP" = uring ] &&
		[ "$(cat "$URING_PARAM" 2>/dev/null)" != Y ]; then
		echo "the kernel does not allow FUSE over io_uring ($URING_PARAM)" >&2
		exit 1
	fi
	base=libfuse other=drfs basepre=(env DRFS_FUSE_LOOP=libfuse)
	otherpre=(env)
	if [ "$LOOP" = uring ]; then
		base=devfuse other=uring basepre=(env -u DRFS_FUSE_URING)
		otherpre=(env DRFS_FUSE_URING=1)
	fi
	make_small "$B/m/small-10000" 10
	rm -f "$N"/res.loop*
	for tree in small "$SRC"; do
		t=$tree
		[ "$tree" = small ] && t=$B/m/small-10000
		for i in $(seq 1 "$RUNS"); do
			order="$base $other"
			[ $((i % 2)) = 0 ] && order="$other $base"
			for v in $order; do
				pre=("${otherpre[@]}")
				[ "$v" = "$base" ] && pre=("${basepre[@]}")
				FRESH_SAMPLE=1 fresh_copy "$t" "${pre[@]}"
				k=loop.${tree//\//_}.$v
				echo "$WALL $CPU $(peak "$N/rss.sample" 1)" >>"$N/res.$k"
				echo "$k: $(tail -1 "$N/res.$k")" >&2
				if [ "$tree" = small ]; then
					# the README's no-change re-run, warm: once
					# to warm, then timed with the daemon's CPU
					rsync -aHAX --delete "$t/" "$MNT/now/src/"
					mark
					rsync -aHAX --delete "$t/" "$MNT/now/src/"
					since_mark
					echo "$WALL $CPU" >>"$N/res.$k.noop"
					echo "$k.noop: $(tail -1 "$N/res.$k.noop")" >&2
				fi
				"$DRFS" umount "$MNT"
			done
		done
	done
	if [ "$LOOP" = uring ]; then
		echo "FUSE over io_uring against /dev/fuse ($DRFS, $(date +%F)," \
			"$RUNS runs each, alternating):"
	else
		echo "FUSE loops ($DRFS, $(date +%F), $RUNS runs each, alternating):"
	fi
	echo
	echo "| tree | variant | rsync + snapshot, s (runs) | daemon CPU-s | RssAnon peak MiB | time vs $base |"
	echo "|---|---|---|---|---|---|"
	for tree in small small.noop "$SRC"; do
		k=loop.${tree//\//_}
		sfx=
		name=$tree
		[ "$tree" = small ] && name="10 000 small files"
		if [ "$tree" = small.noop ]; then
			k=loop.small sfx=.noop
			name="10 000 small files: no-change rsync -aHAX --delete, warm (no snapshot)"
		fi
		lw=$(col "$k.$base$sfx" 1)
		for v in "$base" "$other"; do
			w=$(col "$k.$v$sfx" 1)
			rss=$(col "$k.$v" 3)
			[ -n "$sfx" ] && rss=-
			echo "| $name | $v | $w ($(all "$k.$v$sfx")) |" \
				"$(col "$k.$v$sfx" 2) | $rss | $(ratio "$w" "$lw") |"
		done
	done
	rm -rf "$N/repo" "$N/cache"
	exit 0
fi

# can this build write to now/?
rm -rf "$N/repo" "$N/cache"
"$DRFS" init "$N/repo" >/dev/null 2>&1
mount_drfs
if ! touch "$MNT/now/.probe" 2>/dev/null; then
	echo "now/ is not writable in this build: nothing to measure" >&2
	exit 3
fi
rm -f "$MNT/now/.probe"
"$DRFS" umount "$MNT"

make_small "$SMALL" "$SMALL_DIRS"
gcc -std=gnu11 -O2 -Wall -Wextra -D_GNU_SOURCE -DFUSE_USE_VERSION=312 \
	-I"$TOP/include" -I"$TOP/src/fs" "$TOP/tools/fusefloor.c" "$TOP/src/fs/loop.c" \
	$(pkg-config --cflags --libs fuse3) -lpthread -o "$N/fusefloor"
# floor_run NAME SRC DEST: rsync -a SRC into DEST below a tools/fusefloor
# mount of $N/floor-back (the write floor: a relay to the local disk that
# does no work; emptied at the start of each run, before the settle)
floor_run() {
	local fp
	mkdir -p "$N/floor-back"
	"$N/fusefloor" "$N/floor-back" "$MNT" &
	fp=$!
	for _ in $(seq 1 100); do mountpoint -q "$MNT" && break; sleep 0.1; done
	drop; run "$1" rsync -a "$2/" "$MNT/$3/"
	fusermount3 -u "$MNT"
	wait "$fp" || :
}
# cpu_mark NAME: append the daemon's CPU seconds since the last mark
cpu_mark() {
	local c
	c=$(awk -v tk="$(getconf CLK_TCK)" '{ print ($14 + $15) / tk }' "/proc/$PID/stat")
	awk -v a="$c" -v b="${CPU0:-0}" 'BEGIN { print a - b }' >>"$N/res.$1"
	CPU0=$c
}
HAVE_RESTIC=$(command -v restic || :)
HAVE_BORG=$(command -v borg || :)
export BORG_PASSPHRASE=bench-pass BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes

LOAD0=$(uptime)
echo "start: $LOAD0" >&2
rm -f "$N"/res.* "$N"/rss.*
for i in $(seq 1 "$RUNS"); do
	echo "--- run $i" >&2
	rm -rf "$N/repo" "$N/cache" "$N/local" "$N/restic-repo" "$N/borg-repo" \
		"$N/floor-back"
	# On ext4 without a journal, creating an inode skips (and reads the
	# inode-table block of) every inode freed in the last
	# dirty_expire_centisecs (30 s; measured: 31 s after a sync was not
	# enough while new inodes dirtied the same inode-table blocks): files
	# created right after a large rm -rf cost several times more. The
	# local-disk runs below start long after any deletion, so give drfs
	# the same start.
	sync
	sleep "${BENCH_SETTLE:-61}"
	floor_run rsync_floor "$SRC" src
	floor_run rsync_small_floor "$SMALL" small
	"$DRFS" init "$N/repo" >/dev/null 2>&1
	mount_drfs
	CPU0=; cpu_mark cpu_none
	drop; run rsync_now rsync -a "$SRC/" "$MNT/now/src/"
	run snap_now "$DRFS" snapshot "$MNT"
	cpu_mark cpu_big
	hwm "$PID" >>"$N/rss.big"
	run rsync_small_now rsync -a "$SMALL/" "$MNT/now/small/"
	run snap_small "$DRFS" snapshot "$MNT"
	cpu_mark cpu_small
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

	if [ -n "$HAVE_RESTIC" ]; then
		restic init -q -r "$N/restic-repo" >/dev/null
		drop; run restic_backup restic -q -r "$N/restic-repo" backup "$SRC"
		run restic_small restic -q -r "$N/restic-repo" backup "$SMALL"
		run restic_small_noop restic -q -r "$N/restic-repo" backup "$SMALL"
		rm -rf "$N/restic-repo"
	fi
	if [ -n "$HAVE_BORG" ]; then
		borg init -e repokey "$N/borg-repo" >/dev/null 2>&1
		drop; run borg_backup borg create -C zstd,3 "$N/borg-repo::big" "$SRC"
		drop; run borg_small borg create -C zstd,3 "$N/borg-repo::small" "$SMALL"
		rm -rf "$N/borg-repo"
	fi
done
rm -rf "$N/repo" "$N/cache" "$N/floor-back"
LOAD1=$(uptime)
echo "end: $LOAD1" >&2

rssmax() { sort -n "$N/rss.$1" | tail -1; }
sum() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a + b }'; }
echo
echo "Tree: $SIZE bytes, $(find "$SRC" -type f | wc -l) files; small tree $(find "$SMALL" -type f | wc -l) files; medians of $RUNS runs; $(nproc) cores; $(date -u +%F)"
echo "Load at start: ${LOAD0##*load average: }; at end: ${LOAD1##*load average: }"
echo "FUSE transport of drfs and the relay: $TRANSPORT"
echo
NSMALL=$(find "$SMALL" -type f | wc -l)
secs() { [ "$1" = - ] && echo - || echo "$1 s"; }
times() { [ "$1" = - ] && echo - || echo "$1x time"; }
r=$(col rsync_now 1); s=$(col snap_now 1); t=$(sum "$r" "$s")
l=$(col rsync_local 1); rb=$(col restic_backup 1); fl=$(col rsync_floor 1); bo=$(col borg_backup 1)
echo "| figure | drfs now/ | local disk | relay floor | restic backup | borg create | drfs vs restic | drfs vs floor |"
echo "|---|---|---|---|---|---|---|---|"
echo "| rsync -a 1.4 GB (cold cache) | $r s + snapshot $s s = $t s ($(mbs "$t") MB/s) | $l s | $fl s | $(secs "$rb") | $(secs "$bo") | $(times "$(ratio "$t" "$rb")") | $(times "$(ratio "$t" "$fl")") |"
r=$(col rsync_small_now 1); s=$(col snap_small 1); t=$(sum "$r" "$s")
l=$(col rsync_small_local 1); rb=$(col restic_small 1); fl=$(col rsync_small_floor 1); bo=$(col borg_small 1)
echo "| first rsync -a of the small files | $r s + snapshot $s s = $t s | $l s | $fl s | $(secs "$rb") | $(secs "$bo") | $(times "$(ratio "$t" "$rb")") | $(times "$(ratio "$t" "$fl")") |"
echo
echo "Daemon CPU (user + sys, medians): $(col cpu_big 1) s over the 1.4 GB rsync + snapshot ($(awk -v c="$(col cpu_big 1)" -v s="$SIZE" 'BEGIN { printf "%.2f", c / (s / 1e9) }') CPU-s per GB); $(col cpu_small 1) s over the small files + snapshot ($(awk -v c="$(col cpu_small 1)" -v f="$NSMALL" 'BEGIN { printf "%.0f", c / f * 1e6 }') µs per file)."
echo
echo "| no-change re-runs | drfs now/ | local disk | restic backup | drfs vs local | |"
echo "|---|---|---|---|---|---|"
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
for k in cpu_big cpu_small rsync_floor rsync_small_floor borg_backup borg_small rsync_now snap_now rsync_small_now snap_small rsync_noop_now snap_noop rsync_noop_now_again canon_noop_now rsync_noop_now_cold canon_noop_now_cold rsync_local rsync_small_local rsync_noop_local canon_noop_local rsync_noop_local_cold canon_noop_local_cold restic_backup restic_small restic_small_noop; do
	echo "- $k: $(all $k)"
done
