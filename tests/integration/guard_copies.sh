#!/bin/bash
# Two copies of a blob after a healing (docs/verification.md), with an
# EMPTY cache that reads the corrupted copy first: prune must keep the good
# copy (and repacking must copy it), and the index repair index writes must
# list it.
#
# The healing: a pack of the first snapshot is corrupted behind drfs's back,
# a second backup deduplicates against it and the guard stores the blob
# again (a new pack). An empty cache loads index objects in name order and
# reads first the copy of the one loaded last; the test corrupts the copy
# whose index object sorts last (the old one, or — the old pack put back
# intact — the new one), so that every fresh cache below reads the
# corrupted copy first.
#
# A: prune, then prune --max-unused 0 (repacking), each from a fresh cache:
#    after each, every snapshot restores byte-exact from a fresh cache and
#    check --read-data passes.
# B: repair index from a fresh cache, then restore from another fresh cache
#    (and check --read-data), then prune --max-unused 0 and restore again.
source "$(dirname "$0")/lib.sh"
make_repo

index_names() { obj_names index/ | sed 's|^index/||'; }

# heal_repo: a repository with two snapshots and a healed blob whose copy
# an empty cache reads first is the corrupted one; $T/src as snapshot 2.
heal_repo() {
	drfs init "$REPO" >/dev/null
	rm -rf "$T/src" && mkdir -p "$T/src"
	seeded_bytes 21 700000 >"$T/src/a.bin"
	drfs backup "$REPO" "$T/src" --time 2026-01-01T00:00:00Z -q >/dev/null
	local i1 p1 i2 p2
	i1=$(index_names)
	[ "$(echo "$i1" | wc -l)" = 1 ] || fail "first backup: not one index object"
	p1=$(obj_names data/)
	[ "$(echo "$p1" | wc -l)" = 1 ] || fail "first backup: not one pack"
	obj_get "$p1" "$T/p1.orig"
	obj_corrupt "$p1"
	cp "$T/src/a.bin" "$T/src/b.bin"
	drfs backup "$REPO" "$T/src" --time 2026-01-02T00:00:00Z \
		>/dev/null 2>"$T/heal.err" ||
		{ cat "$T/heal.err" >&2; fail "second backup failed"; }
	grep -q "guard: pack \"$p1\": blob .* (healed)" "$T/heal.err" ||
		{ cat "$T/heal.err" >&2; fail "no healing"; }
	i2=$(index_names | grep -vx "$i1")
	[ "$(echo "$i2" | wc -l)" = 1 ] || fail "second backup: not one index object"
	p2=$(obj_names data/ | grep -vx "$p1")
	[ "$(echo "$p2" | wc -l)" = 1 ] || fail "second backup: not one pack"
	if [[ "$i2" > "$i1" ]]; then
		# the new copy is read first: it is the one to corrupt
		obj_put "$p1" "$T/p1.orig"
		obj_corrupt "$p2"
		BAD=$p2 GOOD=$p1
	else
		BAD=$p1 GOOD=$p2
	fi
	info "corrupted copy in $BAD (read first), good copy in $GOOD"
	mkdir -p "$T/v1" && rm -rf "$T/v1"/* && cp "$T/src/a.bin" "$T/v1/"
}

# every snapshot byte-exact from a fresh cache; check --read-data clean
all_good() {
	local fresh
	fresh=$(fresh_cache)
	restored_is 2026-01-01/000000 "$T/v1" "$fresh"
	restored_is 2026-01-02/000000 "$T/src" "$fresh"
	"$DRFS" check "$REPO" --read-data --cache-dir "$(fresh_cache)" \
		>"$T/check" 2>&1 || { cat "$T/check" >&2; fail "$1: check --read-data"; }
}

# prune_fresh WHY ARGS...: prune from an empty cache, then all_good
prune_fresh() {
	local why=$1
	shift
	"$DRFS" prune "$REPO" --keep-last 10 --cache-dir "$(fresh_cache)" \
		"$@" >"$T/prune.out" 2>&1 || { cat "$T/prune.out" >&2; fail "$why"; }
	# every blob of it is live: never a candidate
	obj_names data/ | grep -qx "$GOOD" || { cat "$T/prune.out" >&2;
		fail "$why deleted $GOOD, the pack of the only good copy"; }
	all_good "after $why"
}

# the corrupted copy is read first by an empty cache: the guard's premise
# (a restore still works: the good copy is read instead)
heal_repo
all_good "after the healing"

# ---- A: prune, then prune with repacking, from empty caches ------------------
prune_fresh prune
prune_fresh "prune --max-unused 0" --max-unused 0
info "A: prune and repacking kept the good copy"

# ---- B: repair index from an empty cache --------------------------------------
REPO_A=$REPO
make_repo
[ "$DRFS_TEST_BACKEND" = local ] && REPO=$T/repo_b
CACHE=$(fresh_cache)
heal_repo
"$DRFS" repair index "$REPO" --cache-dir "$(fresh_cache)" >"$T/repair.out" \
	2>&1 || { cat "$T/repair.out" >&2; fail "repair index"; }
[ "$(index_names | wc -l)" = 1 ] || fail "repair index: not one full index"
all_good "after repair index"
prune_fresh "prune --max-unused 0 after repair index" --max-unused 0
info "B: the full index of repair index lists the good copy"
REPO=$REPO_A
info "ok"
