#!/bin/bash
# A lock of a dead process never blocks (docs/retention.md, "Locks"):
#  - a backup killed with kill -9 while it holds its lock: the next prune
#    runs at once with an exclusive lock (it does not wait for the dead
#    backup to acknowledge anything);
#  - a prune killed with kill -9 while it holds its exclusive lock: the
#    next backup runs;
#  - the same for processes of another pid namespace of this machine (a
#    container): a killed backup there does not hold up prune here; while
#    a prune there lives its lock is respected (a prune here is refused),
#    once it is killed its lock no longer counts, although its pid (1 in
#    its namespace) exists here too.
source "$(dirname "$0")/lib.sh"
need_root
command -v unshare >/dev/null || skip "unshare is not installed"
unshare --pid --fork --mount-proc true 2>/dev/null ||
	skip "cannot create a pid namespace here"
make_repo
drfs init "$REPO" >/dev/null

KiB=1024
mkdir -p "$T/src"
seeded_bytes "$SEED" $((512 * KiB)) >"$T/src/a"
drfs backup "$REPO" "$T/src" --time 2026-06-01T10:00:00Z --quiet >/dev/null
seeded_bytes $((SEED + 1)) $((512 * KiB)) >"$T/src/a"
drfs backup "$REPO" "$T/src" --time 2026-06-02T10:00:00Z --quiet >/dev/null

# wait_lock N — until locks/ holds at least N objects (at most 30 s)
wait_lock() {
	for _ in $(seq 1 300); do
		[ "$(obj_names locks/ | wc -l)" -ge "$1" ] && return 0
		sleep 0.1
	done
	fail "no lock appeared"
}

# ---- a backup in another pid namespace -------------------------------------
seeded_bytes $((SEED + 2)) $((512 * KiB)) >"$T/src/b"
nlocks=$(obj_names locks/ | wc -l)
DRFS_TEST_LOCK_SLEEP=120 unshare --pid --fork --mount-proc "$DRFS" backup \
	"$REPO" "$T/src" --cache-dir "$T/cache-ns2" \
	--time 2026-06-03T10:00:00Z >"$T/ns2.out" 2>&1 &
upid=$!
wait_lock $((nlocks + 1))
inner=$(pgrep -P "$upid" | head -n 1)
kill -9 "$inner"
wait "$upid" 2>/dev/null || true
run_nocrash "prune after a killed backup of another pid namespace" \
	drfs prune "$REPO" --keep-last 1
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "prune after a killed namespaced backup failed"; }
grep -q "wait for deletion" "$T/last.err" &&
	fail "prune waits for a killed namespaced backup: $(cat "$T/last.err")"
# ---- a prune in another pid namespace ---------------------------------------
# (it cannot see this namespace's processes: the dead backup's lock above
# counts as live there, so it takes a prune lock, not an exclusive one)
nlocks=$(obj_names locks/ | wc -l)
DRFS_TEST_LOCK_SLEEP=120 unshare --pid --fork --mount-proc "$DRFS" prune \
	"$REPO" --keep-last 1 --cache-dir "$T/cache-ns" >"$T/ns.out" 2>&1 &
upid=$!
wait_lock $((nlocks + 1))
inner=$(pgrep -P "$upid" | head -n 1)
[ -n "$inner" ] || fail "no process in the pid namespace"
expect_clean_failure "prune while a prune of another pid namespace runs" \
	drfs prune "$REPO" --keep-last 1
grep -q "locked" "$T/last.err" ||
	fail "the namespaced prune's lock: $(cat "$T/last.err")"
kill -9 "$inner"
wait "$upid" 2>/dev/null || true
kill -0 "$inner" 2>/dev/null && fail "the namespaced prune still runs"
run_nocrash "prune after a killed prune of another pid namespace" \
	drfs prune "$REPO" --keep-last 1
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "a dead prune of another pid namespace blocks prune"; }
grep -q "wait for deletion" "$T/last.err" &&
	fail "prune waits for a killed namespaced process: $(cat "$T/last.err")"

# ---- a killed backup -------------------------------------------------------
seeded_bytes $((SEED + 3)) $((512 * KiB)) >"$T/src/b"
nlocks=$(obj_names locks/ | wc -l)
DRFS_TEST_LOCK_SLEEP=120 "$DRFS" backup "$REPO" "$T/src" \
	--cache-dir "$T/cache-k" --time 2026-06-05T10:00:00Z >/dev/null 2>&1 &
pid=$!
wait_lock $((nlocks + 1))
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
run_nocrash "prune after a killed backup" drfs prune "$REPO" --keep-last 1
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "prune after a killed backup failed"; }
grep -q "wait for deletion" "$T/last.err" &&
	fail "prune waits for a killed backup: $(cat "$T/last.err")"
grep -q "deleted" "$T/last.err" || fail "prune: $(cat "$T/last.err")"

# ---- a killed prune ----------------------------------------------------------
nlocks=$(obj_names locks/ | wc -l)
DRFS_TEST_LOCK_SLEEP=120 "$DRFS" prune "$REPO" --keep-last 1 \
	--cache-dir "$T/cache-p" >/dev/null 2>&1 &
pid=$!
wait_lock $((nlocks + 1))
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
run_nocrash "backup after a killed prune" drfs backup "$REPO" "$T/src" \
	--time 2026-06-06T10:00:00Z
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "backup after a killed prune failed"; }

run_nocrash "check" "$DRFS" check "$REPO" --read-data --cache-dir "$T/check"
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "check failed"; }
info "ok"
