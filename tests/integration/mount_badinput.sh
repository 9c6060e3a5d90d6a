#!/bin/bash
# drfs mount with bad input: a wrong passphrase, a missing repository, a
# missing or non-directory mountpoint and a busy mountpoint each exit != 0
# with a clear message and leave nothing mounted. A flipped byte in a pack
# (local backend only) gives EIO for the damaged file only, every other
# file reads back exactly, and the daemon's log names the damaged file.
source "$(dirname "$0")/lib.sh"
need_root
[ -e /dev/fuse ] || skip "no /dev/fuse"
make_repo
drfs init "$REPO"

MiB=$((1 << 20))
mkdir -p "$T/src/files"
for i in 1 2 3 4; do
	seeded_bytes $((SEED + i)) $((4 * MiB)) >"$T/src/files/big-$i"
done
for i in $(seq 1 10); do
	printf 'small file %d\n' "$i" >"$T/src/files/small-$i"
done
snap=$(drfs backup "$REPO" "$T/src" --time 2026-05-06T07:08:09Z | tail -n 1)
M=$T/mnt
mkdir -p "$M"

not_mounted() {
	mountpoint -q "$M" && fail "$1: something is mounted on $M"
	return 0
}

# --- wrong passphrase ---------------------------------------------------------
good=$DRFS_PASSWORD
DRFS_PASSWORD="wrong passphrase 0d15ea5e" expect_clean_failure \
	"mount with a wrong passphrase" drfs mount "$REPO" "$M"
grep -qiE 'passphrase|password' "$T/last.err" ||
	fail "wrong passphrase: message does not say so: $(cat "$T/last.err")"
grep -qF -e "$good" -e "wrong passphrase 0d15ea5e" "$T/last.err" &&
	fail "the message contains a passphrase"
not_mounted "wrong passphrase"

# --- missing repository -------------------------------------------------------
case "$DRFS_TEST_BACKEND" in
local) missing=$T/no-such-repo ;;
s3) missing="s3://drfs-test-missing-$(_rand_lower 12)/" ;;
esac
expect_clean_failure "mount of a missing repository" \
	drfs mount "$missing" "$M"
not_mounted "missing repository"

# --- bad mountpoints ----------------------------------------------------------
expect_clean_failure "mount on a missing mountpoint" \
	drfs mount "$REPO" "$T/no-such-dir"
grep -qF "no-such-dir" "$T/last.err" ||
	fail "missing mountpoint: message does not name it: $(cat "$T/last.err")"
touch "$T/a-file"
expect_clean_failure "mount on a regular file" drfs mount "$REPO" "$T/a-file"
not_mounted "bad mountpoint"

# --- already mounted ------------------------------------------------------------
mount_repo "$M"
expect_clean_failure "second mount on the same mountpoint" \
	drfs mount "$REPO" "$M"
cmp -s "$M/snapshots/$snap/files/small-3" "$T/src/files/small-3" ||
	fail "the first mount broke after a refused second mount"
umount_repo "$M"
expect_clean_failure "umount of something not mounted" "$DRFS" umount "$M"

[ "$DRFS_TEST_BACKEND" = local ] ||
	skip "error part passed; corruption part needs the local backend"

# --- one flipped byte in the largest pack ---------------------------------------
pack=$(find "$REPO/data" -type f -printf '%s %p\n' | sort -n | tail -n 1 |
	cut -d' ' -f2-)
[ -n "$pack" ] || fail "no pack in $REPO/data"
python3 - "$pack" <<'PY'
import sys
p = sys.argv[1]
with open(p, "r+b") as f:
    f.seek(1 << 20)   # inside the first big file's data, before any tree
    b = f.read(1)
    f.seek(1 << 20)
    f.write(bytes([b[0] ^ 0x40]))
PY
rm -rf "$CACHE" # start cold: nothing decoded before the damage
mount_repo "$M"
S=$M/snapshots/$snap
[ "$(ls "$S/files" | wc -l)" = 14 ] || fail "listing: $(ls "$S/files")"
bad=()
for f in "$T"/src/files/*; do
	n=$(basename "$f")
	if cat "$S/files/$n" >"$T/out" 2>"$T/cat.err"; then
		cmp -s "$f" "$T/out" || fail "files/$n: read back different bytes"
	else
		grep -q 'Input/output error' "$T/cat.err" ||
			fail "files/$n: failed without EIO: $(cat "$T/cat.err")"
		bad+=("$n")
	fi
done
[ "${#bad[@]}" = 1 ] || fail "want exactly one damaged file, got: ${bad[*]:-none}"
info "damaged: ${bad[0]}"
# reading it again fails again, and the rest of the mount keeps working
cat "$S/files/${bad[0]}" >/dev/null 2>&1 && fail "second read of the damaged file worked"
cmp -s "$S/files/small-1" "$T/src/files/small-1" || fail "small-1 after EIO"
log=$(find "$CACHE" -name "mount-*.log" | head -n 1)
[ -n "$log" ] || fail "no mount.log under $CACHE"
grep -F "files/${bad[0]}" "$log" >/dev/null ||
	fail "the log does not name files/${bad[0]}: $(cat "$log")"
n=$(grep -cF "files/${bad[0]}" "$log")
[ "$n" = 1 ] || fail "the damaged file was logged $n times, want once"
umount_repo "$M"
info "ok"
