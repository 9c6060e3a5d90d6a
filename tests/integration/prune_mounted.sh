#!/bin/bash
# Prune while the repository is mounted (docs/retention.md):
#  - the command the shipped timer runs (drfs prune REPO with the mount's
#    cache directory) succeeds while mounted: it runs in the mount, with
#    now/ kept alive; a file written to now/ but in no snapshot, identical
#    to one only a forgotten snapshot had, survives; the forgotten
#    snapshot's other data is freed at once;
#  - a prune from elsewhere (another cache directory: another host)
#    succeeds too but deletes nothing the mount may need: it leaves a
#    deletion record; the mount rescues now/'s blobs from the doomed
#    packs and acknowledges it (at its next snapshot); the next prune
#    deletes the doomed packs; a pack now/ uploaded since the mount's last
#    snapshot is never a candidate (not rewritten, still there);
#  - after all of it: check --read-data passes, the files read back in
#    now/ and in the latest snapshot, also after a remount with an empty
#    cache.
source "$(dirname "$0")/lib.sh"
need_root
make_repo
drfs init "$REPO" >/dev/null

KiB=1024
MNT=$T/mnt
OTHER=$T/other-cache # "another host": a cache of its own
mkdir -p "$T/src"
echo "in every snapshot" >"$T/src/common"
seeded_bytes $((SEED + 1)) $((3 * 1024 * KiB)) >"$T/x"   # comes back in now/
seeded_bytes $((SEED + 2)) $((2 * 1024 * KiB)) >"$T/y"   # forgotten for good
cp "$T/x" "$T/src/x"
cp "$T/y" "$T/src/y"
drfs backup "$REPO" "$T/src" --time 2026-04-01T10:00:00Z --quiet >/dev/null
rm "$T/src/x" "$T/src/y"
drfs backup "$REPO" "$T/src" --time 2026-04-02T10:00:00Z --quiet >/dev/null

# ---- the timer's command, while mounted -----------------------------------
mount_repo "$MNT"
cp "$T/x" "$MNT/now/x2" # deduplicated against the first snapshot's blobs
sync
before=$(CACHE=$OTHER repo_bytes)
run_nocrash "prune while mounted" drfs prune "$REPO" --keep-last 1
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "prune while mounted failed (exit $RC)"; }
grep -q "runs in that mount" "$T/last.err" ||
	fail "prune did not go through the mount: $(cat "$T/last.err")"
grep -q "2026-04-01/100000 .* remove" "$T/last.out" ||
	fail "prune did not forget the first snapshot: $(cat "$T/last.out")"
after=$(CACHE=$OTHER repo_bytes)
info "repository $before -> $after bytes"
[ "$after" -le $((before - 2 * 1024 * KiB)) ] ||
	fail "the forgotten snapshot's data was not freed ($before -> $after)"
cmp "$T/x" "$MNT/now/x2" || fail "now/x2 changed"
drfs snapshot "$MNT" --time 2026-04-02T12:00:00Z >/dev/null
cmp "$T/x" "$MNT/latest/x2" || fail "latest/x2 differs"
run_nocrash "check after the routed prune" "$DRFS" check "$REPO" --read-data \
	--cache-dir "$T/check1"
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "check after the routed prune failed"; }

# ---- a prune from another host, while mounted ------------------------------
seeded_bytes $((SEED + 3)) $((3 * 1024 * KiB)) >"$T/z" # comes back in now/
seeded_bytes $((SEED + 4)) $((2 * 1024 * KiB)) >"$T/w" # forgotten for good
cp "$T/z" "$MNT/now/z"
cp "$T/w" "$MNT/now/w"
drfs snapshot "$MNT" --time 2026-04-03T10:00:00Z >/dev/null
rm "$MNT/now/z" "$MNT/now/w"
# the packs of 04-03 must be older than the mount's next snapshot (its
# watermark) by more than the few seconds prune allows for clocks
sleep 6
drfs snapshot "$MNT" --time 2026-04-04T10:00:00Z >/dev/null
cp "$T/z" "$MNT/now/z2" # only the 04-03 snapshot has these blobs
sync
# and a new file, uploaded (flushed after a few seconds of quiet) but in
# no snapshot yet: newer than the mount's last snapshot, never a candidate
obj_names data/ >"$T/packs.n0"
seeded_bytes $((SEED + 5)) $((2 * 1024 * KiB)) >"$T/n"
cp "$T/n" "$MNT/now/n2"
for _ in $(seq 1 300); do
	obj_names data/ | comm -13 "$T/packs.n0" - >"$T/packs.n2"
	[ -s "$T/packs.n2" ] && break
	sleep 0.1
