#!/bin/bash
# Big files are read out of a snapshot in requests of up to 1 MiB (issue
# 21): the daemon raises its mount's read_ahead_kb (the kernel caps FUSE
# read-ahead at it, 128 KiB by default, whatever max_pages says), so a
# cold sequential read of a 12 MiB file with 128 KiB reads (dd bs=128k)
# costs about 12 READ requests instead of 96. Counted in the daemon's
# own request log (-d), not timed. The content read back is the file's.
source "$(dirname "$0")/lib.sh"
need_root
fuse_ok || skip "FUSE not usable here"
make_repo
drfs init "$REPO" >/dev/null

KiB=1024
MiB=$((1024 * KiB))
mkdir -p "$T/src"
seeded_bytes "$SEED" $((12 * MiB)) >"$T/src/big"
echo small >"$T/src/small"
drfs backup "$REPO" "$T/src" --quiet >/dev/null

MNT=$T/mnt
mount_repo "$MNT" -d
dev=$(mountpoint -d "$MNT")
ra=$(cat "/sys/class/bdi/$dev/read_ahead_kb")
[ "$ra" = 1024 ] || fail "read_ahead_kb of the mount's device $dev is $ra, not 1024"

# a fresh mount: nothing of the file is in the page cache yet
before=$(wc -l <"$T/mount.err")
dd if="$MNT/latest/big" of="$T/big.out" bs=128k status=none
cmp "$T/src/big" "$T/big.out" || fail "big read back differs"
sleep 0.5 # the last replies reach the log
tail -n +"$((before + 1))" "$T/mount.err" >"$T/reads.log"
reads=$(grep -a -c 'opcode: READ (15)' "$T/reads.log" || true)
largest=$(grep -a -A1 'opcode: READ (15)' "$T/reads.log" |
	grep -a -o 'outsize: [0-9]*' | awk '$2 > m { m = $2 } END { print m + 0 }')
info "cold read of 12 MiB: $reads READ requests, largest reply $largest bytes"
[ "$reads" -ge 12 ] || fail "only $reads READ requests for 12 MiB: log not read?"
[ "$reads" -le 24 ] || fail "$reads READ requests for 12 MiB (want <= 24)"
[ "$largest" -gt $((512 * KiB)) ] ||
	fail "largest READ reply $largest bytes (want > 512 KiB)"

treecmp --no-atime --ignore-root-times "$T/src" "$MNT/latest/" >&2 ||
	fail "the snapshot differs from the source"
umount_repo "$MNT"
info "OK"
