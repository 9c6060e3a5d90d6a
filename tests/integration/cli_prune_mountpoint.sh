#!/usr/bin/env bash
# cli_prune_mountpoint: drfs prune MOUNTPOINT (the synopsis's
# REPO|MOUNTPOINT) runs the prune in that mount, as drfs prune REPO does
# when the repository is mounted with the same cache; given as an absolute
# or a relative path; --json is refused there (exit 2) as for REPO. A
# directory that is no mount is still taken for a repository. In a
# several-repository mount, MOUNTPOINT/NAME is one repository's mount and
# prunes that one only; MOUNTPOINT itself is refused (exit 2, naming the
# folders), and the folder of a repository that ended says so (exit 1).
# The mount's one log file stamps each line of a repository with its
# folder, those of its gc thread (the prune) and of its request handlers
# (the retention after a snapshot) too.
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
# several repositories in one mount: MNT/NAME is that repository's
make_two_repos
# each repository its own cache
rdrfs() { # CMD REPO ARGS...
	local cmd=$1 r=$2 cache=$T/cache-a
	shift 2
	[ "$r" = "$RA" ] || cache=$T/cache-b
	"$DRFS" "$cmd" "$r" --cache-dir "$cache" "$@"
}
nrepos() { rdrfs snapshots "$1" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
for r in "$RA" "$RB"; do
	rdrfs init "$r" >/dev/null 2>&1 || fail "init $r failed"
	echo one >"$T/src/a"
	rdrfs backup "$r" "$T/src" -q --time 2026-04-01T10:00:00Z >/dev/null
	echo two >"$T/src/a"
	rdrfs backup "$r" "$T/src" -q --time 2026-04-02T10:00:00Z >/dev/null
done
M2=$T/mnt2
mkdir -p "$M2"
# folders named by a config file: a for RA, b for RB
NA=a NB=b
printf '[%s]\nrepository = %s\n' "$NA" "$RA" "$NB" "$RB" >"$T/all.conf"
"$DRFS" mount --config "$T/all.conf" "$M2" --cache-dir "$T/mcache" --keep-last 1 \
	>"$T/mount.out" 2>"$T/mount.err" ||
	{ cat "$T/mount.err" >&2; fail "drfs mount --config MNT failed"; }
[ -d "$M2/$NA/snapshots" ] && [ -d "$M2/$NB/snapshots" ] ||
	fail "$NA and $NB are not mounted: $(ls "$M2")"

run_nocrash "prune MNT (several)" drfs prune "$M2" --keep-last 1
[ "$RC" = 2 ] || fail "prune of a several-repository root: exit $RC, want 2"
grep -q "mounts several repositories ($NA, $NB).*drfs prune $M2/$NA" "$T/last.err" ||
	fail "prune of a several-repository root: unclear error: $(cat "$T/last.err")"
[ "$(nrepos "$RA")" = 2 ] && [ "$(nrepos "$RB")" = 2 ] ||
	fail "prune of a several-repository root removed a snapshot"

run_nocrash "prune MNT/NAME" drfs prune "$M2/$NA" --keep-last 1
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "prune MNT/$NA: exit $RC"; }
grep -q "mounted on \"$M2/$NA\": the prune runs in that mount" "$T/last.err" ||
	fail "prune MNT/$NA did not go through its mount: $(cat "$T/last.err")"
grep -q "2026-04-01/100000 .* remove" "$T/last.out" ||
	fail "prune MNT/$NA did not forget the first snapshot: $(cat "$T/last.out")"
[ "$(nrepos "$RA")" = 1 ] || fail "prune MNT/$NA: $RA has $(nrepos "$RA") snapshots, want 1"
[ "$(nrepos "$RB")" = 2 ] || fail "prune MNT/$NA touched the other repository $RB"
[ "$(cat "$M2/$NA/latest/a")" = two ] || fail "$NA reads other bytes after its prune"
[ "$(cat "$M2/$NB/latest/a")" = two ] || fail "$NB reads other bytes"

# two snapshots of NB's now/: the mount's --keep-last 1 (applied after a
# snapshot, to now/'s snapshots) forgets the first, in the request
# handler of the second
for x in three four; do
	echo "$x" >"$M2/$NB/now/b"
	drfs snapshot "$M2/$NB" >/dev/null 2>"$T/snap.err" || fail "snapshot $NB: $(cat "$T/snap.err")"
done
[ "$(nrepos "$RB")" = 3 ] || fail "snapshots of $NB: $(nrepos "$RB") snapshots, want 3 (2 backups, now/'s last)"
log=$(ls "$T/mcache/$NA"/mount-*.log)
grep -q " drfs: $NA: prune handed over by pid [0-9]*: done$" "$log" ||
	{ cat "$log" >&2; fail "the log's prune line does not name $NA"; }
grep -q " drfs: $NB: retention policy: forgot 1 snapshot$" "$log" ||
	{ cat "$log" >&2; fail "the log's retention line does not name $NB"; }
! grep -E "drfs: (prune handed|retention policy|gc after)" "$log" ||
	fail "a line of a repository's without its name"

# a repository whose folder ended: said so, not taken for a repository
"$DRFS" umount "$M2/$NB" 2>"$T/umount.err" || fail "umount $NB: $(cat "$T/umount.err")"
run_nocrash "prune MNT/ENDED" drfs prune "$M2/$NB" --keep-last 1
[ "$RC" = 1 ] || fail "prune of an ended folder: exit $RC, want 1"
grep -q "repository $NB is ended" "$T/last.err" ||
	fail "prune of an ended folder: unclear error: $(cat "$T/last.err")"
"$DRFS" umount "$M2" 2>"$T/umount.err" || fail "umount: $(cat "$T/umount.err")"
info "ok"
