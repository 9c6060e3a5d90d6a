#!/bin/bash
# SPDX-License-Identifier: MIT
# trace-copy.sh - FUSE requests per file of copying out of a snapshot: backs
# up the first N regular files of a real tree (default 1,000 from
# /usr/share/doc), mounts the repository with -o debug (-d), runs each
# command below on the snapshot with a cold page cache and counts the
# requests by opcode. Not a test, not timed: the counts do not depend on
# the machine's load.
#
#   bash tools/trace-copy.sh [N] [SRC]
#
# With --cpu, the mount runs without -d and each command reports instead
# the daemon's CPU (utime + stime from /proc/PID/stat, user and system
# apart) per file and per MB: the work of the read path, not the time.
#
#   bash tools/trace-copy.sh --cpu [N] [SRC]
#
# Environment: DRFS (default build/dev/drfs, else build/release/drfs),
# TRACE_DIR (default /var/tmp/drfs-trace).
set -euo pipefail
CPU=
if [ "${1:-}" = --cpu ]; then
	CPU=1
	shift
fi
N=${1:-1000}
SRCROOT=${2:-/usr/share/doc}
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DRFS=${DRFS:-$TOP/build/dev/drfs}
[ -x "$DRFS" ] || DRFS=$TOP/build/release/drfs
T=${TRACE_DIR:-/var/tmp/drfs-trace}
export DRFS_PASSWORD=trace-pass
DPID=
cleanup() {
	set +e
	mountpoint -q "$T/mnt" && "$DRFS" umount "$T/mnt" >/dev/null 2>&1
	[ -n "$DPID" ] && wait "$DPID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
rm -rf "$T" && mkdir -p "$T/src" "$T/mnt"
# the first N regular files, with their directories
(cd "$SRCROOT" && find . -type f | sort | sed -n "1,${N}p") >"$T/list"
rsync -a --files-from="$T/list" "$SRCROOT/" "$T/src/"
files=$(find "$T/src" -type f | wc -l)
mb=$(du -sm "$T/src" | cut -f1)
"$DRFS" init "$T/repo" >/dev/null 2>&1
"$DRFS" --cache-dir "$T/cache" backup "$T/repo" "$T/src" >/dev/null 2>&1
if [ -n "$CPU" ]; then
	"$DRFS" --cache-dir "$T/cache" mount "$T/repo" "$T/mnt" -f >"$T/log" 2>&1 &
else
	"$DRFS" --cache-dir "$T/cache" mount "$T/repo" "$T/mnt" -d >"$T/log" 2>&1 &
fi
DPID=$!
for _ in $(seq 100); do mountpoint -q "$T/mnt" && break; sleep 0.1; done
S=$(ls -d "$T"/mnt/snapshots/*/*/ | head -n 1)
# the daemon's utime and stime, in clock ticks
ticks() { sed 's/^.*) //' "/proc/$DPID/stat" | awk '{ print $12, $13 }'; }
cpu() { # title, command...
	local title=$1 u0 s0 u1 s1; shift
	sync; echo 3 >/proc/sys/vm/drop_caches
	read -r u0 s0 < <(ticks)
	"$@" >/dev/null
	sleep 0.5 # asynchronous RELEASEs
	read -r u1 s1 < <(ticks)
	awk -v t="$title" -v f="$files" -v mb="$mb" -v hz="$(getconf CLK_TCK)" \
		-v u=$((u1 - u0)) -v s=$((s1 - s0)) 'BEGIN {
		printf "| %s | %.2f | %.2f | %.0f | %.2f |\n", t, u / hz,
			s / hz, (u + s) / hz * 1e6 / f, (u + s) / hz * 1e3 / mb }'
}
if [ -n "$CPU" ]; then
	echo "| daemon CPU ($files files, $mb MB) | user s | system s | us per file | ms per MB |"
	echo '|---|---|---|---|---|'
	cpu "cp -a out of the snapshot" cp -a "$S" "$T/out1"
	cpu "rsync -aHAX out of the snapshot" rsync -aHAX "$S" "$T/out2/"
	cpu "ls -lR of the snapshot" ls -lR "$S"
	cpu "find of the snapshot" find "$S"
	exit 0
fi
count() { # title, command...
	local title=$1; shift
	sync; echo 3 >/proc/sys/vm/drop_caches
	local before; before=$(wc -l <"$T/log")
	"$@" >/dev/null
	sleep 0.5 # asynchronous RELEASEs
	echo "### $title ($files files)"
	echo
	echo '| opcode | requests | per file |'
	echo '|---|---|---|'
	tail -n +"$((before + 1))" "$T/log" | grep -a -o 'opcode: [A-Z_]*' |
		sort | uniq -c | sort -rn |
		awk -v f="$files" '{ t += $1; printf "| %s | %d | %.2f |\n", $3, $1, $1 / f }
			END { printf "| all | %d | %.2f |\n", t, t / f }'
	echo
}
count "cp -a out of the snapshot" cp -a "$S" "$T/out1"
count "cp -a out of latest/ (the path walks go through the symlink)" \
	cp -a "$T/mnt/latest/" "$T/out3"
count "rsync -aHAX out of the snapshot" rsync -aHAX "$S" "$T/out2/"
count "ls -lR of the snapshot" ls -lR "$S"
count "find of the snapshot" find "$S"
