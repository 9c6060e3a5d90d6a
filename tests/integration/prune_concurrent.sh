#!/bin/bash
# Prune while others use the repository (docs/retention.md, "Deferred
# deletion"):
#  - `prune --keep-last 1` while `restore` of the kept snapshot is stopped
#    (SIGSTOP) right after it started writing files: prune succeeds,
#    deletes nothing (a deletion record dooms the packs it freed), the
#    restore finishes complete and exact (treecmp), and the next prune,
#    with nobody left, deletes the doomed packs;
#  - a prune that defers (a check holds a lock) killed right after its
#    deletion record (DRFS_TEST_CRASH_AT=deletion): check --read-data
#    passes, also the running one, and the next prune finishes the record;
#  - `prune` while a backup is stopped after it uploaded a pack and before
#    its snapshot names it: prune succeeds and leaves the backup's packs
#    alone (uploaded after the backup started: never candidates), the
#    backup's snapshot is whole, and after the next prune the packs are
#    still there, the repository passes check --read-data and restores
#    exactly.
# Every reader and writer holds a shared lock that prune respects.
source "$(dirname "$0")/lib.sh"
make_repo
drfs init "$REPO" >/dev/null

KiB=1024
# two snapshots: the second keeps half of the first's files, so prune
# --keep-last 1 repacks packs that hold both kept and forgotten blobs
python3 - "$T/src" "$SEED" <<'PY'
import os, random, sys
root, seed = sys.argv[1], int(sys.argv[2])
rnd = random.Random(seed)
for d in range(24):
    os.makedirs(f"{root}/d{d}", exist_ok=True)
    for f in range(80):
        with open(f"{root}/d{d}/f{f}", "wb") as fh:
            fh.write(rnd.randbytes(rnd.randint(1000, 30000)))
PY
drfs backup "$REPO" "$T/src" --time 2026-03-01T10:00:00Z --quiet >/dev/null
for d in $(seq 0 2 23); do rm -rf "$T/src/d$d"; done
mkdir -p "$T/src/empty"
drfs backup "$REPO" "$T/src" --time 2026-03-02T10:00:00Z --quiet >/dev/null

packs() { obj_names data/; }

# wait_files DIR — until DIR holds a regular file (the reader has synced
# its cache and is reading packs), at most 60 s
wait_files() {
	for _ in $(seq 1 600); do
		[ -n "$(find "$1" -type f 2>/dev/null | head -n 1)" ] && return 0
		sleep 0.1
	done
	fail "nothing appeared in $1"
}

# ---- restore of the kept snapshot, stopped while prune runs ---------------
packs >"$T/packs.before"
# at 2 MB/s the ~15 MB take seconds: without a limit, a fast machine
# restored all 960 files between two looks of wait_files, and the stop
# came after the end
"$DRFS" restore "$REPO" latest "$T/out" --cache-dir "$T/cache-r" --quiet \
	--limit-download 2M >"$T/restore.out" 2>"$T/restore.err" &
rpid=$!
wait_files "$T/out"
kill -STOP "$rpid"
info "restore stopped after $(find "$T/out" -type f | wc -l) files"
run_nocrash "prune during a restore" drfs prune "$REPO" --keep-last 1
kill -CONT "$rpid"
cp "$T/last.err" "$T/prune1.err"
rc=0
wait "$rpid" || rc=$?
[ "$rc" = 0 ] || { tail -n 3 "$T/restore.err" >&2; fail "the restore exited $rc"; }
treecmp "$T/src" "$T/out" || fail "the restore during a prune differs from the source"
info "restore during prune: complete and exact"
[ "$RC" = 0 ] || { cat "$T/prune1.err" >&2; fail "prune during a restore failed"; }
grep -q "deletion deferred" "$T/prune1.err" ||
	fail "prune during a restore did not defer: $(cat "$T/prune1.err")"
grep -q "a reader, pid $rpid " "$T/prune1.err" ||
	fail "prune did not name the restore it waits for: $(cat "$T/prune1.err")"
packs >"$T/packs.during"
comm -23 "$T/packs.before" "$T/packs.during" >"$T/gone"
[ ! -s "$T/gone" ] || fail "prune deleted packs under a running restore: $(cat "$T/gone")"

# nobody is left: the next prune deletes the doomed packs
run_nocrash "prune after the restore" drfs prune "$REPO" --keep-last 1
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "the second prune failed"; }
grep -q "finished 1 earlier deletion record" "$T/last.err" ||
	fail "the second prune did not finish the record: $(cat "$T/last.err")"
packs >"$T/packs.after"
[ "$(comm -23 "$T/packs.before" "$T/packs.after" | wc -l)" -ge 1 ] ||
	fail "no pack was deleted after the restore ended"
run_nocrash "check (fresh cache)" "$DRFS" check "$REPO" --read-data \
	--cache-dir "$T/cache-f1"
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "check after prune failed"; }
rm -rf "$T/out"
drfs restore "$REPO" latest "$T/out" --quiet >/dev/null
treecmp "$T/src" "$T/out" || fail "the pruned repository restores wrong"

