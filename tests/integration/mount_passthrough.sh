#!/bin/bash
# FUSE passthrough for writes into now/ (src/fs/loop.c, src/fs/now/files.c;
# docs/mount.md "FUSE passthrough"). With DRFS_FUSE_PASSTHROUGH=1 a root
# daemon offers it at INIT and the kernel writes a file opened for writing
# straight into its staging file: no WRITE request reaches the daemon,
# and yet sizes, times, snapshots and fsync's durability are what they
# are without it. The cases a daemon that sees no writes can get wrong:
# a file open across a snapshot and written after it, a reader opening a
# file a passthrough writer holds (and a writer opening one a reader
# holds), truncate, append, mmap, hard links, stat while writing, an
# explicit mtime set while open, and a kill -9 after an fsync.
source "$(dirname "$0")/lib.sh"
need_root
fuse_ok || skip "no FUSE here"
[ -r /proc/config.gz ] && ! zgrep -q '^CONFIG_FUSE_PASSTHROUGH=y' /proc/config.gz &&
	skip "this kernel has no FUSE passthrough"
export DRFS_FUSE_PASSTHROUGH=1

make_repo
MNT=$T/mnt
drfs init "$REPO" >/dev/null
SRC=$(realtree)
mount_log() { cat "$CACHE"/mount-*.log 2>/dev/null; }
writes() { grep -c 'opcode: WRITE' "$T/mount.err" || true; }

# 0. the writes do not reach the daemon (FUSE debug output counts them);
# without the variable they do
seeded_bytes 7 $((24 << 20)) >"$T/big"
mount_repo "$MNT" -d
cp "$T/big" "$MNT/now/big"
cmp -s "$T/big" "$MNT/now/big" || fail "big differs in now/"
w=$(writes)
umount_repo "$MNT"
grep -q 'FUSE passthrough offered' "$T/mount.err" ||
	{ tail "$T/mount.err" >&2; fail "passthrough was not offered"; }
[ "$w" = 0 ] || fail "$w WRITE requests reached the daemon with passthrough"
DRFS_FUSE_PASSTHROUGH=0 mount_repo "$MNT" -d
cp "$T/big" "$MNT/now/big.plain"
w=$(writes)
umount_repo "$MNT"
[ "$w" -gt 0 ] || fail "without passthrough no WRITE was counted: the count proves nothing"
info "24 MiB copied: 0 WRITE requests with passthrough, $w without"

# 1. a real tree, and every case above
mount_repo "$MNT"
N=$MNT/now
rsync -aHAX "$SRC/" "$N/tree/"
mount_log | grep -q 'FUSE passthrough offered' ||
	{ mount_log >&2; fail "the mount log does not say passthrough is on"; }
# open across a snapshot, written after it
exec 3>"$N/across"
printf 'one\n' >&3
s1=$(drfs snapshot "$MNT") || fail "snapshot 1 failed"
printf 'two\n' >&3
exec 3>&-
[ "$(cat "$s1/across")" = one ] || fail "snapshot 1 holds '$(cat "$s1/across")'"
# a reader opening what a passthrough writer holds, and stat while writing
exec 3>"$N/shared"
printf 'abc' >&3
[ "$(cat "$N/shared")" = abc ] || fail "a reader of an open file saw '$(cat "$N/shared")'"
[ "$(stat -c %s "$N/shared")" = 3 ] || fail "stat while writing: $(stat -c %s "$N/shared")"
head -c 100000 /dev/zero >&3
[ "$(stat -c %s "$N/shared")" = 100003 ] || fail "stat after more: $(stat -c %s "$N/shared")"
exec 3>&-
# a writer opening what a reader holds (not passthrough: must still work)
printf 'old\n' >"$N/readfirst"
exec 4<"$N/readfirst"
printf 'new\n' >>"$N/readfirst"
exec 4<&-
[ "$(cat "$N/readfirst")" = "$(printf 'old\nnew')" ] || fail "readfirst: $(cat "$N/readfirst")"
# truncate while open, append, mmap
exec 3>"$N/trunc"
printf '12345' >&3
truncate -s 2 "$N/trunc"
[ "$(cat "$N/trunc")" = 12 ] || fail "truncate while open: $(cat "$N/trunc")"
exec 3>&-
printf 'a\n' >>"$N/app"
printf 'b\n' >>"$N/app"
python3 - "$N/mm" <<'PY' || fail "mmap write failed"
import mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
os.ftruncate(fd, 8192)
m = mmap.mmap(fd, 8192)
m[4096:4101] = b"mmap!"
m.flush()
m.close()
os.close(fd)
PY
# a hard link written through while the other name is open
printf 'x' >"$N/l1"
ln "$N/l1" "$N/l2"
exec 3>>"$N/l1"
printf 'y' >>"$N/l2"
printf 'z' >&3
exec 3>&-
[ "$(cat "$N/l2")" = xyz ] || fail "hard link: $(cat "$N/l2")"
# an mtime set while open stays; a write after it moves it again
exec 3>"$N/times"
printf 'p' >&3
touch -d '2001-02-03 04:05:06' "$N/times"
exec 3>&-
[ "$(stat -c %Y "$N/times")" = "$(date -d '2001-02-03 04:05:06' +%s)" ] ||
	fail "an mtime set while open was lost: $(stat -c %y "$N/times")"
