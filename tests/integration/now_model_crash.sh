#!/bin/bash
# kill -9 of the daemon right after random operations on now/
# (tests/tools/fsmodel.py), then a remount, compared with the model:
#   - staging on disk (DRFS_MEM_STAGING=0): a killed daemon loses nothing
#     that reached it (LMDB commits and staging files are in the page
#     cache), so now/ must equal the model exactly (times aside: nothing
#     was settled);
#   - memory staging (the default): the same, except that a file may be
#     empty (data written, never fsync'd, not yet flushed: the documented
#     outcome); names, types, modes, owners, links, xattrs and every other
#     file still agree;
# then a snapshot of both trees, `drfs check --read-data` clean.
# DRFS_TEST_SEED picks other operations.
source "$(dirname "$0")/lib.sh"
need_root
make_repo
MNT=$T/mnt
drfs init "$REPO" >/dev/null
OPS=${DRFS_TEST_MODEL_OPS:-2500}
info "seed $SEED, $OPS operations per phase"

mkdir -p "$T/ref/disk" "$T/ref/mem"
chmod 755 "$T/ref/disk" "$T/ref/mem"

DRFS_MEM_STAGING=0 mount_repo "$MNT"
mkdir "$MNT/now/disk"
chmod 755 "$MNT/now/disk"
fsmodel run "$T/ref/disk" "$MNT/now/disk" --seed "$SEED" --ops "$OPS" ||
	fail "now/ and the model disagree (staging on disk, seed $SEED)"
kill9 "$MNT"
mount_repo "$MNT"
fsmodel compare --no-times "$T/ref/disk" "$MNT/now/disk" ||
	fail "kill -9 changed now/ (staging on disk, seed $SEED)"

mkdir "$MNT/now/mem"
chmod 755 "$MNT/now/mem"
fsmodel run "$T/ref/mem" "$MNT/now/mem" --seed $((SEED + 1)) --ops "$OPS" ||
	fail "now/ and the model disagree (memory staging, seed $((SEED + 1)))"
kill9 "$MNT"
mount_repo "$MNT"
fsmodel compare --no-times --lost-ok "$T/ref/mem" "$MNT/now/mem" 2>"$T/cmp.err" ||
	{ cat "$T/cmp.err" >&2; fail "kill -9 changed now/ beyond emptying unsynced files (memory staging, seed $((SEED + 1)))"; }
info "$(tail -n 1 "$T/cmp.err" | sed 's/^fsmodel: //') (memory staging)"
fsmodel compare --no-times "$T/ref/disk" "$MNT/now/disk" ||
	fail "the staged-on-disk tree changed after the second kill -9 (seed $SEED)"

snap=$(drfs snapshot "$MNT" --time 2026-08-01T00:00:00Z)
fsmodel compare --no-times "$T/ref/disk" "$snap/disk" ||
	fail "the snapshot differs from the model (seed $SEED)"
fsmodel compare --no-times --lost-ok "$T/ref/mem" "$snap/mem" 2>"$T/cmp.err" ||
	{ cat "$T/cmp.err" >&2; fail "the snapshot differs from the model beyond emptied files (seed $((SEED + 1)))"; }
umount_repo "$MNT"
drfs check --read-data "$REPO" >"$T/check.out" 2>&1 ||
	{ cat "$T/check.out" >&2; fail "drfs check --read-data failed"; }
info "ok"
