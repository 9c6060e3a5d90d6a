#!/bin/bash
# The dedup-loss guard and check's rotation (docs/verification.md).
#
# A: a pack of the first snapshot is corrupted behind drfs's back; a second
# backup deduplicates against it (the same data under a new name): the
# guard reads the old copies back, names the corrupted blob and stores it
# again from the data being written. Every snapshot (the first one too, and
# one made after the healing) then restores byte-exact, with the warm cache
# and with an empty one; check --read-data passes (the corrupted copy has
# a good one elsewhere).
# B: the budget bounds what is read (the packs opened are counted on the
# local backend) and the rotation reaches every pack over repeated backups.
# C: check --read-data-subset 1/3 three times reads every pack.
# D: 1/3, 2/3 and 3/3, each from an empty cache, read every pack too.
source "$(dirname "$0")/lib.sh"
make_repo

stat_field() { drfs stats "$REPO" --json "${@:2}" | json_field "$1"; }

# ---- A: detected and healed ------------------------------------------------
drfs init "$REPO" >/dev/null
mkdir -p "$T/src"
seeded_bytes 11 700000 >"$T/src/a.bin"
drfs backup "$REPO" "$T/src" --time 2026-01-01T00:00:00Z -q >/dev/null
# the pack holding a.bin's data: the largest one
pack=$(obj_sizes data/ | sort -n | tail -1 | awk '{print $2}')
[ -n "$pack" ] || fail "no pack after the first backup"
obj_corrupt "$pack"
cp "$T/src/a.bin" "$T/src/b.bin"
drfs backup "$REPO" "$T/src" --time 2026-01-02T00:00:00Z >"$T/b2.out" \
	2>"$T/b2.err" || { cat "$T/b2.err" >&2; fail "second backup failed"; }
cat "$T/b2.err" >&2
pid=$(basename "$pack")
grep -q "guard: pack \"$pack\": blob [0-9a-f]\{64\} is corrupted: stored again from the data being written (healed)" "$T/b2.err" ||
	fail "the guard did not name and heal the corrupted blob of $pid"
grep -q "guard: 1 corrupted or missing old copy" "$T/b2.err" ||
	fail "no summary of the guard's finding"
# a snapshot made after the healing
echo more >"$T/src/c.txt"
drfs backup "$REPO" "$T/src" --time 2026-01-03T00:00:00Z -q >/dev/null
mkdir -p "$T/v1"
cp "$T/src/a.bin" "$T/v1/"
rm "$T/src/c.txt"
mkdir -p "$T/v3"
cp -a "$T/src/." "$T/v3/"
echo more >"$T/v3/c.txt"
restored_is 2026-01-01/000000 "$T/v1"
restored_is 2026-01-02/000000 "$T/src"
restored_is 2026-01-03/000000 "$T/v3"
fresh=$(fresh_cache)
restored_is 2026-01-01/000000 "$T/v1" "$fresh"
restored_is 2026-01-02/000000 "$T/src" "$fresh"
restored_is 2026-01-03/000000 "$T/v3" "$fresh"
drfs check "$REPO" >"$T/check" 2>&1 || { cat "$T/check" >&2; fail "check"; }
for c in "$CACHE" "$(fresh_cache)"; do
	"$DRFS" check "$REPO" --read-data --cache-dir "$c" >"$T/check" 2>&1 ||
		{ cat "$T/check" >&2; fail "check --read-data after healing"; }
	grep -q "note: pack \"$pack\": blob .* is corrupted; a good copy" \
		"$T/check" || { cat "$T/check" >&2; fail "check: no note"; }
done

# ---- B: the budget, and the rotation over repeated backups -------------------
REPO_A=$REPO
make_repo
[ "$DRFS_TEST_BACKEND" = local ] && REPO=$T/repo_b
CACHE=$(fresh_cache)
drfs init "$REPO" >/dev/null
rm -rf "$T/src" && mkdir -p "$T/src"
for i in 1 2 3 4 5 6; do
	# below the smallest chunk (256 KiB): one chunk per file whatever
	# the repository's chunker key; a 300 000-byte file was cut in two
	# in 4 repositories of 24, and the small tail of a third file then
	# fitted the budget beside two whole ones (a third pack read in part)
	seeded_bytes $((100 + i)) 250000 >"$T/src/f$i"
	drfs backup "$REPO" "$T/src" --verify-budget 0 -q >/dev/null
