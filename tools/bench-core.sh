#!/bin/bash
# SPDX-License-Identifier: MIT
# bench-core.sh - storage-core benchmark: drfs vs restic (and borg) on the
# same machine, same tree, same run. Not a test: it prints a markdown table
# of medians for docs/benchmarks.md.
#
#   bash tools/bench-core.sh [RUNS]        (default 3 runs per figure)
#
# Environment: DRFS (binary, default build/release/drfs), BENCH_DIR (scratch,
# default /var/tmp/drfs-bench), BENCH_SRC (tree to back up; default a copy of
# /usr/lib/x86_64-linux-gnu + /usr/share/doc + /usr/include, ~1.4 GB),
# BENCH_BORG=0 to skip borg.
#
# Figures: initial backup (cold page cache), no-change backup, restore (cold
# cache), peak RSS of each, and repository size after 5 successive versions
# of a tree (each version changes ~2% of the files, adds and deletes some).
set -euo pipefail
RUNS=${1:-3}
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DRFS=${DRFS:-$TOP/build/release/drfs}
B=${BENCH_DIR:-/var/tmp/drfs-bench}
BORG=${BENCH_BORG:-1}
export DRFS_PASSWORD=bench-pass RESTIC_PASSWORD=bench-pass
export BORG_PASSPHRASE=bench-pass BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes
export BORG_RELOCATED_REPO_ACCESS_IS_OK=yes

if [ ! -x "$DRFS" ]; then
	meson setup --buildtype=release "$TOP/build/release" "$TOP" >/dev/null
	ninja -C "$TOP/build/release" >/dev/null
fi
mkdir -p "$B"
SRC=${BENCH_SRC:-$B/src}
if [ ! -d "$SRC" ]; then
	mkdir -p "$SRC"
	cp -a /usr/lib/x86_64-linux-gnu "$SRC/lib"
	cp -a /usr/share/doc "$SRC/doc"
	cp -a /usr/include "$SRC/include"
fi
SIZE=$(du -sb --apparent-size "$SRC" | cut -f1)
FILES=$(find "$SRC" -type f | wc -l)

drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
# run NAME CMD... : append "seconds maxrss_kb" to $B/res.NAME
run() {
	local name=$1
	shift
	/usr/bin/time -f '%e %M' -o "$B/time.out" "$@" >/dev/null 2>"$B/err.out" ||
		{ cat "$B/err.out" >&2; echo "failed: $*" >&2; exit 1; }
	cat "$B/time.out" >>"$B/res.$name"
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
col() { awk -v c="$2" '{ print $c }' "$B/res.$1" | median; }

rm -f "$B"/res.*
for i in $(seq 1 "$RUNS"); do
	rm -rf "$B/drfs-repo" "$B/drfs-cache" "$B/restic-repo" "$B/borg-repo" \
		"$B/out"
	"$DRFS" init "$B/drfs-repo" >/dev/null
	drop; run drfs_init "$DRFS" backup -q "$B/drfs-repo" "$SRC" --cache-dir "$B/drfs-cache"
	run drfs_nochange "$DRFS" backup -q "$B/drfs-repo" "$SRC" --cache-dir "$B/drfs-cache"
	drop; run drfs_restore "$DRFS" restore -q "$B/drfs-repo" latest "$B/out" --cache-dir "$B/drfs-cache"
	rm -rf "$B/out"

	restic init -q -r "$B/restic-repo" >/dev/null
	drop; run restic_init restic -q -r "$B/restic-repo" backup "$SRC"
	run restic_nochange restic -q -r "$B/restic-repo" backup "$SRC"
	drop; run restic_restore restic -q -r "$B/restic-repo" restore latest --target "$B/out"
	rm -rf "$B/out"

	if [ "$BORG" = 1 ]; then
		borg init -e repokey "$B/borg-repo" >/dev/null 2>&1
		drop; run borg_init borg create "$B/borg-repo::a" "$SRC"
		run borg_nochange borg create "$B/borg-repo::b" "$SRC"
		mkdir -p "$B/out"
		drop; run borg_restore sh -c "cd '$B/out' && borg extract '$B/borg-repo::a'"
		rm -rf "$B/out"
	fi
done

# five versions of a tree: each changes ~2% of files (append), adds 50
# files, deletes 20; seeded so every tool sees the same versions
VER=$B/versions
rm -rf "$VER" "$B/v-drfs" "$B/v-drfs-cache" "$B/v-restic"
cp -a "$SRC/doc" "$VER"
"$DRFS" init "$B/v-drfs" >/dev/null
restic init -q -r "$B/v-restic" >/dev/null
for v in 1 2 3 4 5; do
	python3 - "$VER" "$v" <<'PY'
import os, random, sys
root, v = sys.argv[1], int(sys.argv[2])
rnd = random.Random(v)
files = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs
               if not os.path.islink(os.path.join(d, f)))
for f in rnd.sample(files, max(1, len(files) // 50)):
    with open(f, "ab") as fh:
        fh.write(rnd.randbytes(4096))
for f in rnd.sample(files, 20):
    os.unlink(f)
for i in range(50):
    with open(os.path.join(root, "new-%d-%d" % (v, i)), "wb") as fh:
        fh.write(rnd.randbytes(rnd.randint(1000, 200000)))
PY
	"$DRFS" backup -q "$B/v-drfs" "$VER" --cache-dir "$B/v-drfs-cache" >/dev/null
	restic -q -r "$B/v-restic" backup "$VER" >/dev/null
done
vd=$(du -sb "$B/v-drfs" | cut -f1)
vr=$(du -sb "$B/v-restic" | cut -f1)

mb() { awk -v s="$SIZE" -v t="$1" 'BEGIN { printf "%.0f", s / t / 1e6 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo
echo "Tree: $FILES files, $(awk -v s="$SIZE" 'BEGIN{printf "%.2f", s/1e9}') GB; medians of $RUNS runs; $(nproc) cores; $(date -u +%F)"
echo
echo "| figure | drfs | restic | borg | drfs vs restic |"
echo "|---|---|---|---|---|"
for f in init nochange restore; do
	d=$(col drfs_$f 1); r=$(col restic_$f 1)
	g=-; [ "$BORG" = 1 ] && g="$(col borg_$f 1) s"
	case $f in
	init) what="initial backup (cold cache)"
		echo "| $what | $d s ($(mb "$d") MB/s) | $r s ($(mb "$r") MB/s) | $g | $(ratio "$r" "$d")x throughput |" ;;
	nochange) what="no-change backup"
		echo "| $what | $d s | $r s | $g | $(ratio "$d" "$r")x time |" ;;
	restore) what="restore (cold cache)"
		echo "| $what | $d s ($(mb "$d") MB/s) | $r s ($(mb "$r") MB/s) | $g | $(ratio "$r" "$d")x throughput |" ;;
	esac
done
for f in init nochange restore; do
	d=$(col drfs_$f 2); r=$(col restic_$f 2)
	g=-; [ "$BORG" = 1 ] && g="$(( $(col borg_$f 2) / 1024 )) MB"
	echo "| peak RSS, $f | $((d / 1024)) MB | $((r / 1024)) MB | $g | |"
done
echo "| repository after 5 versions | $((vd / 1024 / 1024)) MiB | $((vr / 1024 / 1024)) MiB | - | $(ratio "$vd" "$vr")x size |"
