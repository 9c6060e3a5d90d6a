#!/bin/bash
# SPDX-License-Identifier: MIT
# bench-copyout.sh - copying a snapshot out (issue 21), in one interleaved
# run, cold page cache before every timed copy, medians of RUNS. Not a
# test: prints a markdown table (median, every run, ratio to a reference).
#
# Local (every repository in BENCH_DIR):
#
#   bash tools/bench-copyout.sh [RUNS] [TREE]
#
# S3 (the same, plus the repositories on a RadosGW, empty caches):
#
#   DRFS_TEST_S3_ENDPOINT=http://127.0.0.1:28080 AWS_ACCESS_KEY_ID=...
#   AWS_SECRET_ACCESS_KEY=... AWS_REGION=us-east-1 \
#       bash tools/bench-copyout.sh --s3 [RUNS] [TREE]
#
# Rows, each run in this order (a fresh mount and a fresh, empty drfs
# cache directory for every drfs row, a fresh restic --cache-dir for every
# restic row):
#   disk            cp -a TREE DIR
#   disk_warm       the same again into a fresh DIR, no cache drop
#   cp_mount        cp -a MNT/latest/. DIR
#   cp_mount_warm   the same again, same mount, fresh DIR, no cache drop
#   rsync_mount     rsync -aHAX MNT/latest/ DIR/
#   restore_mntpath drfs restore MNT/latest DIR
#   restore_repo    drfs restore REPO latest DIR
#   restic          restic restore latest (local restic repository)
#   cp_floor        cp -a out of tools/fusefloor relaying TREE (a FUSE
#                   file system that does no work, configured as drfs
#                   mount: the kernel's share of any copy out of FUSE)
#   cp_floor_warm   the same again, same mount, no cache drop: the floor
#                   under cp_mount_warm
# and with --s3 (repositories in buckets drfs-bco-*-TOKEN, removed at the
# end):
#   cp_mount_s3     cp -a out of a mount of the s3:// repository
#   restore_s3      drfs restore s3://... latest DIR
#   restic_s3       restic restore from s3:ENDPOINT/bucket
# The ratio column says what each row is compared with (issue 21: copy-out
# <= 1.5x restic, warm re-copy <= 1.3x disk to disk, S3 <= 1.3x local).
# "daemon CPU" is the mount daemon's (or the relay's) utime+stime
# (/proc/PID/stat) during the copy. Every copy is compared with TREE (tests/tools/treecmp.py:
# content, modes, owners, mtimes, xattrs, ACLs, hard links; not atimes)
# and the script stops with an error if one differs.
#
# Environment: DRFS (default build/release/drfs), BENCH_DIR (default
# /var/tmp/drfs-copyout). Needs root (drop_caches, FUSE), restic, rsync,
# gcc and libfuse3-dev (tools/fusefloor.c is built here).
set -euo pipefail
S3=
if [ "${1:-}" = --s3 ]; then
	S3=1
	shift
fi
RUNS=${1:-3}
TREE=${2:-/var/tmp/drfs-bench/src}
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DRFS=${DRFS:-$TOP/build/release/drfs}
B=${BENCH_DIR:-/var/tmp/drfs-copyout}
export DRFS_PASSWORD=bench-pass RESTIC_PASSWORD=bench-pass
die() { echo "bench-copyout: $*" >&2; exit 1; }
for c in restic rsync python3; do
	command -v $c >/dev/null || die "$c not installed"
done
[ -x "$DRFS" ] || die "no drfs at $DRFS (set DRFS)"
[ -d "$TREE" ] || die "no tree $TREE"
TREE=$(cd "$TREE" && pwd)
if [ -n "$S3" ]; then
	[ -n "${DRFS_TEST_S3_ENDPOINT:-}" ] || die "--s3: set DRFS_TEST_S3_ENDPOINT"
	[ -n "${AWS_ACCESS_KEY_ID:-}" ] && [ -n "${AWS_SECRET_ACCESS_KEY:-}" ] ||
		die "--s3: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
	export AWS_REGION=${AWS_REGION:-us-east-1}
	export AWS_ENDPOINT_URL_S3=$DRFS_TEST_S3_ENDPOINT
	TOKEN=$(tr -dc 'a-z0-9' </dev/urandom | head -c 10 || true)
	S3REPO=s3://drfs-bco-drfs-$TOKEN
	RESTIC_S3=s3:$DRFS_TEST_S3_ENDPOINT/drfs-bco-restic-$TOKEN
