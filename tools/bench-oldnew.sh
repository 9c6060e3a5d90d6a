#!/bin/bash
# SPDX-License-Identifier: MIT
# bench-oldnew.sh OLD NEW TREE SMALL [RUNS] - two drfs builds, interleaved
# (old, new, old, new, ...): `drfs backup` of TREE (cold page cache), `drfs
# restore` of it (cold), and `rsync -a` of SMALL (a tree of small files, in
# the page cache) into now/ of a mount + `drfs snapshot`; seconds per run.
# Not a test: a check that a refactoring costs nothing (docs/benchmarks.md).
# Needs root (drop_caches, FUSE); scratch in /var/tmp/oldnew.
set -euo pipefail
OLD=$1 NEW=$2 TREE=$3 SMALL=$4 RUNS=${5:-3}
W=/var/tmp/oldnew
export DRFS_PASSWORD=bench-pass
t() { local s=$EPOCHREALTIME; "$@" >/dev/null 2>&1; python3 -c "print(round($EPOCHREALTIME - $s, 3))"; }
drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
for i in $(seq 1 "$RUNS"); do
	for b in old new; do
		D=$OLD; [ $b = new ] && D=$NEW
		rm -rf "$W"; mkdir -p "$W"
		$D init --cache-dir "$W/c" "$W/repo" >/dev/null 2>&1
		drop; bk=$(t $D backup --cache-dir "$W/c" "$W/repo" "$TREE")
		drop; rs=$(t $D restore --cache-dir "$W/c" "$W/repo" latest "$W/out")
		rm -rf "$W/out"
		mkdir "$W/m"; $D mount --cache-dir "$W/c" "$W/repo" "$W/m"
		cat "$SMALL"/*/* >/dev/null
		s=$EPOCHREALTIME
		rsync -a "$SMALL/" "$W/m/now/small/"
		$D snapshot "$W/m" >/dev/null
		sm=$(python3 -c "print(round($EPOCHREALTIME - $s, 3))")
		$D umount "$W/m" >/dev/null 2>&1
		echo "run $i $b backup $bk restore $rs small $sm"
	done
done
rm -rf "$W"
