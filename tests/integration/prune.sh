#!/bin/bash
# Retention: 40 daily snapshots, then prune --keep-daily 7 --keep-weekly 4.
# The kept set equals restic's rule computed here independently; holds
# block forget and prune; --dry-run changes nothing; a prune killed at each
# named step (DRFS_TEST_CRASH_AT, _exit(137) like kill -9) leaves a
# repository that passes check --read-data (with a fresh cache too) and a
# rerun finishes the job; the repository shrinks to within 15% of a fresh
# repository holding only the kept snapshots; every kept snapshot restores;
# an old index object that cannot be deleted makes prune fail and keep
# every pack (local backend).
source "$(dirname "$0")/lib.sh"
make_repo
drfs init "$REPO" >/dev/null

KiB=1024
DAYS=40
mkdir -p "$T/src/shared/sub"
seeded_bytes $((SEED + 1)) $((512 * KiB)) >"$T/src/shared/big"
seeded_bytes $((SEED + 2)) $((64 * KiB)) >"$T/src/shared/sub/mid"
echo "a small shared file" >"$T/src/shared/sub/small"

day_of() { python3 -c 'import datetime, sys
print(datetime.date(2026, 1, 1) + datetime.timedelta(days=int(sys.argv[1])))' "$1"; }
# set_day N — the source tree as it is on day N
set_day() { seeded_bytes $((SEED * 1000 + $1)) $((256 * KiB)) >"$T/src/daily.bin"; }

# backup_days REPO CACHE DAY... — one snapshot per day, at noon UTC
backup_days() {
	local repo=$1 cache=$2 d
	shift 2
	for d in "$@"; do
		set_day "$d"
		"$DRFS" backup "$repo" "$T/src" --cache-dir "$cache" \
			--time "$(day_of "$d")T12:00:00Z" --quiet >/dev/null
	done
}

backup_days "$REPO" "$CACHE" $(seq 0 $((DAYS - 1)))
[ "$(drfs snapshots "$REPO" | tail -n +2 | wc -l)" = "$DAYS" ] ||
	fail "expected $DAYS snapshots"
before=$(repo_bytes)
info "$DAYS daily snapshots: repository $before bytes"

# restic's rule, independently: walk newest first, keep the newest snapshot
# of each of the 7 most recent days and of the 4 most recent ISO weeks.
python3 - "$DAYS" >"$T/expected" <<'PY'
import datetime, sys
days = [datetime.date(2026, 1, 1) + datetime.timedelta(days=i)
        for i in range(int(sys.argv[1]))]
keep = set()
for n, key in ((7, lambda d: d), (4, lambda d: d.isocalendar()[:2])):
    last = None
    for d in sorted(days, reverse=True):
        if n and key(d) != last:
            keep.add(d); last = key(d); n -= 1
for d in sorted(keep):
    print("%s/120000" % d)
PY
info "kept by the policy: $(tr '\n' ' ' <"$T/expected")"
[ "$(wc -l <"$T/expected")" = 9 ] || fail "the reference computation is off"

# day 1 would be removed: hold it
held=$(day_of 1)/120000
drfs hold "$REPO" "$held"
expect_clean_failure "forget of a held snapshot" drfs forget "$REPO" "$held"
grep -q "held" "$T/last.err" || fail "forget of a held snapshot: unclear message"

# no policy anywhere: prune refuses
expect_clean_failure "prune without a policy" drfs prune "$REPO"

# another prune's lock makes prune refuse (DRFS_TEST_LOCK_SLEEP keeps the
# lock a few seconds after it is taken; --keep-last 1000 removes nothing).
# A backup's shared lock does not: prune then defers its deletions
# (tests/integration/prune_concurrent.sh).
DRFS_TEST_LOCK_SLEEP=4 "$DRFS" prune "$REPO" --keep-last 1000 \
	--cache-dir "$T/cache-bg" >/dev/null 2>"$T/bg.err" &
bg=$!
sleep 2
expect_clean_failure "prune during a prune" \
	drfs prune "$REPO" --keep-daily 7 --keep-weekly 4
grep -q "locked: an exclusive lock held by a prune" "$T/last.err" ||
	fail "prune during a prune: unclear message"
wait "$bg" || { cat "$T/bg.err" >&2; fail "the prune holding the lock failed"; }

# --dry-run changes nothing
snapshot_state() {
	drfs stats "$REPO" --json | python3 -c 'import json, sys
s = json.load(sys.stdin); print(s["snapshots"], s["packs"], s["repo_bytes"])'
	if [ "$DRFS_TEST_BACKEND" = local ]; then
		(cd "$REPO" && find . -type f -printf '%p %s\n' | sort)
	fi
}
snapshot_state >"$T/state.before"
drfs prune "$REPO" --keep-daily 7 --keep-weekly 4 --dry-run >"$T/dry.out"
snapshot_state >"$T/state.after"
cmp -s "$T/state.before" "$T/state.after" || {
	diff "$T/state.before" "$T/state.after" >&2 || true
	fail "--dry-run changed the repository"
}
[ "$(grep -c ' remove$' "$T/dry.out")" = $((DAYS - 10)) ] ||
	fail "--dry-run: $(grep -c ' remove$' "$T/dry.out") removals, want $((DAYS - 10))"

# fresh_check WHAT — check --read-data with the shared cache and a fresh one,
# and restore the newest and the held snapshot with the fresh cache
n_fresh=0
fresh_check() {
	local what=$1 fc
	n_fresh=$((n_fresh + 1))
	fc=$T/fresh-cache-$n_fresh
	run_nocrash "$what: check" drfs check "$REPO" --read-data
	[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "$what: check failed"; }
	run_nocrash "$what: check (fresh cache)" \
		"$DRFS" check "$REPO" --read-data --cache-dir "$fc"
	[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "$what: check (fresh cache) failed"; }
	rm -rf "$T/r"; mkdir -p "$T/r"
	"$DRFS" restore "$REPO" latest "$T/r/latest" --cache-dir "$fc" >/dev/null 2>&1
	set_day $((DAYS - 1))
	diff -r "$T/src" "$T/r/latest" >/dev/null || fail "$what: latest restores wrong"
	"$DRFS" restore "$REPO" "$held" "$T/r/held" --cache-dir "$fc" >/dev/null 2>&1
	set_day 1
	diff -r "$T/src" "$T/r/held" >/dev/null || fail "$what: held snapshot restores wrong"
	rm -rf "$T/r" "$fc"
}

# prune killed at each step, each run continuing the previous one's work
for step in forget repack index delete; do
	run_nocrash_ok=0
	DRFS_TEST_CRASH_AT=$step "$DRFS" prune "$REPO" --cache-dir "$CACHE" \
		--keep-daily 7 --keep-weekly 4 >"$T/crash.out" 2>"$T/crash.err" ||
		run_nocrash_ok=$?
	[ "$run_nocrash_ok" = 137 ] || {
		cat "$T/crash.err" >&2
		fail "prune with DRFS_TEST_CRASH_AT=$step exited $run_nocrash_ok, want 137"
	}
	info "killed at \"$step\": $(drfs snapshots "$REPO" | tail -n +2 | wc -l) snapshots, $(repo_bytes) bytes"
	# the dead prune's lock stays behind; a lock of a dead process of
	# this host does not count, so the rerun is not blocked
	fresh_check "after a kill at $step"
done

drfs prune "$REPO" --keep-daily 7 --keep-weekly 4 >"$T/prune.out"
cat "$T/prune.out" >&2
grep -q "^$held .*keep (hold)" "$T/prune.out" || fail "the held snapshot was not kept for its hold"
drfs snapshots "$REPO" | tail -n +2 | awk '{ print $1 }' | sort >"$T/got"
{ cat "$T/expected"; echo "$held"; } | sort >"$T/want"
diff "$T/want" "$T/got" >&2 || fail "kept set differs from restic's rule"

# release the hold; forget it; prune frees its data
drfs release "$REPO" "$held"
drfs forget "$REPO" "$held"
drfs prune "$REPO" --keep-daily 7 --keep-weekly 4 >"$T/prune2.out"
drfs snapshots "$REPO" | tail -n +2 | awk '{ print $1 }' | sort >"$T/got"
diff "$T/expected" "$T/got" >&2 || fail "kept set differs after forget"
run_nocrash "final check" drfs check "$REPO" --read-data
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "final check failed"; }