fi
MNT=$B/mnt
DPID=
FPID=
umount_mnt() {
	mountpoint -q "$MNT" || return 0
	if [ -n "$FPID" ]; then
		fusermount3 -u "$MNT" || die "cannot unmount $MNT"
		wait "$FPID" || :
		FPID= DPID=
		return 0
	fi
	"$DRFS" umount "$MNT" >/dev/null 2>&1 || die "cannot unmount $MNT"
	DPID=
}
floor_mount() { # the relay over TREE on MNT
	"$B/fusefloor" "$TREE" "$MNT" &
	FPID=$!
	DPID=$FPID # its CPU in the daemon column
	for _ in $(seq 1 100); do mountpoint -q "$MNT" && return 0; sleep 0.1; done
	die "fusefloor did not mount on $MNT"
}
cleanup() {
	set +e
	if [ -n "$FPID" ]; then
		fusermount3 -u "$MNT"
		wait "$FPID"
	fi
	mountpoint -q "$MNT" && "$DRFS" umount "$MNT" >/dev/null 2>&1
	rm -rf "$B/out" "$B/out2" "$B/cache"
	if [ -n "$S3" ]; then
		echo "$TOKEN" >"$B/tokens"
		python3 "$TOP/tests/tools/s3purge.py" "$DRFS_TEST_S3_ENDPOINT" \
			"$B/tokens"
	fi
}
trap cleanup EXIT
rm -rf "$B" && mkdir -p "$B" "$MNT"
gcc -std=gnu11 -O2 -Wall -Wextra -D_GNU_SOURCE -DFUSE_USE_VERSION=312 \
	-I"$TOP/include" -I"$TOP/src/fs" "$TOP/tools/fusefloor.c" "$TOP/src/fs/loop.c" \
	$(pkg-config --cflags --libs fuse3) -lpthread -o "$B/fusefloor" ||
	die "cannot build tools/fusefloor.c"
echo "bench-copyout: backing up $TREE" >&2
"$DRFS" init "$B/repo" >/dev/null 2>&1 || die "drfs init $B/repo failed"
"$DRFS" --cache-dir "$B/cache0" backup "$B/repo" "$TREE" -q >/dev/null
restic init -q -r "$B/restic" >/dev/null
restic -q -r "$B/restic" --cache-dir "$B/rcache" backup "$TREE" >/dev/null
if [ -n "$S3" ]; then
	"$DRFS" init "$S3REPO" >/dev/null 2>&1 || die "drfs init $S3REPO failed"
	"$DRFS" --cache-dir "$B/cache0s3" backup "$S3REPO" "$TREE" -q >/dev/null
	restic init -q -r "$RESTIC_S3" >/dev/null
	restic -q -r "$RESTIC_S3" --cache-dir "$B/rcache" backup "$TREE" >/dev/null
fi

cold() { sync; echo 3 >/proc/sys/vm/drop_caches; }
now() { date +%s.%N; }
# daemon utime+stime in seconds
cpu() {
	[ -n "$DPID" ] || { echo 0; return; }
	awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) / hz }' \
		"/proc/$DPID/stat"
}
# timed NAME CMD...: run CMD, append its seconds to R[NAME] and the
# daemon's CPU seconds to C[NAME]
declare -A R C
timed() {
	local n=$1 s e c0 c1
	shift
	c0=$(cpu)
	s=$(now)
	"$@" >"$B/cmd.out" 2>&1 || { cat "$B/cmd.out" >&2; die "$n failed: $*"; }
	e=$(now)
	c1=$(cpu)
	R[$n]+="$(echo "$e - $s" | bc) "
	C[$n]+="$(echo "$c1 - $c0" | bc) "
}
# verify NAME DIR: DIR must be TREE exactly (atimes aside)
verify() {
	python3 "$TOP/tests/tools/treecmp.py" --no-atime "$TREE" "$2" \
		>"$B/cmp.out" 2>&1 ||
		{ head -n 20 "$B/cmp.out" >&2; die "$1: the copy in $2 differs from $TREE"; }
}
mount_fresh() { # REPO
	rm -rf "$B/cache"
	"$DRFS" mount "$1" "$MNT" --cache-dir "$B/cache" >/dev/null 2>&1 ||
		die "drfs mount $1 failed"
	DPID=$(getfattr --only-values -n user.drfs.pid "$MNT" 2>/dev/null) ||
		die "no daemon pid on $MNT"
}
fresh() { rm -rf "$B/out" "$B/out2" "$B/cache" "$B/rcache"; }

