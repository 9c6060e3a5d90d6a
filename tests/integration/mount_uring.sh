#!/bin/bash
# FUSE over io_uring (src/fs/loop.c; docs/mount.md "FUSE over io_uring").
# With the fuse module's enable_uring parameter set and DRFS_FUSE_URING=1,
# a mount must serve its requests through per-CPU rings: the log says so, threads named
# drfs-fuse-ring exist and spend the CPU of the copy, and what is copied
# into now/ (a real tree, parallel writers, hard links, xattrs, an fsync'd
# file) is what a snapshot holds, after a kill -9 and a remount too.
# When the rings cannot be made after the kernel accepted the offer, the
# mount must fall back to /dev/fuse and serve (the kernel holds every
# request until each CPU's queue has an entry: without the fallback the
# first request waits forever). Without DRFS_FUSE_URING=1, or without the
# kernel's parameter, /dev/fuse serves (the latter with a warning).
# The parameter is the machine's: restored at the end.
source "$(dirname "$0")/lib.sh"
need_root
PARAM=/sys/module/fuse/parameters/enable_uring
[ -w "$PARAM" ] || skip "this kernel has no FUSE over io_uring ($PARAM)"
OLD=$(cat "$PARAM")
trap 'rc=$?; echo "$OLD" >"$PARAM"; _lib_cleanup "$rc"' EXIT
echo Y >"$PARAM"
export DRFS_FUSE_URING=1

make_repo
MNT=$T/mnt
drfs init "$REPO" >/dev/null
SRC=$(realtree)