# every kept snapshot restores identically
while read -r folder; do
	d=$(python3 -c 'import datetime, sys
print((datetime.date.fromisoformat(sys.argv[1][:10]) - datetime.date(2026, 1, 1)).days)' "$folder")
	rm -rf "$T/out"
	drfs restore "$REPO" "$folder" "$T/out" >/dev/null 2>&1
	set_day "$d"
	diff -r "$T/src" "$T/out" >/dev/null || fail "snapshot $folder restores wrong"
done <"$T/expected"

# stored policy: prune with no options uses it
drfs policy "$REPO" --keep-last 3 >/dev/null
[ "$(drfs policy "$REPO")" = "--keep-last 3" ] || fail "stored policy reads back wrong"
drfs prune "$REPO" --dry-run >"$T/dry2.out"
[ "$(grep -c 'keep (last)' "$T/dry2.out")" = 3 ] || fail "stored policy not used"

# the repository shrank to what the kept snapshots need
after=$(repo_bytes)
REPO_MAIN=$REPO
make_repo
REPO2=$REPO
[ "$DRFS_TEST_BACKEND" = local ] && REPO2=$T/repo2
REPO=$REPO_MAIN
"$DRFS" init "$REPO2" --cache-dir "$T/cache2" >/dev/null
days=$(python3 -c 'import datetime, sys
for l in open(sys.argv[1]):
    print((datetime.date.fromisoformat(l[:10]) - datetime.date(2026, 1, 1)).days)' "$T/expected")
backup_days "$REPO2" "$T/cache2" $days
fresh=$("$DRFS" stats "$REPO2" --json --cache-dir "$T/cache2" | json_field repo_bytes)
after_stats=$(drfs stats "$REPO" --json | json_field repo_bytes)
echo "prune: repository $before -> $after bytes (stats $after_stats); a fresh repository of the 9 kept snapshots: $fresh bytes"
python3 -c 'import sys
a, f = int(sys.argv[1]), int(sys.argv[2])
sys.exit(0 if abs(a - f) <= f * 0.15 else 1)' "$after_stats" "$fresh" ||
	fail "pruned repository holds $after_stats bytes, a fresh one $fresh (> 15% apart)"

# a real kill -9 somewhere in a prune (the stored --keep-last 3), then a
# rerun: both leave a repository that passes check --read-data. "$DRFS"
# itself in the background: $! of the drfs() function would be a subshell,
# and killing it left the prune running while check looked
"$DRFS" prune "$REPO" --cache-dir "$CACHE" >/dev/null 2>&1 &
pid=$!
sleep 0.$((RANDOM % 4 + 1))
kill -9 "$pid" 2>/dev/null || true
wait "$pid" || true
run_nocrash "check after kill -9" "$DRFS" check "$REPO" --read-data --cache-dir "$T/fresh-kill"
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "check after kill -9 failed"; }
drfs prune "$REPO" >/dev/null 2>&1
run_nocrash "check after the rerun" drfs check "$REPO" --read-data
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "check after the rerun failed"; }
[ "$(drfs snapshots "$REPO" | tail -n +2 | wc -l)" = 3 ] || fail "stored --keep-last 3 not applied"
rm -rf "$T/out"
drfs restore "$REPO" latest "$T/out" >/dev/null 2>&1
set_day $((DAYS - 1))
diff -r "$T/src" "$T/out" >/dev/null || fail "latest restores wrong after kill -9 and rerun"

