#!/usr/bin/env bash
# cli_prune_mountpoint: drfs prune MOUNTPOINT (the synopsis's
# REPO|MOUNTPOINT) runs the prune in that mount, as drfs prune REPO does
# when the repository is mounted with the same cache; given as an absolute
# or a relative path; --json is refused there (exit 2) as for REPO. A
# directory that is no mount is still taken for a repository.
. "$(dirname "$0")/lib.sh"
fuse_ok || skip "needs root and FUSE"

make_repo
drfs init "$REPO" >/dev/null 2>&1 || fail "init failed"
mkdir -p "$T/src"
echo one >"$T/src/a"
drfs backup "$REPO" "$T/src" -q --time 2026-04-01T10:00:00Z >/dev/null
echo two >"$T/src/a"
drfs backup "$REPO" "$T/src" -q --time 2026-04-02T10:00:00Z >/dev/null
M=$T/mnt
mount_repo "$M"

run_nocrash "prune MNT --dry-run" drfs prune "$M" --keep-last 1 --dry-run
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "prune MNT --dry-run: exit $RC"; }
grep -q "runs in that mount" "$T/last.err" ||
	fail "prune MNT did not go through the mount: $(cat "$T/last.err")"
grep -q "2026-04-01/100000 .* remove" "$T/last.out" ||
	fail "prune MNT --dry-run: $(cat "$T/last.out")"
[ "$(drfs snapshots "$REPO" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 2 ] ||
	fail "prune MNT --dry-run removed a snapshot"

run_nocrash "prune MNT --json" drfs prune "$M" --keep-last 1 --json
[ "$RC" = 2 ] || fail "prune MNT --json: exit $RC, want 2"

# relative, and the real thing
(cd "$T" && "$DRFS" prune mnt --keep-last 1) >"$T/out" 2>"$T/err" ||
	{ cat "$T/err" >&2; fail "prune mnt (relative) failed"; }
grep -q "2026-04-01/100000 .* remove" "$T/out" ||
	fail "prune mnt did not forget the first snapshot: $(cat "$T/out")"
drfs snapshots "$REPO" >"$T/snaps"
grep -q 2026-04-01 "$T/snaps" && fail "the first snapshot is still listed"
grep -q 2026-04-02 "$T/snaps" || fail "the kept snapshot is gone"
[ "$(cat "$M/latest/a")" = two ] || fail "the mount reads other bytes"
umount_repo "$M"

# an empty directory is no mount: a repository, and none is there
mkdir -p "$T/empty"
expect_clean_failure "prune EMPTYDIR" drfs prune "$T/empty" --keep-last 1
grep -q "no drfs repository\|not a drfs repository\|does not exist\|no such" "$T/last.err" ||
	{ cat "$T/last.err" >&2; fail "prune EMPTYDIR: unclear error"; }
info "ok"