names=(disk disk_warm cp_mount cp_mount_warm rsync_mount restore_mntpath
	restore_repo restic cp_floor cp_floor_warm)
[ -z "$S3" ] || names+=(cp_mount_s3 restore_s3 restic_s3)
declare -A REF=([disk_warm]=disk [cp_mount_warm]=disk_warm [cp_mount_s3]=cp_mount
	[cp_floor]=disk [cp_floor_warm]=disk_warm
	[restore_s3]=restore_repo [restic_s3]=restic)
for i in $(seq "$RUNS"); do
	echo "bench-copyout: run $i of $RUNS" >&2
	for n in "${names[@]}"; do
		case $n in
		disk) fresh; cold; timed $n cp -a "$TREE" "$B/out"
			verify $n "$B/out" ;;
		disk_warm) rm -rf "$B/out2"; timed $n cp -a "$TREE" "$B/out2"
			verify $n "$B/out2" ;;
		cp_mount | cp_mount_s3)
			fresh
			if [ $n = cp_mount ]; then mount_fresh "$B/repo"
			else mount_fresh "$S3REPO"; fi
			cold; timed $n cp -a "$MNT/latest/." "$B/out"
			verify $n "$B/out"
			[ $n = cp_mount_s3 ] && umount_mnt ;;
		cp_mount_warm) # the mount of cp_mount, still up
			rm -rf "$B/out2"; timed $n cp -a "$MNT/latest/." "$B/out2"
			umount_mnt
			verify $n "$B/out2" ;;
		rsync_mount) fresh; mount_fresh "$B/repo"; cold
			timed $n rsync -aHAX "$MNT/latest/" "$B/out/"
			umount_mnt
			verify $n "$B/out" ;;
		restore_mntpath) fresh; mount_fresh "$B/repo"; cold
			timed $n "$DRFS" restore "$MNT/latest" "$B/out" -q
			umount_mnt
			verify $n "$B/out" ;;
		restore_repo | restore_s3)
			local_repo=$B/repo
			[ $n = restore_s3 ] && local_repo=$S3REPO
			fresh; cold
			timed $n "$DRFS" --cache-dir "$B/cache" restore "$local_repo" \
				latest "$B/out" -q
			verify $n "$B/out" ;;
		restic) fresh; cold
			timed $n restic -q -r "$B/restic" --cache-dir "$B/rcache" \
				restore latest --target "$B/out"
			verify $n "$B/out$TREE" ;;
		cp_floor) fresh; floor_mount; cold
			timed $n cp -a "$MNT/." "$B/out"
			verify $n "$B/out" ;;
		cp_floor_warm) # the relay of cp_floor, still up
			rm -rf "$B/out2"; timed $n cp -a "$MNT/." "$B/out2"
			umount_mnt
			verify $n "$B/out2" ;;
		restic_s3) fresh; cold
			timed $n restic -q -r "$RESTIC_S3" --cache-dir "$B/rcache" \
				restore latest --target "$B/out"
			verify $n "$B/out$TREE" ;;
		esac
	done
done
fresh

med() { tr ' ' '\n' | grep . | sort -n |
	awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
declare -A M
for n in "${names[@]}"; do M[$n]=$(echo "${R[$n]}" | med); done
echo "| copy out ($(du -sh "$TREE" | cut -f1), $(find "$TREE" | wc -l) entries, $RUNS runs) | median s | runs (s) | ratio | daemon CPU s (median) |"
echo "|---|---|---|---|---|"
for n in "${names[@]}"; do
	ref=${REF[$n]:-restic}
	dc=-
	case $n in *mount* | *floor*) dc=$(printf '%.2f' "$(echo "${C[$n]}" | med)") ;; esac
	printf '| %s | %.2f | %s| %.2fx %s | %s |\n' "$n" "${M[$n]}" \
		"$(printf '%.2f ' ${R[$n]})" \
		"$(echo "${M[$n]} / ${M[$ref]}" | bc -l)" "$ref" "$dc"
done