# an old index object that cannot be deleted still lists its packs: prune
# must then fail and keep every pack (local: chattr +i makes the file
# undeletable even for root)
if [ "$DRFS_TEST_BACKEND" = local ] && command -v chattr >/dev/null; then
	backup_days "$REPO" "$CACHE" $DAYS $((DAYS + 1)) $((DAYS + 2))
	stuck=$(ls "$REPO/index" | head -n 1)
	chattr +i "$REPO/index/$stuck"
	run_nocrash "prune with an undeletable index object" drfs prune "$REPO"
	chattr -i "$REPO/index/$stuck"
	[ "$RC" != 0 ] || fail "prune succeeded though index/$stuck stayed"
	grep -q 'cannot write the new index' "$T/last.err" ||
		fail "prune did not name the index failure: $(cat "$T/last.err")"
	run_nocrash "check after the failed prune" "$DRFS" check "$REPO" \
		--read-data --cache-dir "$T/fresh-stuck"
	[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "check after a prune that could not delete index/$stuck failed"; }
	drfs prune "$REPO" >/dev/null 2>&1
	[ ! -e "$REPO/index/$stuck" ] || fail "the rerun left index/$stuck"
	run_nocrash "check after the rerun" "$DRFS" check "$REPO" --read-data \
		--cache-dir "$T/fresh-stuck2"
	[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "check after the rerun (index) failed"; }
	info "undeletable index/$stuck: prune failed and kept every pack; the rerun finished"
fi
