#!/bin/bash
# now/ against a model: tests/tools/fsmodel.py applies the same random
# operations (writes at any offset, holes, truncate, fallocate, renames of
# every kind, hard links, unlink and writes through descriptors held open,
# fifos, symlinks, modes, owners, times, xattrs) to now/ and to a directory
# on the local file system, and demands the same results and errors and
# the same trees. Then the tree must survive, unchanged:
#   - an unmount without a snapshot and a remount (state from LMDB and the
#     staging area), followed by more operations on files whose content is
#     by then in chunks (the 6 s pause lets the background flush run), and
#     by three models running at once in directories of their own;
#   - a snapshot (compared with the model);
#   - a remount on an empty cache directory (now/ rebuilt from the latest
#     snapshot);
# and `drfs check --read-data` finds the repository clean.
# DRFS_TEST_SEED picks other operations (the seed is printed).
source "$(dirname "$0")/lib.sh"
need_root
make_repo
MNT=$T/mnt
drfs init "$REPO" >/dev/null
OPS=${DRFS_TEST_MODEL_OPS:-1500}
info "seed $SEED, $OPS operations per phase"

mkdir -p "$T/ref"
chmod 755 "$T/ref"
mount_repo "$MNT" --no-snapshot-on-unmount
mkdir "$MNT/now/m"
chmod 755 "$MNT/now/m"
fsmodel run "$T/ref" "$MNT/now/m" --seed "$SEED" --ops "$OPS" ||
	fail "now/ and the model disagree (phase 1, seed $SEED)"
fsmodel settle "$T/ref" "$MNT/now/m"
umount_repo "$MNT"

mount_repo "$MNT" --no-snapshot-on-unmount
fsmodel compare "$T/ref" "$MNT/now/m" ||
	fail "now/ changed across an unmount without a snapshot (seed $SEED)"
sleep 6 # quiet: the background flush chunks what is staged
fsmodel run "$T/ref" "$MNT/now/m" --seed $((SEED + 1)) --ops "$OPS" ||
	fail "now/ and the model disagree after a remount (phase 2, seed $((SEED + 1)))"
# three models at once, each in its own directory: concurrent operations
# on one mount (and the background flush running under them)
pids=()
for q in 1 2 3; do
	mkdir "$T/ref/q$q" "$MNT/now/m/q$q"
	fsmodel run "$T/ref/q$q" "$MNT/now/m/q$q" --seed $((SEED + 10 + q)) \
		--ops $((OPS / 2)) >"$T/q$q.log" 2>&1 &
	pids+=($!)
done
for q in 1 2 3; do
	wait "${pids[$((q - 1))]}" ||
		{ cat "$T/q$q.log" >&2; fail "now/ and the model disagree with concurrent writers (seed $((SEED + 10 + q)))"; }
done
fsmodel settle "$T/ref" "$MNT/now/m"
snap=$(drfs snapshot "$MNT" --time 2026-07-01T00:00:00Z)
fsmodel compare "$T/ref" "$snap/m" ||
	fail "the snapshot differs from the model (seed $SEED)"
fsmodel compare "$T/ref" "$MNT/now/m" ||
	fail "now/ differs from the model after the snapshot (seed $SEED)"
# and keeps working after the snapshot: copy-on-write from its chunks
fsmodel run "$T/ref" "$MNT/now/m" --seed $((SEED + 2)) --ops $((OPS / 2)) ||
	fail "now/ and the model disagree after a snapshot (phase 3, seed $((SEED + 2)))"
fsmodel settle "$T/ref" "$MNT/now/m"
snap=$(drfs snapshot "$MNT" --time 2026-07-01T00:00:01Z)
fsmodel compare "$T/ref" "$snap/m" ||
	fail "the second snapshot differs from the model (seed $SEED)"
umount_repo "$MNT"

rm -rf "$CACHE"
mount_repo "$MNT"
fsmodel compare "$T/ref" "$MNT/now/m" ||
	fail "now/ on an empty cache directory differs from the model (seed $SEED)"
umount_repo "$MNT"
drfs check --read-data "$REPO" >"$T/check.out" 2>&1 ||
	{ cat "$T/check.out" >&2; fail "drfs check --read-data failed"; }
info "ok"