done
[ -s "$T/packs.n2" ] || fail "now/n2 was not uploaded within 30 s"
"$DRFS" snapshots "$REPO" --cache-dir "$OTHER" >/dev/null
pack_bytes0=$(CACHE=$OTHER repo_bytes)
obj_names data/ >"$T/packs0"
run_nocrash "prune from another host" "$DRFS" prune "$REPO" --keep-last 1 \
	--cache-dir "$OTHER"
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "prune from another host failed (exit $RC)"; }
grep -q "2026-04-03/100000 .* remove" "$T/last.out" ||
	fail "the other host's prune did not forget 04-03: $(cat "$T/last.out")"
grep -q "deletion deferred" "$T/last.err" ||
	fail "the other host's prune did not defer: $(cat "$T/last.err")"
grep -q "waiting for a mount, pid " "$T/last.err" ||
	fail "the other host's prune did not name the mount: $(cat "$T/last.err")"
obj_names data/ | comm -23 "$T/packs0" - >"$T/gone"
[ ! -s "$T/gone" ] ||
	fail "the other host's prune deleted packs the mount may need: $(cat "$T/gone")"

# the mount acknowledges at its next snapshot (or within a minute)
drfs snapshot "$MNT" --time 2026-04-05T10:00:00Z >/dev/null
for _ in $(seq 1 900); do
	drfs status "$MNT" >"$T/status"
	grep -q "^deletions: .* acknowledged" "$T/status" && break
	sleep 0.1
done
grep -q "^deletions: .* acknowledged" "$T/status" ||
	fail "the mount did not acknowledge: $(cat "$T/status")"
info "$(grep '^deletions' "$T/status")"
cmp "$T/z" "$MNT/now/z2" || fail "now/z2 changed"
cmp "$T/z" "$MNT/latest/z2" || fail "latest/z2 differs"

# now the next prune from the other host deletes them
run_nocrash "second prune from another host" "$DRFS" prune "$REPO" \
	--keep-last 1 --cache-dir "$OTHER"
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "the second prune failed"; }
grep -q "finished 1 earlier deletion record" "$T/last.err" ||
	fail "the second prune did not finish the record: $(cat "$T/last.err")"
freed=$((pack_bytes0 - $(CACHE=$OTHER repo_bytes)))
info "the second prune freed $freed bytes"
[ "$freed" -ge $((2 * 1024 * KiB)) ] ||
	fail "the forgotten w was not freed ($freed bytes)"
run_nocrash "check after the prunes" "$DRFS" check "$REPO" --read-data \
	--cache-dir "$T/check2"
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "check after the prunes failed"; }
cmp "$T/z" "$MNT/now/z2" || fail "now/z2 changed after the second prune"
cmp "$T/z" "$MNT/latest/z2" || fail "latest/z2 differs after the second prune"
cmp "$T/x" "$MNT/now/x2" || fail "now/x2 changed after the second prune"
cmp "$T/n" "$MNT/now/n2" || fail "now/n2 changed after the second prune"
obj_names data/ | comm -23 "$T/packs.n2" - >"$T/gone"
[ ! -s "$T/gone" ] || fail "now/n2's packs were rewritten: $(cat "$T/gone")"
umount_repo "$MNT"

CACHE=$T/fresh mount_repo "$MNT"
cmp "$T/z" "$MNT/now/z2" || fail "z2 after a remount with an empty cache"
cmp "$T/x" "$MNT/now/x2" || fail "x2 after a remount with an empty cache"
cmp "$T/n" "$MNT/now/n2" || fail "n2 after a remount with an empty cache"
umount_repo "$MNT"
run_nocrash "final check" "$DRFS" check "$REPO" --read-data --cache-dir "$T/check3"
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "final check failed"; }
info "ok"