# ---- a deferred prune killed right after its deletion record -------------
python3 - "$T/src" "$SEED" <<'PY'
import random, sys
root, seed = sys.argv[1], int(sys.argv[2])
rnd = random.Random(seed + 1)
for d in range(1, 24, 4):
    for f in range(40):
        with open(f"{root}/d{d}/f{f}", "wb") as fh:
            fh.write(rnd.randbytes(rnd.randint(1000, 30000)))
PY
drfs backup "$REPO" "$T/src" --time 2026-03-03T10:00:00Z --quiet >/dev/null
nlocks=$(obj_names locks/ | wc -l)
# a check holds its lock (and sleeps) while the prune runs and dies
DRFS_TEST_LOCK_SLEEP=6 "$DRFS" check "$REPO" --read-data \
	--cache-dir "$T/cache-c" >"$T/check.out" 2>"$T/check.err" &
cpid=$!
for _ in $(seq 1 300); do
	[ "$(obj_names locks/ | wc -l)" -gt "$nlocks" ] && break
	sleep 0.1
done
rc=0
DRFS_TEST_CRASH_AT=deletion "$DRFS" prune "$REPO" --keep-last 1 \
	--cache-dir "$CACHE" >/dev/null 2>"$T/crash.err" || rc=$?
[ "$rc" = 137 ] || { cat "$T/crash.err" >&2; fail "prune with DRFS_TEST_CRASH_AT=deletion exited $rc, want 137"; }
[ -n "$(obj_names deletions/)" ] || fail "the killed prune left no deletion record"
rc=0
wait "$cpid" || rc=$?
[ "$rc" = 0 ] || { cat "$T/check.err" >&2; fail "check during the killed prune exited $rc"; }
run_nocrash "check after a prune killed after its record" "$DRFS" check \
	"$REPO" --read-data --cache-dir "$T/cache-f3"
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "check after the killed prune failed"; }
run_nocrash "prune after the killed one" drfs prune "$REPO" --keep-last 1
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "prune after the killed one failed"; }
grep -q "finished 1 earlier deletion record" "$T/last.err" ||
	fail "the record of the killed prune was not finished: $(cat "$T/last.err")"
[ -z "$(obj_names deletions/)" ] || fail "deletion records left: $(obj_names deletions/)"
rm -rf "$T/out"
"$DRFS" restore "$REPO" latest "$T/out" --cache-dir "$T/cache-f3" --quiet >/dev/null
treecmp "$T/src" "$T/out" || fail "restore after the killed prune differs"

# ---- a backup stopped between uploading a pack and its snapshot ----------
seeded_bytes $((SEED + 7)) $((40 * 1024 * KiB)) >"$T/src/big.bin"
packs >"$T/packs.before"
# (each pack upload takes 3 s more: the backup is certainly still between
# its first pack and its snapshot when it is stopped)
DRFS_TEST_UPLOAD_SLEEP=3 "$DRFS" backup "$REPO" "$T/src" \
	--cache-dir "$T/cache-b" --quiet --time 2026-03-04T10:00:00Z \
	>"$T/backup.out" 2>"$T/backup.err" &
bpid=$!
# stopped as soon as one of its packs (16 MiB each) is in the repository
for _ in $(seq 1 1200); do
	[ -n "$(packs | comm -13 "$T/packs.before" -)" ] && break
	kill -0 "$bpid" 2>/dev/null || fail "the backup ended before a pack was seen"
	sleep 0.05
done
kill -STOP "$bpid"
packs | comm -13 "$T/packs.before" - >"$T/packs.backup"
info "backup stopped with $(wc -l <"$T/packs.backup") new pack(s)"
run_nocrash "prune during a backup" drfs prune "$REPO" --keep-last 1
kill -CONT "$bpid"
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "prune during a backup failed"; }
rc=0
wait "$bpid" || rc=$?
[ "$rc" = 0 ] || { cat "$T/backup.err" >&2; fail "the backup exited $rc"; }
run_nocrash "prune after the backup" drfs prune "$REPO" --keep-last 1
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "prune after the backup failed"; }
# the packs it had uploaded when prune ran were never doomed (they are
# newer than the backup's start): not rewritten, still there
packs | comm -23 "$T/packs.backup" - >"$T/gone"
[ ! -s "$T/gone" ] || fail "the backup's packs were rewritten: $(cat "$T/gone")"
run_nocrash "check after all" "$DRFS" check "$REPO" --read-data \
	--cache-dir "$T/cache-f2"
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "check after the backup and prunes failed"; }
rm -rf "$T/out"
"$DRFS" restore "$REPO" latest "$T/out" --cache-dir "$T/cache-f2" --quiet >/dev/null
treecmp "$T/src" "$T/out" || fail "the backup taken during a prune restores wrong"
[ "$(drfs snapshots "$REPO" | tail -n +2 | wc -l)" = 1 ] ||
	fail "expected 1 snapshot: $(drfs snapshots "$REPO")"
info "ok"