done
packs=$(obj_names data/ | wc -l)
[ "$(stat_field verified_packs)" = 0 ] || fail "packs verified already"
have_strace=false
[ "$DRFS_TEST_BACKEND" = local ] && command -v strace >/dev/null &&
	have_strace=true
for round in 1 2 3; do
	touch "$T/src"/f*   # read again: every chunk deduplicated
	if $have_strace; then
		# LeakSanitizer does not run under ptrace
		ASAN_OPTIONS=detect_leaks=0 strace -f -qq -e trace=openat \
			-o "$T/strace" "$DRFS" backup \
			"$REPO" "$T/src" --cache-dir "$CACHE" \
			--verify-budget 700K >/dev/null 2>"$T/b.err"
		# the data packs (~244 KiB each) opened: 2 fit the budget
		opened=$(grep -o 'data/[0-9a-f]\{2\}/[0-9a-f]\{64\}' \
			"$T/strace" | sort -u | while read -r p; do
				[ "$(stat -c %s "$REPO/$p")" -lt 102400 ] ||
					echo "$p"
			done | wc -l)
		[ "$opened" = 2 ] ||
			fail "round $round: $opened data packs read, budget 700K is 2"
	else
		drfs backup "$REPO" "$T/src" --verify-budget 700K \
			>/dev/null 2>"$T/b.err"
	fi
	# two blobs of 250 000 bytes and their envelope
	grep -q "guard: 2 old pack(s) this snapshot deduplicated against verified, 488\.[0-9] KiB read" "$T/b.err" ||
		{ cat "$T/b.err" >&2; fail "round $round: not 2 packs within the budget"; }
	[ "$(stat_field verified_packs)" = $((2 * round)) ] ||
		fail "round $round: $(stat_field verified_packs) packs verified"
done
info "6 data packs verified over 3 backups ($packs packs in all)"
# a zero budget reads nothing
touch "$T/src"/f*
drfs backup "$REPO" "$T/src" --verify-budget 0 >/dev/null 2>"$T/b.err"
! grep -q guard: "$T/b.err" || fail "--verify-budget 0 still verified"

# ---- C: check --read-data-subset's rotation -----------------------------------
CACHE=$(fresh_cache)
n=$(stat_field verify_packs)
[ "$(stat_field verified_packs)" = 0 ] || fail "a fresh cache knows verifications"
share=$(( (n + 2) / 3 ))
for run in 1 2 3; do
	drfs check "$REPO" --read-data-subset 1/3 >"$T/check" 2>&1 ||
		{ cat "$T/check" >&2; fail "check --read-data-subset run $run"; }
	want=$(( share * run < n ? share * run : n ))
	[ "$(stat_field verified_packs)" = "$want" ] ||
		fail "run $run: $(stat_field verified_packs) packs verified, want $want of $n"
done
[ "$(stat_field verified_pack_bytes)" = "$(stat_field verify_pack_bytes)" ] ||
	fail "3 runs of 1/3 did not read every pack"

# ---- D: N/M with a new cache each run -----------------------------------------
# nothing recorded: N places the share among the packs never verified, so
# 1/3, 2/3, 3/3 each from an empty cache still read every pack between
# them. Every pack corrupted: each run names the packs it read.
all=$(obj_names data/)
for p in $all; do obj_corrupt "$p"; done
: >"$T/named"
for nth in 1 2 3; do
	! "$DRFS" check "$REPO" --read-data-subset "$nth/3" 		--cache-dir "$(fresh_cache)" >"$T/check" 2>&1 ||
		fail "check --read-data-subset $nth/3 passed on corrupted packs"
	grep -o 'pack "data/[0-9a-f/]*": \(blob\|content\|trailer\)' "$T/check" |
		grep -o 'data/[0-9a-f/]*' | sort -u >>"$T/named"
done
named=$(sort -u "$T/named" | wc -l)
[ "$named" = "$(echo "$all" | wc -l)" ] ||
	fail "1/3, 2/3, 3/3 from empty caches read $named of $(echo "$all" | wc -l) packs"
info "N/M from empty caches: $named packs read by 3 runs"
REPO=$REPO_A
info "ok"