# ring_ticks PID: CPU ticks of the daemon's drfs-fuse-ring threads
ring_ticks() {
	local t sum=0 n=0
	for t in /proc/"$1"/task/*; do
		[ "$(cat "$t/comm" 2>/dev/null)" = drfs-fuse-ring ] || continue
		n=$((n + 1))
		sum=$((sum + $(awk '{ print $14 + $15 }' "$t/stat")))
	done
	echo "$n $sum"
}
mount_log() { cat "$CACHE"/mount-*.log 2>/dev/null; }
# abort_conn MNT: abort MNT's FUSE connection (fusectl), without a stat of
# MNT, which may be what hangs: neither a request's caller nor the
# daemon can be killed out of some of the waits tested here
abort_conn() {
	local dev
	dev=$(awk -v m="$1" '$5 == m { print $3 }' /proc/self/mountinfo | tail -1)
	[ -n "$dev" ] || return 0
	mountpoint -q /sys/fs/fuse/connections ||
		mount -t fusectl fusectl /sys/fs/fuse/connections || true
	echo 1 >"/sys/fs/fuse/connections/${dev#*:}/abort" 2>/dev/null || true
}
# watchdog SECS WHAT: unless watchdog_off comes first, abort the
# connection of $MNT after SECS (the test then fails on what it waited
# for) and say that WHAT hung
WDN=0
watchdog() {
	WDN=$((WDN + 1))
	(
		sleep "$1" </dev/null >/dev/null 2>&1
		[ -e "$T/wd.$WDN.off" ] && exit 0
		info "FAIL: $2 hung: aborting the FUSE connection"
		abort_conn "$MNT"
	) &
	LIB_BG_PIDS+=("$!")
}
watchdog_off() { touch "$T/wd.$WDN.off"; }

# 1. served through the rings
mount_repo "$MNT"
pid=$(daemon_pid "$MNT")
rsync -aHAX "$SRC/" "$MNT/now/tree/"
seeded_bytes 7 $((24 << 20)) >"$T/big"
for i in 1 2 3 4; do
	(seeded_bytes "$i" $((6 << 20)) >"$MNT/now/par$i" &&
		seeded_bytes "$i" $((6 << 20)) >"$T/par$i") &
done
wait
cp "$T/big" "$MNT/now/big"
ln "$MNT/now/big" "$MNT/now/big.link"
setfattr -n user.kind -v ring "$MNT/now/par1"
python3 -c 'import os,sys; f=os.open(sys.argv[1], os.O_WRONLY|os.O_CREAT, 0o644); os.write(f, b"synced\n"); os.fsync(f); os.close(f)' "$MNT/now/synced"
mount_log | grep -q 'FUSE over io_uring: [0-9]* queues' ||
	{ mount_log >&2; fail "the mount did not say it serves through io_uring"; }
read -r nthreads ticks < <(ring_ticks "$pid")
[ "$nthreads" -ge 2 ] || fail "no drfs-fuse-ring threads ($nthreads)"
# the copy of the tree costs the daemon seconds of CPU: most of it is
# the rings' if they served it (/dev/fuse's threads are drfs-fuse)
[ "$ticks" -ge 20 ] ||
	fail "the ring threads used $ticks ticks of CPU: not serving"
info "$nthreads ring threads, $ticks ticks"
snap=$(drfs snapshot "$MNT") || fail "drfs snapshot failed"
treecmp --no-atime "$SRC" "$snap/tree" >"$T/cmp" ||
	{ head "$T/cmp" >&2; fail "the snapshot differs from $SRC"; }
for i in 1 2 3 4; do
	cmp -s "$T/par$i" "$snap/par$i" || fail "par$i differs in the snapshot"
done
cmp -s "$T/big" "$snap/big.link" || fail "big.link differs"
[ "$(stat -c %h "$snap/big")" = 2 ] || fail "the hard link was lost"
[ "$(getfattr --only-values -n user.kind "$snap/par1")" = ring ] ||
	fail "the xattr was lost"
# rmdir of a snapshot folder: its handler invalidates the kernel's
# entries after replying, which the kernel takes only once the reply is
# committed (the build before that waited forever: the kernel held the
# day folder's lock for the reply, the daemon the reply for the lock)
echo more >"$MNT/now/more"
snap2=$(drfs snapshot "$MNT") || fail "the second snapshot failed"
[ "$snap2" != "$snap" ] || fail "the second snapshot is the first"
watchdog 60 "rmdir of a snapshot folder"
rmdir "$snap" || fail "rmdir of a snapshot folder failed"
watchdog_off
[ ! -e "$snap" ] || fail "$snap is still there after rmdir"
[ "$(cat "$snap2/more")" = more ] || fail "the second snapshot lost more"
snap=$snap2

# a kill -9 while the rings serve a copy: what was fsync'd and snapshotted
# is there after a remount, and the repository is sound
(rsync -a "$SRC/" "$MNT/now/second/" 2>/dev/null || true) &
rs=$!
sleep 1
kill9 "$MNT"
wait "$rs" || true
mount_repo "$MNT"
[ "$(cat "$MNT/now/synced")" = synced ] || fail "the fsync'd file was lost"
treecmp --no-atime "$SRC" "$MNT/latest/tree" >"$T/cmp" ||
	{ head "$T/cmp" >&2; fail "latest/ differs after kill -9"; }
cmp -s "$T/big" "$MNT/now/big" || fail "now/big differs after kill -9"
umount_repo "$MNT"
check_repo "after a kill -9 of a mount served through io_uring"

# 2. the rings cannot be made: /dev/fuse serves, nothing waits forever
for f in "$CACHE"/mount-*.log; do : >"$f"; done
watchdog 90 "a mount whose rings could not be made"
DRFS_TEST_URING_FAIL=1 mount_repo "$MNT"
ls "$MNT/now" >/dev/null
rsync -aHAX "$SRC/" "$MNT/now/third/" ||
	fail "rsync into a mount whose rings failed did not finish"
watchdog_off
treecmp --no-atime "$SRC" "$MNT/now/third" >"$T/cmp" ||
	{ head "$T/cmp" >&2; fail "now/third differs from $SRC"; }
mount_log | grep -q 'serving through /dev/fuse' ||
	{ mount_log >&2; fail "the fallback was not logged"; }
umount_repo "$MNT"

# 2b. DRFS_FUSE_URING_SPIN (how long a ring thread looks for the next
# request after a reply): 0 sleeps at once and still serves; a value that
# is not 0-1000 microseconds is named in a warning, and the mount serves
for spin in 0 1001 12x; do
	for f in "$CACHE"/mount-*.log; do : >"$f"; done
	DRFS_FUSE_URING_SPIN=$spin mount_repo "$MNT"
	pid=$(daemon_pid "$MNT")
	rsync -aHAX "$SRC/" "$MNT/now/spin$spin/" ||
		fail "rsync with DRFS_FUSE_URING_SPIN=$spin failed"
	treecmp --no-atime "$SRC" "$MNT/now/spin$spin" >"$T/cmp" ||
		{ head "$T/cmp" >&2; fail "now/spin$spin differs from $SRC"; }
	read -r nthreads ticks < <(ring_ticks "$pid")
	[ "$nthreads" -ge 2 ] && [ "$ticks" -ge 5 ] ||
		fail "DRFS_FUSE_URING_SPIN=$spin: the rings did not serve"
	if [ "$spin" = 0 ]; then
		mount_log | grep -q 'DRFS_FUSE_URING_SPIN' &&
			{ mount_log >&2; fail "a warning for DRFS_FUSE_URING_SPIN=0"; }
	else
		mount_log | grep -q "DRFS_FUSE_URING_SPIN=\"$spin\": not a number" ||
			{ mount_log >&2; fail "no warning for DRFS_FUSE_URING_SPIN=$spin"; }
	fi
	umount_repo "$MNT"
done

# 3. not asked for: /dev/fuse only, whatever the kernel allows
for f in "$CACHE"/mount-*.log; do : >"$f"; done
unset DRFS_FUSE_URING
mount_repo "$MNT"
pid=$(daemon_pid "$MNT")
ls "$MNT/now" >/dev/null
read -r nthreads ticks < <(ring_ticks "$pid")
[ "$nthreads" = 0 ] || fail "without DRFS_FUSE_URING=1: $nthreads ring threads"
mount_log | grep -q 'io_uring' && fail "without DRFS_FUSE_URING=1: io_uring offered"
umount_repo "$MNT"

# 4. asked for, but the kernel does not allow it: a warning, /dev/fuse
echo N >"$PARAM"
DRFS_FUSE_URING=1 mount_repo "$MNT"
pid=$(daemon_pid "$MNT")
ls "$MNT/now" >/dev/null
read -r nthreads ticks < <(ring_ticks "$pid")
[ "$nthreads" = 0 ] || fail "enable_uring=N: $nthreads ring threads"
mount_log | grep -q 'does not allow FUSE over io_uring' ||
	{ mount_log >&2; fail "enable_uring=N: no warning"; }
umount_repo "$MNT"
check_repo "after the fallbacks"
info "served through io_uring; fell back to /dev/fuse when it could not"
