#!/bin/bash
# Two mounts of one repository ("two hosts": two cache directories). Mount
# A enforces --keep-last 1 after each snapshot; its gc runs while mount B
# is live: it succeeds, deferring the deletion of what it freed (B holds a
# shared lock); B rescues a file of its now/ that deduplicated against the
# data A forgot, and acknowledges; A's next gc deletes the doomed packs.
# Neither mount loses anything: B's now/ and A's snapshots read back, the
# repository passes check --read-data, a remount with an empty cache sees
# B's file (in B's snapshot at unmount).
source "$(dirname "$0")/lib.sh"
need_root
make_repo
drfs init "$REPO" >/dev/null

KiB=1024
A=$T/a
B=$T/b
mkdir -p "$T/src"
echo "in every snapshot" >"$T/src/common"
drfs backup "$REPO" "$T/src" --time 2026-05-01T10:00:00Z --quiet >/dev/null
seeded_bytes $((SEED + 1)) $((3 * 1024 * KiB)) >"$T/q"
seeded_bytes $((SEED + 2)) $((1024 * KiB)) >"$T/r"

# gc_wait MNT RUNS — until MNT's gc finished at least RUNS runs; its last
# outcome must be "done"
gc_wait() {
	local mnt=$1 want=$2 st
	for _ in $(seq 1 600); do
		st=$(drfs status "$mnt")
		if [ "$(sed -n 's/^gc runs: //p' <<<"$st")" -ge "$want" ] &&
			! grep -qE "^gc: (pending|running)" <<<"$st"; then
			grep -q "^gc: done" <<<"$st" ||
				fail "gc of $mnt did not succeed: $(grep '^gc' <<<"$st")"
			grep '^gc: ' <<<"$st" >"$T/gc.state"
			return 0
		fi
		sleep 0.1
	done
	fail "gc of $mnt did not finish: $(drfs status "$mnt")"
}

CACHE=$T/cache-a mount_repo "$A" --keep-last 1
cp "$T/q" "$A/now/q"
# (the policy applies to A's own snapshots: this one forgets nothing)
CACHE=$T/cache-a drfs snapshot "$A" --time 2026-05-02T10:00:00Z >/dev/null

# B starts now: its cache knows q's blobs, so its copy deduplicates (and
# q's packs are older than B by more than the few seconds prune allows
# for clocks: B's watermark, its start, does not protect them)
sleep 6
CACHE=$T/cache-b mount_repo "$B"
cp "$T/q" "$B/now/q2"
sync

# A forgets the snapshot with q (keep-last 1): its gc runs with B live
rm "$A/now/q"
CACHE=$T/cache-a drfs snapshot "$A" --time 2026-05-03T10:00:00Z >/dev/null
CACHE=$T/cache-a gc_wait "$A" 1
info "A's gc with B live: $(cat "$T/gc.state")"
grep -q "deletion deferred" "$T/gc.state" ||
	fail "A's gc with B live did not defer: $(cat "$T/gc.state")"

# B acknowledges (at its next snapshot) after rescuing q2's blobs
CACHE=$T/cache-b drfs snapshot "$B" --time 2026-05-03T12:00:00Z >/dev/null
for _ in $(seq 1 900); do
	CACHE=$T/cache-b drfs status "$B" >"$T/status"
	grep -q "^deletions: .* acknowledged" "$T/status" && break
	sleep 0.1
done
grep -q "^deletions: .* acknowledged" "$T/status" ||
	fail "B did not acknowledge: $(cat "$T/status")"

# A's next snapshot: its gc finishes the record
cp "$T/r" "$A/now/r"
CACHE=$T/cache-a drfs snapshot "$A" --time 2026-05-04T10:00:00Z >/dev/null
CACHE=$T/cache-a gc_wait "$A" 2
info "A's next gc: $(cat "$T/gc.state")"
grep -q "finished [0-9]* earlier deletion record" "$T/gc.state" ||
	fail "A's next gc did not finish the record: $(cat "$T/gc.state")"

cmp "$T/q" "$B/now/q2" || fail "B's now/q2 changed"
cmp "$T/r" "$A/now/r" || fail "A's now/r changed"
cmp "$T/r" "$A/latest/r" || fail "A's latest/r differs"
run_nocrash "check with both mounted" "$DRFS" check "$REPO" --read-data \
	--cache-dir "$T/check1"
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "check with both mounted failed"; }
CACHE=$T/cache-a umount_repo "$A"
echo "B changed" >"$B/now/more" # B's snapshot at unmount is the newest
CACHE=$T/cache-b umount_repo "$B"

CACHE=$T/fresh mount_repo "$B"
cmp "$T/q" "$B/now/q2" || fail "q2 after a remount with an empty cache"
umount_repo "$B"
run_nocrash "final check" "$DRFS" check "$REPO" --read-data --cache-dir "$T/check2"
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "final check failed"; }
info "ok"
