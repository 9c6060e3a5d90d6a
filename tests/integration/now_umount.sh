#!/bin/bash
# `drfs umount` tells the truth about the final snapshot (the issue's case
# 6): when the repository goes away before the unmount, the snapshot of
# now/ and the upload of what is staged fail; drfs umount must exit 1,
# say why on stderr and where the changes are kept, and the next mount
# with the same cache directory must have them all (and snapshot them).
# A clean unmount exits 0 and prints no error.
#
# The repository "goes away": s3, the mount talks to RadosGW through
# tests/s3/faultproxy.js, which is stopped; local, the repository
# directory is a bind mount remounted read-only.
source "$(dirname "$0")/lib.sh"
need_root
make_repo
MNT=$T/mnt
drfs init "$REPO" >/dev/null

case $DRFS_TEST_BACKEND in
s3)
	start_proxy "$T/proxy.log"
	MOUNT_ENV=(AWS_ENDPOINT_URL_S3=http://127.0.0.1:$PROXY_PORT)
	;;
local)
	mount --bind "$REPO" "$REPO"
	MOUNT_ENV=()
	;;
esac
repo_away() {
	case $DRFS_TEST_BACKEND in
	s3) stop_proxy ;;
	local) mount -o remount,bind,ro "$REPO" ;;
	esac
}
repo_back() {
	case $DRFS_TEST_BACKEND in
	s3) start_proxy "$T/proxy2.log"
	    MOUNT_ENV=(AWS_ENDPOINT_URL_S3=http://127.0.0.1:$PROXY_PORT) ;;
	local) mount -o remount,bind,rw "$REPO" ;;
	esac
}
mount_it() { env "${MOUNT_ENV[@]}" "$DRFS" mount "$REPO" "$MNT" \
	--cache-dir "$CACHE" --retries 1 >"$T/mount.out" 2>"$T/mount.err" ||
	{ cat "$T/mount.err" >&2; fail "drfs mount failed"; }; }
snapshots() {
	drfs snapshots "$REPO" --json |
		python3 -c 'import json, sys; print(len(json.load(sys.stdin)))'
}
mkdir -p "$MNT"

# the source: small files (staged in memory) and one past 1 MiB (on disk)
mkdir -p "$T/src/a"
for i in $(seq 1 30); do
	seeded_bytes $((SEED + i)) $((200 * i)) >"$T/src/a/f$i"
done
seeded_bytes $((SEED + 99)) $((3 << 20)) >"$T/src/big"

# ---- a clean unmount: exit 0, no error, the final snapshot is there --------
mount_it
rsync -aHAX "$T/src/" "$MNT/now/"
run_nocrash "drfs umount" "$DRFS" umount "$MNT"
[ "$RC" = 0 ] || fail "drfs umount of a healthy mount exited $RC: $(cat "$T/last.err")"
grep -q 'error' "$T/last.err" && fail "a clean unmount printed an error: $(cat "$T/last.err")"
mountpoint -q "$MNT" && fail "still mounted after drfs umount"
[ "$(snapshots)" = 1 ] || fail "no snapshot at unmount"

# ---- the repository goes away: exit 1, the reason, where the changes are ---
mount_it
for i in $(seq 1 10); do
	seeded_bytes $((SEED + 1000 + i)) $((300 * i)) >"$T/src/a/g$i"
done
seeded_bytes $((SEED + 2000)) 5000 >"$T/src/a/f3"
rm "$T/src/a/f7"
seeded_bytes $((SEED + 2001)) $((2 << 20)) >"$T/src/big2"
rsync -aHAX --delete "$T/src/" "$MNT/now/"
# rsync leaves a directory it updated files in with the time of its last
# rename (on any file system): take now/'s, so that it is compared later
touch -r "$MNT/now/a" "$T/src/a"
repo_away
run_nocrash "drfs umount with the repository gone" "$DRFS" umount "$MNT"
info "drfs umount: exit $RC: $(tr '\n' ' ' <"$T/last.err")"
[ "$RC" = 1 ] ||
	fail "drfs umount exited $RC although its final snapshot could not be stored"
grep -q 'snapshot of now/ at unmount failed: ..*' "$T/last.err" ||
	fail "drfs umount does not say that the final snapshot failed"
grep -qF "$CACHE" "$T/last.err" ||
	fail "drfs umount does not say where the changes are kept"
grep -q 'next drfs mount' "$T/last.err" ||
	fail "drfs umount does not say that the next mount picks them up"
if [ "$DRFS_TEST_BACKEND" = s3 ]; then
	grep -q "$AWS_SECRET_ACCESS_KEY" "$T/last.err" && fail "the secret was printed"
fi
mountpoint -q "$MNT" && fail "still mounted after drfs umount"
repo_back
[ "$(snapshots)" = 1 ] || fail "a failed final snapshot left a snapshot"

# ---- the next mount has every change and stores it --------------------------
mount_it
treecmp --no-atime --ignore-root-times "$T/src" "$MNT/now" ||
	fail "now/ lost changes after the failed unmount"
run_nocrash "drfs umount" "$DRFS" umount "$MNT"
[ "$RC" = 0 ] || fail "drfs umount after the repository came back exited $RC: $(cat "$T/last.err")"
[ "$(snapshots)" = 2 ] || fail "the unmount did not snapshot the kept changes"
mount_it
treecmp --no-atime --ignore-root-times "$T/src" "$MNT/latest/" ||
	fail "the snapshot of the kept changes differs"
umount_repo "$MNT"
check_repo
info "ok"
