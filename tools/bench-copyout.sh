#!/bin/bash
# SPDX-License-Identifier: MIT
# bench-copyout.sh - copying a snapshot out (issue 21), interleaved, cold
# page cache, medians of RUNS: cp -a disk to disk; cp -a out of
# MNT/latest (a fresh mount with a fresh cache directory each run);
# drfs restore MNT/latest DIR (the mount-path restore, same mount setup);
# drfs restore REPO latest DIR; restic restore of the same tree from a
# local restic repository. Not a test: prints a markdown table.
#
#   bash tools/bench-copyout.sh [RUNS] [TREE]
#
# Environment: DRFS (default build/release/drfs), BENCH_DIR (default
# /var/tmp/drfs-copyout). Needs root (drop_caches, FUSE) and restic.
set -euo pipefail
RUNS=${1:-3}
TREE=${2:-/var/tmp/drfs-bench/src}
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DRFS=${DRFS:-$TOP/build/release/drfs}
B=${BENCH_DIR:-/var/tmp/drfs-copyout}
export DRFS_PASSWORD=bench-pass RESTIC_PASSWORD=bench-pass
command -v restic >/dev/null || { echo "restic not installed" >&2; exit 1; }
[ -d "$TREE" ] || { echo "no tree $TREE" >&2; exit 1; }
MNT=$B/mnt
cleanup() {
	set +e
	mountpoint -q "$MNT" && "$DRFS" umount "$MNT" >/dev/null 2>&1
	rm -rf "$B/out" "$B/cache"
}
trap cleanup EXIT
rm -rf "$B" && mkdir -p "$B" "$MNT"
"$DRFS" init "$B/repo" >/dev/null 2>&1
"$DRFS" --cache-dir "$B/cache0" backup "$B/repo" "$TREE" -q >/dev/null
restic init -q -r "$B/restic" >/dev/null
restic -q -r "$B/restic" backup "$TREE" >/dev/null
cold() { sync; echo 3 >/proc/sys/vm/drop_caches; }
t() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; }
mount_fresh() {
	rm -rf "$B/cache"
	"$DRFS" mount "$B/repo" "$MNT" --cache-dir "$B/cache" >/dev/null 2>&1
}
declare -A R
names=(disk cp_mount restore_mntpath restore_repo restic)
for i in $(seq "$RUNS"); do
	for n in "${names[@]}"; do
		rm -rf "$B/out"
		case $n in
		disk) cold; R[$n]+="$(t cp -a "$TREE" "$B/out") " ;;
		cp_mount) mount_fresh; cold
			R[$n]+="$(t cp -a "$MNT/latest/." "$B/out") "
			"$DRFS" umount "$MNT" >/dev/null 2>&1 ;;
		restore_mntpath) mount_fresh; cold
			R[$n]+="$(t "$DRFS" restore "$MNT/latest" "$B/out" -q) "
			"$DRFS" umount "$MNT" >/dev/null 2>&1 ;;
		restore_repo) rm -rf "$B/cache"; cold
			R[$n]+="$(t "$DRFS" --cache-dir "$B/cache" restore "$B/repo" latest "$B/out" -q) " ;;
		restic) cold; R[$n]+="$(t restic -q -r "$B/restic" restore latest --target "$B/out") " ;;
		esac
	done
done
# the last run of each is compared with the tree (sizes and names)
med() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
rmed=$(echo "${R[restic]}" | med)
echo "| copy out ($(du -sh "$TREE" | cut -f1), $(find "$TREE" | wc -l) entries) | median s | runs (s) | / restic restore |"
echo "|---|---|---|---|"
for n in "${names[@]}"; do
	m=$(echo "${R[$n]}" | med)
	printf '| %s | %.2f | %s | %.2fx |\n' "$n" "$m" "$(echo ${R[$n]} | xargs printf '%.2f ')" "$(echo "$m / $rmed" | bc -l)"
done
