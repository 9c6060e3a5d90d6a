#!/bin/bash
# SPDX-License-Identifier: MIT
# bench-oldnew-mount.sh OLD NEW TREE - `cp -a` of TREE's snapshot out of a
# mount, old and new drfs builds interleaved, 3 runs each: NEW backs TREE
# up once; each run mounts with a fresh cache directory, drops the page
# cache, times the copy. Not a test (docs/benchmarks.md). Needs root.
set -euo pipefail
OLD=$1 NEW=$2 TREE=$3
W=/var/tmp/mountold
export DRFS_PASSWORD=bench-pass
rm -rf $W; mkdir -p $W
$NEW init --cache-dir $W/c $W/repo >/dev/null 2>&1
$NEW backup --cache-dir $W/c $W/repo $TREE >/dev/null 2>&1
for i in 1 2 3; do for b in old new; do
	D=$OLD; [ $b = new ] && D=$NEW
	rm -rf $W/c2 $W/out $W/m; mkdir -p $W/m
	$D mount --cache-dir $W/c2 $W/repo $W/m
	sync; echo 3 >/proc/sys/vm/drop_caches
	s=$EPOCHREALTIME
	cp -a $W/m/latest/. $W/out
	e=$(python3 -c "print(round($EPOCHREALTIME - $s, 2))")
	$D umount $W/m >/dev/null 2>&1
	echo "run $i $b cp_mount $e"
done; done
rm -rf $W
