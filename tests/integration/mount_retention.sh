#!/bin/bash
# Retention through the mount: rmdir of a snapshot folder (DAY/TIME) or of a
# day folder (non-empty) forgets the snapshots at once and for good (also
# seen from an empty cache after a remount), latest follows; rmdir of a held
# snapshot, or of a day holding one, fails with EBUSY and forgets nothing;
# rm -r inside a snapshot fails with EROFS and removes nothing; a mount with
# --keep-last 2 keeps the 2 newest of its own snapshots (its group: host and
# name, docs/hosts.md) after each snapshot it takes and leaves the backups'
# alone; the background gc (state in drfs status) shrinks the repository,
# keeps now/ whole, and drfs check --read-data passes.
source "$(dirname "$0")/lib.sh"
need_root
make_repo
drfs init "$REPO" >/dev/null

MNT=$T/mnt
CLI=$T/cli-cache # CLI commands while mounted use their own cache
KiB=1024
mkdir -p "$T/src/sub"
echo "kept everywhere" >"$T/src/sub/small"
seeded_bytes 11 $((300 * KiB)) >"$T/src/shared"

n=0
backup_at() {
	n=$((n + 1))
	seeded_bytes $((n + 100)) $((256 * KiB)) >"$T/src/daily.bin"
	drfs backup "$REPO" "$T/src" --time "$1" --quiet >/dev/null
}
for t in 2026-05-01T10:00:00Z 2026-05-01T14:00:00Z 2026-05-01T18:00:00Z \
	2026-05-02T09:00:00Z 2026-05-02T12:00:00Z \
	2026-05-03T10:00:00Z 2026-05-03T11:00:00Z; do
	backup_at "$t"
done
S=$MNT/snapshots

# gc_wait RUNS — wait until the mount's gc finished at least RUNS runs and
# nothing is pending; its last outcome must be "done". A run that found
# the repository locked (a `drfs hold` of this test writing its record at
# that moment) waits and retries a minute later: wait for that retry.
gc_wait() {
	local want=$1 st
	for _ in $(seq 1 1000); do
		st=$(drfs status "$MNT")
		if grep -q "^gc runs: " <<<"$st" &&
			[ "$(sed -n 's/^gc runs: //p' <<<"$st")" -ge "$want" ] &&
			! grep -qE "^gc: (pending|running|waiting)" <<<"$st"; then
			grep -q "^gc: done" <<<"$st" ||
				fail "gc did not succeed: $(grep '^gc' <<<"$st")"
			info "$(grep '^gc: ' <<<"$st")"
			return 0
		fi
		sleep 0.1
	done
	fail "gc did not finish: $(drfs status "$MNT")"
}

mount_repo "$MNT"
bytes0=$(CACHE=$CLI repo_bytes)
[ "$(ls "$S/2026-05-01")" = "$(printf '100000\n140000\n180000')" ] ||
	fail "unexpected day folder: $(ls "$S/2026-05-01")"
[ "$(readlink "$MNT/latest")" = snapshots/2026-05-03/110000 ] ||
	fail "latest is $(readlink "$MNT/latest")"

# ---- rmdir of one snapshot, of a whole (non-empty) day, of the latest -----
rmdir "$S/2026-05-01/100000" || fail "rmdir of a snapshot folder failed"
[ ! -e "$S/2026-05-01/100000" ] || fail "the removed folder is still there"
[ -d "$S/2026-05-01/140000" ] || fail "its neighbour disappeared"
rmdir "$S/2026-05-02" || fail "rmdir of a non-empty day folder failed"
[ ! -e "$S/2026-05-02" ] || fail "the removed day is still there"
ls "$S" | grep -q 2026-05-02 && fail "the removed day is still listed"
rmdir "$S/2026-05-03/110000" || fail "rmdir of the latest snapshot failed"
[ "$(readlink "$MNT/latest")" = snapshots/2026-05-03/100000 ] ||
	fail "latest did not follow: $(readlink "$MNT/latest")"
rmdir "$S/2026-05-09" 2>/dev/null && fail "rmdir of a missing day succeeded"

# ---- held: EBUSY, and a day holding a held snapshot forgets nothing -------
# the rmdirs above start the mount's gc, whose prune holds the repository
# exclusively for a moment: hold refuses then ("repository is locked")
held=0
for _ in $(seq 1 60); do
	if "$DRFS" hold "$REPO" 2026-05-01/140000 --cache-dir "$CLI" \
		>/dev/null 2>"$T/hold.err"; then
		held=1
		break
	fi
	grep -q "repository is locked" "$T/hold.err" ||
		fail "hold: $(cat "$T/hold.err")"
	sleep 0.5
done
[ "$held" = 1 ] || fail "hold still refused after 30 s: $(cat "$T/hold.err")"
rmdir "$S/2026-05-01/140000" 2>"$T/rmdir.err" &&
	fail "rmdir of a held snapshot succeeded"
grep -qi "busy" "$T/rmdir.err" || fail "held: $(cat "$T/rmdir.err")"
rmdir "$S/2026-05-01" 2>"$T/rmdir.err" &&
	fail "rmdir of a day with a held snapshot succeeded"
grep -qi "busy" "$T/rmdir.err" || fail "held day: $(cat "$T/rmdir.err")"
[ "$(ls "$S/2026-05-01")" = "$(printf '140000\n180000')" ] ||
	fail "a refused rmdir of a day forgot something: $(ls "$S/2026-05-01")"

