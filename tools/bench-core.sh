#!/bin/bash
# SPDX-License-Identifier: MIT
# bench-core.sh - storage-core benchmark: drfs vs restic and borg on the
# same machine, same tree, same run. Not a test: it prints a markdown table
# of medians for docs/benchmarks.md.
#
#   bash tools/bench-core.sh [RUNS]        (default 3 runs per figure)
#
# Environment: DRFS (binary, default build/release/drfs), BENCH_DIR (scratch,
# default /var/tmp/drfs-bench), BENCH_SRC (tree to back up; default a copy of
# /usr/lib/x86_64-linux-gnu + /usr/share/doc + /usr/include, ~1.4 GB),
# BENCH_BORG=0 to skip borg, BENCH_CHUNK=0 to skip the chunk-size study,
# BENCH_MAIN=0 to skip the backup/restore figures.
#
# Figures: initial backup (cold page cache), no-change backup, restore (cold
# cache), peak RSS of each, and repository size after 5 successive versions
# of the tree (each version rewrites ~2% of the files: half get 4 KiB
# appended, half get 64 bytes inserted at a random offset; 20 files are
# deleted and 50 new ones added). The chunk-size study backs the same 5
# versions up into drfs repositories created with other average chunk sizes
# (tools/chunkstat.c creates them) and reports the chunking statistics.
# Needs root (drop_caches).
set -euo pipefail
RUNS=${1:-3}
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DRFS=${DRFS:-$TOP/build/release/drfs}
B=${BENCH_DIR:-/var/tmp/drfs-bench}
BORG=${BENCH_BORG:-1}
CHUNK=${BENCH_CHUNK:-1}
MAIN=${BENCH_MAIN:-1}
CHUNKSTAT=${CHUNKSTAT:-$B/chunkstat}
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
LOAD0=$(uptime)
echo "start: $LOAD0" >&2

drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
# run NAME CMD... : append "seconds maxrss_kb load1" to $B/res.NAME
run() {
	local name=$1
	shift
	local l
	l=$(cut -d' ' -f1 /proc/loadavg)
	/usr/bin/time -f '%e %M' -o "$B/time.out" "$@" >/dev/null 2>"$B/err.out" ||
		{ cat "$B/err.out" >&2; echo "failed: $*" >&2; exit 1; }
	echo "$(cat "$B/time.out") $l" >>"$B/res.$name"
	echo "$name: $(cat "$B/time.out") load $l" >&2
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
col() { awk -v c="$2" '{ print $c }' "$B/res.$1" | median; }
spread() { awk '{ print $1 }' "$B/res.$1" | sort -n | paste -sd/ -; }
mb() { awk -v s="$SIZE" -v t="$1" 'BEGIN { printf "%.0f", s / t / 1e6 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

if [ "$MAIN" = 1 ]; then
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
rm -rf "$B/drfs-repo" "$B/drfs-cache" "$B/restic-repo" "$B/borg-repo"
fi

# Five versions of the tree, seeded so every tool sees the same versions.
# $VER is a real copy of $SRC that the tools back up (so an unchanged file
# keeps its ctime and inode, and backups 2..5 are incremental). The frozen
# copies $B/vsnap/vN for the chunk-size study are hard-linked to the
# previous version; the same seeded mutation is applied to them (a changed
# file is rewritten under a new inode, so no earlier version changes).
VER=$B/versions
rm -rf "$VER" "$B/vsnap" "$B"/v-*
rm -f "$B"/res.v_*
mkdir -p "$B/vsnap"
cp -a "$SRC" "$VER"
cp -al "$SRC" "$B/vsnap/v1"
"$DRFS" init "$B/v-drfs" >/dev/null
restic init -q -r "$B/v-restic" >/dev/null
if [ "$BORG" = 1 ]; then borg init -e repokey "$B/v-borg" >/dev/null 2>&1; fi
cat >"$B/mutate.py" <<'PY'
import os, random, sys
root, v = sys.argv[1], int(sys.argv[2])
rnd = random.Random(v)
files = sorted(os.path.relpath(os.path.join(d, f), root)
               for d, _, fs in os.walk(root) for f in fs
               if not os.path.islink(os.path.join(d, f)))
def rewrite(f, data):
    st = os.stat(f)
    os.unlink(f)
    with open(f, "wb") as fh:
        fh.write(data)
    os.chmod(f, st.st_mode & 0o7777)
for n, f in enumerate(rnd.sample(files, max(1, len(files) // 50))):
    f = os.path.join(root, f)
    with open(f, "rb") as fh:
        data = fh.read()
    if n % 2 == 0:
        data += rnd.randbytes(4096)
    else:
        at = rnd.randint(0, len(data))
        data = data[:at] + rnd.randbytes(64) + data[at:]
    rewrite(f, data)
for f in rnd.sample(files, 20):
    f = os.path.join(root, f)
    if os.path.exists(f):
        os.unlink(f)
for i in range(50):
    with open(os.path.join(root, "new-%d-%d" % (v, i)), "wb") as fh:
        fh.write(rnd.randbytes(rnd.randint(1000, 200000)))
PY
for v in 1 2 3 4 5; do
	if [ "$v" -gt 1 ]; then
		cp -al "$B/vsnap/v$((v - 1))" "$B/vsnap/v$v"
		python3 "$B/mutate.py" "$VER" "$v"
		python3 "$B/mutate.py" "$B/vsnap/v$v" "$v"
	fi
	run v_drfs "$DRFS" backup -q "$B/v-drfs" "$VER" --cache-dir "$B/v-drfs-cache"
	run v_restic restic -q -r "$B/v-restic" backup "$VER"
	if [ "$BORG" = 1 ]; then run v_borg borg create "$B/v-borg::v$v" "$VER"; fi
done
vd=$(du -sb "$B/v-drfs" | cut -f1)
vr=$(du -sb "$B/v-restic" | cut -f1)
vg=0
[ "$BORG" = 1 ] && vg=$(du -sb "$B/v-borg" | cut -f1)
VSIZE=$(du -sb --apparent-size "$B/vsnap" | cut -f1)  # hard links once
VLOGICAL=0
for v in 1 2 3 4 5; do
	VLOGICAL=$((VLOGICAL + $(du -sb --apparent-size "$B/vsnap/v$v" | cut -f1)))
done

# chunk-size study: real repositories with other chunker parameters
if [ "$CHUNK" = 1 ]; then
	if [ ! -x "$CHUNKSTAT" ] || [ "$TOP/tools/chunkstat.c" -nt "$CHUNKSTAT" ]; then
		gcc -std=gnu11 -D_GNU_SOURCE -O2 -Wall -Wextra -I"$TOP/include" \
			"$TOP/tools/chunkstat.c" "$TOP/build/release/libdrfs.a" \
			$(pkg-config --cflags --libs fuse3 libcurl libcrypto \
				libzstd lmdb expat) -lpthread -o "$CHUNKSTAT"
	fi
	: >"$B/chunk.out"
	for avg in 256 512 1024 2048; do
		rm -rf "$B/c-repo" "$B/c-cache"
		"$CHUNKSTAT" init "$B/c-repo" $((avg * 1024)) >/dev/null
		rm -f "$B/res.c_$avg"
		for v in 1 2 3 4 5; do
			run "c_$avg" "$DRFS" backup -q "$B/c-repo" "$B/vsnap/v$v" \
				--cache-dir "$B/c-cache"
		done
		repo=$(du -sb "$B/c-repo" | cut -f1)
		packs=$(find "$B/c-repo/data" -type f | wc -l)
		cache=$(du -sb "$B/c-cache" | cut -f1)
		t1=$(head -1 "$B/res.c_$avg" | cut -d' ' -f1)
		tn=$(tail -n +2 "$B/res.c_$avg" | awk '{ s += $1 } END { print s }')
		rss=$(awk '{ print $2 }' "$B/res.c_$avg" | sort -n | tail -1)
		st=$("$CHUNKSTAT" scan $((avg * 1024)) "$B"/vsnap/v[1-5])
		echo "$avg $repo $packs $cache $t1 $tn $rss $st" >>"$B/chunk.out"
		echo "chunk $avg: $repo $packs $cache $t1 $tn $rss $st" >&2
	done
	rm -rf "$B/c-repo" "$B/c-cache"

	# large files edited in place: 5 versions of 256 MiB of real binary
	# data (shared libraries), each version 8 inserts of 64 bytes and 8
	# overwrites of 4 KiB at random offsets; chunking statistics only
	rm -rf "$B/big"
	mkdir -p "$B/big"
	{ find "$SRC/lib" -maxdepth 1 -type f -name '*.so*' -size +1M | sort |
		xargs cat || true; } | head -c $((256 << 20)) >"$B/big/base"
	python3 - "$B/big" <<'PY'
import os, random, sys
d = sys.argv[1]
data = bytearray(open(os.path.join(d, "base"), "rb").read())
os.unlink(os.path.join(d, "base"))
rnd = random.Random(11)
for v in range(1, 6):
    if v > 1:
        for k in range(16):
            at = rnd.randrange(len(data))
            if k % 2 == 0:
                data[at:at] = rnd.randbytes(64)
            else:
                data[at:at + 4096] = rnd.randbytes(4096)
    os.makedirs(os.path.join(d, "v%d" % v))
    with open(os.path.join(d, "v%d" % v, "image"), "wb") as fh:
        fh.write(data)
PY
	: >"$B/chunkbig.out"
	for avg in 256 512 1024 2048; do
		echo "$avg $("$CHUNKSTAT" scan $((avg * 1024)) "$B"/big/v[1-5])" >>"$B/chunkbig.out"
	done
	rm -rf "$B/big"
fi
LOAD1=$(uptime)
echo "end: $LOAD1" >&2

echo
echo "Tree: $FILES files, $(awk -v s="$SIZE" 'BEGIN{printf "%.2f", s/1e9}') GB; medians of $RUNS runs; $(nproc) cores; $(date -u +%F)"
echo "Load at start: ${LOAD0##*load average: }; at end: ${LOAD1##*load average: }"
echo
if [ "$MAIN" = 1 ]; then
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
echo
echo "All runs (seconds, sorted):"
for f in init nochange restore; do
	echo "- $f: drfs $(spread drfs_$f), restic $(spread restic_$f)$([ "$BORG" = 1 ] && echo ", borg $(spread borg_$f)")"
done
echo
fi
echo "5 versions: $(awk -v s="$VLOGICAL" 'BEGIN{printf "%.2f", s/1e9}') GB logical, $(awk -v s="$VSIZE" 'BEGIN{printf "%.2f", s/1e9}') GB distinct file data"
echo
echo "| repository after 5 versions | drfs | restic | borg | drfs vs restic |"
echo "|---|---|---|---|---|"
echo "| size | $((vd / 1024 / 1024)) MiB | $((vr / 1024 / 1024)) MiB | $((vg / 1024 / 1024)) MiB | $(ratio "$vd" "$vr")x |"
echo "| time of the 5 backups (s, each; warm page cache) | $(awk '{print $1}' "$B/res.v_drfs" | paste -sd' ') | $(awk '{print $1}' "$B/res.v_restic" | paste -sd' ') | $([ "$BORG" = 1 ] && awk '{print $1}' "$B/res.v_borg" | paste -sd' ') | |"
if [ "$CHUNK" = 1 ]; then
	echo
	echo "| avg chunk | repo after 5 versions | packs | cache dir | 1st backup | 4 later backups (full re-reads) | peak RSS | chunks (unique/total) | mean chunk | dedup (logical/unique) |"
	echo "|---|---|---|---|---|---|---|---|---|---|"
	while read -r avg repo packs cache t1 tn rss uniq total ubytes lbytes; do
		echo "| $avg KiB | $((repo / 1024 / 1024)) MiB | $packs | $((cache / 1024)) KiB | $t1 s | $tn s | $((rss / 1024)) MB | $uniq / $total | $((ubytes / uniq / 1024)) KiB | $(ratio "$lbytes" "$ubytes")x |"
	done <"$B/chunk.out"
	echo
	echo "Large files edited in place (5 versions of a 256 MiB file, 16 edits per version; chunkstat scan):"
	echo
	echo "| avg chunk | chunks (unique/total) | unique data | extra per version | extra per edit | dedup |"
	echo "|---|---|---|---|---|---|"
	while read -r avg uniq total ubytes lbytes; do
		extra=$(( (ubytes - (256 << 20)) / 4 ))
		echo "| $avg KiB | $uniq / $total | $((ubytes >> 20)) MiB | $((extra >> 20)) MiB | $((extra / 16 >> 10)) KiB | $(ratio "$lbytes" "$ubytes")x |"
	done <"$B/chunkbig.out"
fi
