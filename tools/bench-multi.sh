#!/usr/bin/env bash
# tools/bench-multi.sh — memory of one daemon serving three repositories
# (drfs mount A B C MNT) while the snapshot of each is copied out at the
# same time (tar of each snapshot folder into a pipe to /dev/null: every
# byte read through the mount). Samples /proc/PID/status of the daemon
# every 0.2 s and prints the peaks of RssAnon, RssFile and VmHWM, and
# RssAnon/RssFile at the end. Not a timing benchmark.
#
#   DRFS=build/release/drfs BENCH_DIR=/var/tmp/drfs-multi bash tools/bench-multi.sh
#
# BENCH_SRC: the tree (default $BENCH_DIR/src, made as bench-core.sh makes
# it: /usr/lib/x86_64-linux-gnu + /usr/share/doc + /usr/include).
set -euo pipefail
DRFS=${DRFS:?DRFS=path of the drfs binary}
B=${BENCH_DIR:-/var/tmp/drfs-multi}
SRC=${BENCH_SRC:-$B/src}
export DRFS_PASSWORD=bench-multi XDG_CACHE_HOME=$B/xdg XDG_CONFIG_HOME=$B/cfg
mkdir -p "$B"
if [ ! -d "$SRC" ]; then
	mkdir -p "$SRC"
	cp -a /usr/lib/x86_64-linux-gnu /usr/share/doc /usr/include "$SRC/"
fi
echo "tree: $(find "$SRC" -type f | wc -l) files, $(du -sb "$SRC" | cut -f1) bytes"
for r in r1 r2 r3; do
	if [ ! -d "$B/$r" ]; then
		"$DRFS" init "$B/$r" -q >/dev/null 2>&1
		"$DRFS" backup "$B/$r" "$SRC" -q --time 2026-01-01T00:00:00Z >/dev/null
	fi
done
M=$B/mnt
mkdir -p "$M"
"$DRFS" mount "$B/r1" "$B/r2" "$B/r3" "$M"
PID=$(getfattr --only-values -n user.drfs.pid "$M")
trap '"$DRFS" umount "$M" >/dev/null 2>&1 || true' EXIT
kb() { awk -v k="$1" '$1 == k":" { print $2 }' "/proc/$PID/status"; }
echo "after mount: RssAnon $(kb RssAnon) kB, RssFile $(kb RssFile) kB"
pids=()
for r in r1 r2 r3; do
	(cd "$M/$r/snapshots/2026-01-01/000000" && tar -cf - . | wc -c >"$B/$r.bytes") &
	pids+=($!)
done
max_anon=0 max_file=0
while [ -n "$(jobs -rp)" ]; do
	a=$(kb RssAnon) f=$(kb RssFile)
	[ "$a" -gt "$max_anon" ] && max_anon=$a
	[ "$f" -gt "$max_file" ] && max_file=$f
	sleep 0.2
done
wait "${pids[@]}"
echo "during the copies (peak of samples): RssAnon $max_anon kB, RssFile $max_file kB"
echo "bytes of tar per repository: $(cat "$B/r1.bytes") $(cat "$B/r2.bytes") $(cat "$B/r3.bytes")"
echo "VmHWM $(kb VmHWM) kB; at the end: RssAnon $(kb RssAnon) kB, RssFile $(kb RssFile) kB"