# ---- rm -r inside a snapshot: EROFS, nothing removed ----------------------
before=$(find "$S/2026-05-03/100000" | wc -l)
rm -rf "$S/2026-05-03/100000/sub" 2>"$T/rm.err" && fail "rm -r succeeded"
grep -q "Read-only file system" "$T/rm.err" || fail "rm -r: $(cat "$T/rm.err")"
[ "$(find "$S/2026-05-03/100000" | wc -l)" = "$before" ] ||
	fail "rm -r removed something"

# ---- the background gc frees the space -------------------------------------
gc_wait 1
bytes1=$(CACHE=$CLI repo_bytes)
info "repository: $bytes0 -> $bytes1 bytes after gc"
[ "$bytes1" -lt "$bytes0" ] || fail "gc freed nothing ($bytes0 -> $bytes1)"
cmp "$T/src/shared" "$S/2026-05-03/100000/shared" ||
	fail "a kept snapshot reads back wrong after gc"
umount_repo "$MNT"

# ---- gone for good: a fresh cache sees the same ---------------------------
CACHE=$T/cache2 mount_repo "$MNT"
[ "$(ls "$S")" = "$(printf '2026-05-01\n2026-05-03')" ] ||
	fail "after a remount with an empty cache: $(ls "$S")"
[ "$(ls "$S/2026-05-01")" = "$(printf '140000\n180000')" ] ||
	fail "after a remount: $(ls "$S/2026-05-01")"
[ "$(readlink "$MNT/latest")" = snapshots/2026-05-03/100000 ] ||
	fail "after a remount latest is $(readlink "$MNT/latest")"
umount_repo "$MNT"

# ---- a policy given to the mount: enforced after each snapshot ------------
"$DRFS" release "$REPO" 2026-05-01/140000 --cache-dir "$CLI" >/dev/null
bytes2=$(CACHE=$CLI repo_bytes)
# now/ starts from the newest backup (a backup is not now/'s lineage)
mount_repo "$MNT" --keep-last 2 --from latest
seeded_bytes 8 $((512 * KiB)) >"$MNT/now/gone.bin"
drfs snapshot "$MNT" --time 2026-05-04T07:00:00Z >/dev/null
rm "$MNT/now/gone.bin"
seeded_bytes 7 $((2048 * KiB)) >"$T/new.bin"
cp "$T/new.bin" "$MNT/now/new.bin"
drfs snapshot "$MNT" --time 2026-05-04T08:00:00Z >/dev/null
echo "second" >"$MNT/now/second"
drfs snapshot "$MNT" --time 2026-05-04T09:00:00Z >/dev/null
# the mount's group lost 070000; the backups are another group
backups=$(printf '2026-05-01/140000\n2026-05-01/180000\n2026-05-03/100000')
[ "$(cd "$S" && ls -d */*)" = "$(printf '%s\n2026-05-04/080000\n2026-05-04/090000' "$backups")" ] ||
	fail "--keep-last 2 left: $(cd "$S" && ls -d */* | tr '\n' ' ')"
[ "$(readlink "$MNT/latest")" = snapshots/2026-05-04/090000 ] ||
	fail "latest is $(readlink "$MNT/latest")"
gc_wait 1 # the third snapshot asked for gc before it returned
bytes3=$(CACHE=$CLI repo_bytes)
# 2.5 MiB were added; the forgotten snapshot held 512 KiB of its own
info "repository: $bytes2 (+ 2.5 MiB new) -> $bytes3 bytes after the policy's gc"
[ "$bytes3" -lt $((bytes2 + 2048 * KiB + 256 * KiB)) ] ||
	fail "the policy's gc freed nothing ($bytes2 + 2.5 MiB -> $bytes3)"

# now/ is whole after gc, also with a change that no snapshot holds yet
echo "not in a snapshot" >"$MNT/now/third"
cmp "$T/new.bin" "$MNT/now/new.bin" || fail "now/new.bin changed"
cmp "$T/src/shared" "$MNT/now/shared" || fail "now/shared changed"
[ "$(cat "$MNT/now/second")" = second ] || fail "now/second changed"
drfs status "$MNT" | grep -q "^gc: done" || fail "status: $(drfs status "$MNT")"
umount_repo "$MNT"

# the unmount snapshot (now/third) was enforced too; check the rest
CACHE=$T/cache3 mount_repo "$MNT"
[ "$(cd "$S" && ls -d */* | wc -l)" = 5 ] ||
	fail "after the unmount snapshot: $(cd "$S" && ls -d */* | tr '\n' ' ')"
[ "$(cd "$S" && ls -d */* | head -n 3)" = "$backups" ] ||
	fail "the mount's policy touched the backups: $(cd "$S" && ls -d */* | tr '\n' ' ')"
cmp "$T/new.bin" "$MNT/now/new.bin" || fail "new.bin after remount"
cmp "$T/src/shared" "$MNT/now/shared" || fail "shared after remount"
[ "$(cat "$MNT/now/third")" = "not in a snapshot" ] || fail "third lost"
umount_repo "$MNT"
run_nocrash "check" drfs check "$REPO" --read-data
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "check --read-data failed"; }
info "ok"