exec 3>>"$N/times"
touch -d '2001-02-03 04:05:06' "$N/times"
sleep 0.05
printf 'q' >&3
exec 3>&-
[ "$(stat -c %Y "$N/times")" -gt 1000000000 ] &&
	[ "$(stat -c %Y "$N/times")" != "$(date -d '2001-02-03 04:05:06' +%s)" ] ||
	fail "a write after an explicit mtime did not move it: $(stat -c %y "$N/times")"
python3 -c 'import os,sys; f=os.open(sys.argv[1], os.O_WRONLY|os.O_CREAT, 0o644); os.write(f, b"synced\n"); os.fsync(f); os.close(f)' "$N/synced"

expect() {
	local d=$1
	[ "$(cat "$d/across")" = "$(printf 'one\ntwo')" ] || fail "$d: across is '$(cat "$d/across")'"
	[ "$(stat -c %s "$d/shared")" = 100003 ] || fail "$d: shared has $(stat -c %s "$d/shared") bytes"
	[ "$(cat "$d/trunc")" = 12 ] || fail "$d: trunc is '$(cat "$d/trunc")'"
	[ "$(cat "$d/app")" = "$(printf 'a\nb')" ] || fail "$d: app is '$(cat "$d/app")'"
	[ "$(dd if="$d/mm" bs=1 skip=4096 count=5 2>/dev/null)" = 'mmap!' ] || fail "$d: mm lost its mmap write"
	[ "$(cat "$d/l1")" = xyz ] || fail "$d: l1 is '$(cat "$d/l1")'"
	[ "$(cat "$d/times")" = pq ] || fail "$d: times is '$(cat "$d/times")'"
	treecmp --no-atime "$SRC" "$d/tree" >"$T/cmp" ||
		{ head "$T/cmp" >&2; fail "$d/tree differs from $SRC"; }
}
expect "$N"
s2=$(drfs snapshot "$MNT") || fail "snapshot 2 failed"
expect "$s2"
cmp -s "$T/big" "$s2/big" || fail "big differs in the snapshot"

# 2. kill -9 with passthrough writers open: one after an fsync (the
# fsync'd bytes survive), one across a snapshot and written after it
# without an fsync (it comes back as the snapshot holds it, or with the
# later bytes: never empty), and the repository is sound
exec 3>"$N/open-at-kill"
printf 'kept\n' >&3
python3 -c 'import os,sys; f=os.open(sys.argv[1], os.O_WRONLY); os.fsync(f); os.close(f)' "$N/open-at-kill"
exec 5>"$N/held-snap"
printf 'in the snapshot\n' >&5
s3=$(drfs snapshot "$MNT") || fail "snapshot 3 failed"
printf 'after\n' >&5
kill9 "$MNT"
exec 3>&- 5>&-
mount_repo "$MNT"
[ "$(cat "$N/synced")" = synced ] || fail "the fsync'd file was lost"
[ "$(cat "$N/open-at-kill")" = kept ] || fail "open-at-kill: '$(cat "$N/open-at-kill")'"
[ "$(cat "$MNT/latest/held-snap")" = 'in the snapshot' ] ||
	fail "the snapshot holds held-snap as '$(cat "$MNT/latest/held-snap")'"
case "$(cat "$N/held-snap")" in
'in the snapshot' | "$(printf 'in the snapshot\nafter')") ;;
*) fail "held-snap came back as '$(cat "$N/held-snap")' after kill -9" ;;
esac
expect "$N"
umount_repo "$MNT"
check_repo "after a kill -9 of a mount with passthrough writers"
rm -rf "$T/r"
drfs restore "$REPO" latest "$T/r" -q
expect "$T/r"
info "passthrough: snapshots, restore and a kill -9 hold what was written"
