#!/bin/bash
# The trees a snapshot of now/ makes go into the local tree cache as they
# are made, once their copies pass 4 MiB (DRFS_TEST_TREE_SPILL=1 here:
# every one), instead of all being held in memory until the commit's end
# (docs/now.md, "Memory"). So a tree is in the cache before the pack that
# holds it is uploaded. That must not make it pass for stored: the daemon
# dies right after such a tree reached the cache (DRFS_TEST_CRASH_AT=
# trees-cached, as kill -9), the snapshot fails, a remount on the same
# cache snapshots again, and then the repository alone (an empty cache)
# restores the snapshot equal to the source, drfs check --read-data is
# clean, and the first mount's cache browses the snapshot too.
source "$(dirname "$0")/lib.sh"
need_root
make_repo
MNT=$T/mnt
drfs init "$REPO" >/dev/null
SRC=$T/src
cp -a "$(realtree)" "$SRC"
export DRFS_TEST_TREE_SPILL=1

# ---- the daemon dies with trees cached and not yet uploaded ------------------
export DRFS_TEST_CRASH_AT=trees-cached
mount_repo "$MNT"
unset DRFS_TEST_CRASH_AT
pid=$(daemon_pid "$MNT") || fail "no daemon pid"
rsync -a "$SRC/" "$MNT/now/"
run_nocrash "drfs snapshot (daemon dies at trees-cached)" \
	"$DRFS" snapshot "$MNT"
[ "$RC" != 0 ] || fail "the snapshot succeeded: the daemon did not stop at trees-cached"
for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "the daemon still runs after the failed snapshot"
fusermount3 -u -z "$MNT" 2>/dev/null || umount -l "$MNT"
drfs snapshots "$REPO" >"$T/snaps"
grep -q "^20" "$T/snaps" && { cat "$T/snaps" >&2; fail "a snapshot exists after the crash"; }

# ---- remount on the same cache, rsync again, snapshot --------------------------
# (files staged in memory come back empty after a crash: docs/now.md)
mount_repo "$MNT"
rsync -a "$SRC/" "$MNT/now/"
snap=$(drfs snapshot "$MNT" --time 2026-09-01T00:00:00Z) ||
	fail "the snapshot after the remount failed"
info "snapshot after the remount: $snap"
umount_repo "$MNT"

# ---- the repository alone ---------------------------------------------------
"$DRFS" restore "$REPO" 2026-09-01/000000 "$T/out" --cache-dir "$(fresh_cache)" \
	-q || fail "the restore with an empty cache failed"
treecmp --no-atime --ignore-root-times "$SRC" "$T/out" >&2 ||
	fail "the restore with an empty cache differs from the source"
check_repo "after the crash with trees cached"
mount_repo "$MNT"
treecmp --no-atime --ignore-root-times "$SRC" "$MNT/latest/" >&2 ||
	fail "the snapshot browsed through the first cache differs from the source"
umount_repo "$MNT"
info "ok"
