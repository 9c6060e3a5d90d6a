#!/bin/bash
# Files of now/ that a snapshot just made clean (their staging files are
# dropped; the unlink may be deferred until the index is synced) and that
# are written again at once: the new content must be readable after the
# deferred unlinks have run, and land in the next snapshot.
source "$(dirname "$0")/lib.sh"
need_root
make_repo

MNT=$T/mnt
drfs init "$REPO" >/dev/null
mkdir -p "$T/src"
for i in $(seq 1 20); do
	seeded_bytes "$i" $((100000 + i * 1000)) >"$T/src/f$i"
done
mount_repo "$MNT"
cp -a "$T/src/." "$MNT/now/"
drfs snapshot "$MNT" --time 2026-05-01T00:00:00Z >/dev/null
for i in $(seq 1 20); do
	echo "appended $i" >>"$MNT/now/f$i"
	echo "appended $i" >>"$T/src/f$i"
	touch -r "$MNT/now/f$i" "$T/src/f$i"
done
sleep 2.5 # past the syncer's deferred unlinks (about once a second)
for i in $(seq 1 20); do
	cmp -s "$T/src/f$i" "$MNT/now/f$i" ||
		fail "now/f$i lost its append after the deferred staging unlink"
done
snap=$(drfs snapshot "$MNT" --time 2026-05-01T00:01:00Z)
treecmp --no-atime --ignore-root-times "$T/src" "$snap" ||
	fail "the second snapshot differs from the source"
umount_repo "$MNT"
drfs check "$REPO" --read-data >/dev/null || fail "check --read-data failed"
info "ok"
