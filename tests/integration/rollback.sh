#!/bin/bash
# Rollback detection (docs/rollback.md). A snapshot deleted behind drfs's
# back: the newest makes `check` fail naming it (also with a second cache
# that saw it, also after a later backup), `snapshots` and `restore` warn;
# an older one is a warning, and an empty cache finds the hole it leaves in
# the parent chain. `forget` of a vanished snapshot acknowledges it. Forget
# and prune — seen from another cache and from an empty one, killed between
# the record and the deletion or after the first deletion — are not
# reported. A corrupted or forged forget record is refused by name and
# hides nothing. A repository made by the previous drfs
# (tests/integration/data/base-repo: init, 4 backups, forget of the second)
# keeps working, and its first write records the gap the old forget left.
source "$(dirname "$0")/lib.sh"
make_repo
drfs init "$REPO" >/dev/null

mkdir -p "$T/src"
W=$T/witness # a second cache (another host) that saw every snapshot

# backup_at DAY — a backup at noon of 2026-04-DAY (witness cache $CACHE);
# prints the snapshot's full id
backup_at() {
	echo "day $1" >"$T/src/file"
	drfs backup "$REPO" "$T/src" --time "2026-04-${1}T12:00:00Z" \
		--quiet >/dev/null
	drfs snapshots "$REPO" --json 2>/dev/null | python3 -c 'import json, sys
print(*[s["id"] for s in json.load(sys.stdin)
        if s["folder"] == "2026-04-%s/120000" % sys.argv[1]])' "$1"
}
fresh() { mktemp -d "$T/fresh.XXXXXX"; } # a new, empty cache directory
# says WHAT PATTERN... — every pattern is on stderr of the last command
says() {
	local what=$1 p
	shift
	for p in "$@"; do
		grep -qF -- "$p" "$T/last.err" || {
			cat "$T/last.err" >&2
			fail "$what: stderr does not say '$p'"
		}
	done
}

s1=$(backup_at 01)
s2=$(backup_at 02)
s3=$(backup_at 03)
with_cache "$W" snapshots
no_removal_reported "witness before"

# ---- the newest snapshot deleted behind drfs's back ----------------------
obj_del "snapshots/$s3"
with_cache "$CACHE" check
[ "$RC" != 0 ] || fail "check passed after the newest snapshot was deleted"
says "check (newest deleted)" "$s3" "2026-04-03/120000" "rolled back"
with_cache "$W" check
[ "$RC" != 0 ] || fail "check (witness) passed after the newest was deleted"
says "check (witness)" "$s3" "2026-04-03/120000"
with_cache "$CACHE" snapshots
[ "$RC" = 0 ] || fail "snapshots failed (exit $RC)"
says "snapshots (newest deleted)" "warning" "$s3" "2026-04-03/120000"
grep -q "2026-04-03" "$T/last.out" && fail "snapshots still lists the deleted one"
with_cache "$CACHE" restore latest "$T/r1"
[ "$RC" = 0 ] || fail "restore latest failed (exit $RC)"
says "restore latest (newest deleted)" "$s3" "rolled back"
[ "$(cat "$T/r1/file")" = "day 02" ] || fail "restore latest: $(cat "$T/r1/file")"
# documented limit: an empty cache has no witness of the newest snapshot
with_cache "$(fresh)" check
no_removal_reported "check with an empty cache (newest deleted: undetectable)"

# a later backup does not hide the rollback
s4=$(backup_at 04)
with_cache "$CACHE" check
[ "$RC" != 0 ] || fail "check passed after a backup following the rollback"
says "check (after a later backup)" "$s3" "rolled back"

# forget of the vanished snapshot acknowledges it, for every cache
drfs forget "$REPO" "${s3:0:12}" -q
with_cache "$CACHE" check
no_removal_reported "check after acknowledging $s3"
with_cache "$W" check
no_removal_reported "check (witness) after acknowledging $s3"

# ---- an older snapshot deleted ---------------------------------------------
s5=$(backup_at 05)
with_cache "$W" snapshots
obj_del "snapshots/$s4"
with_cache "$CACHE" check
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "check failed for an older deletion"; }
says "check (older deleted)" "warning" "$s4" "2026-04-04/120000" "vanished"
grep -q "rolled back" "$T/last.err" && fail "an older snapshot called a rollback"
with_cache "$CACHE" snapshots
says "snapshots (older deleted)" "warning" "$s4" "2026-04-04/120000"
# an empty cache: the hole in the parent chain (s5's parent is s4)
with_cache "$(fresh)" check
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "check (empty cache) failed"; }
says "check (empty cache, hole)" "warning" "2026-04-05/120000" \
	"names parent $s4" "missing without a forget record"
with_cache "$(fresh)" snapshots
says "snapshots (empty cache, hole)" "names parent $s4"
"$DRFS" forget "$REPO" "$s4" --cache-dir "$W" -q
with_cache "$CACHE" check
no_removal_reported "check after acknowledging $s4 (from another cache)"
with_cache "$(fresh)" check
no_removal_reported "check (empty cache) after acknowledging $s4"

# ---- removals by drfs itself are not reported -------------------------------
s6=$(backup_at 06)
s7=$(backup_at 07)
s8=$(backup_at 08)
s9=$(backup_at 09)
with_cache "$W" snapshots
drfs forget "$REPO" 2026-04-06/120000 -q
with_cache "$W" check
no_removal_reported "check (witness) after forget"
with_cache "$(fresh)" check
no_removal_reported "check (empty cache) after forget"
# killed after writing the record, before deleting anything
rc=0
DRFS_TEST_CRASH_AT=record "$DRFS" forget "$REPO" 2026-04-07/120000 \
	--cache-dir "$CACHE" -q 2>"$T/crash.err" || rc=$?
[ "$rc" = 137 ] || { cat "$T/crash.err" >&2; fail "forget (crash at record): exit $rc"; }
[ -n "$(obj_names "snapshots/$s7")" ] || fail "the crash at record deleted $s7"
with_cache "$W" check
no_removal_reported "check (witness) after a forget killed before deleting"
drfs forget "$REPO" 2026-04-07/120000 -q
# killed after deleting the first of two
rc=0
DRFS_TEST_CRASH_AT=forget "$DRFS" forget "$REPO" 2026-04-08/120000 \
	2026-04-05/120000 --cache-dir "$CACHE" -q 2>"$T/crash.err" || rc=$?
[ "$rc" = 137 ] || { cat "$T/crash.err" >&2; fail "forget (crash after one): exit $rc"; }
with_cache "$W" check
no_removal_reported "check (witness) after a forget killed half-way"
with_cache "$(fresh)" check
no_removal_reported "check (empty cache) after a forget killed half-way"
with_cache "$CACHE" check
no_removal_reported "check (the killed forget's cache)"
left=$(drfs snapshots "$REPO" | tail -n +2 | awk '{ print $1 }' |
	grep -E '2026-04-0(5|8)/' || true)
[ -n "$left" ] && drfs forget "$REPO" $left -q
# prune (keep the newest) from the witness's point of view
s10=$(backup_at 10)
with_cache "$W" snapshots
drfs prune "$REPO" --keep-last 1 -q >/dev/null
[ "$(drfs snapshots "$REPO" | tail -n +2 | wc -l)" = 1 ] ||
	fail "prune --keep-last 1 left $(drfs snapshots "$REPO" | tail -n +2 | wc -l)"
with_cache "$W" check
no_removal_reported "check (witness) after prune"
with_cache "$(fresh)" check
no_removal_reported "check (empty cache) after prune"
[ -n "$(obj_names forgotten/)" ] || fail "no forget records in forgotten/"

# ---- corrupted and forged forget records ---------------------------------------
s11=$(backup_at 11)
s12=$(backup_at 12)
s13=$(backup_at 13)
with_cache "$W" snapshots
obj_names forgotten/ >"$T/recs.before"
drfs forget "$REPO" 2026-04-11/120000 -q
rec=$(obj_names forgotten/ | comm -13 "$T/recs.before" -)
[ "$(wc -l <<<"$rec")" = 1 ] || fail "forget wrote '$rec', want one record"
obj_get "$rec" "$T/rec"
cp "$T/rec" "$T/rec.bad"
python3 -c 'import sys
b = bytearray(open(sys.argv[1], "rb").read()); b[len(b) // 2] ^= 0x20
open(sys.argv[1], "wb").write(b)' "$T/rec.bad"
obj_put "$rec" "$T/rec.bad"
with_cache "$(fresh)" check
[ "$RC" != 0 ] || fail "check passed with a corrupted forget record"
says "check (corrupted record)" "$rec" "refused" "names parent $s11"
obj_put "$rec" "$T/rec"
with_cache "$(fresh)" check
no_removal_reported "check with the record repaired"

# forged: a record sealed with another repository's keys, under its own
# (matching) name, planted while s12 is deleted
REPO_MAIN=$REPO
make_repo
[ "$DRFS_TEST_BACKEND" = local ] && REPO=$T/other
"$DRFS" init "$REPO" --cache-dir "$T/other-cache" >/dev/null
echo other >"$T/src/file"
"$DRFS" backup "$REPO" "$T/src" --cache-dir "$T/other-cache" -q >/dev/null
"$DRFS" forget "$REPO" latest --cache-dir "$T/other-cache" -q
forged=$(obj_names forgotten/ | tail -n 1)
obj_get "$forged" "$T/forged"
REPO=$REPO_MAIN
obj_put "$forged" "$T/forged"
obj_del "snapshots/$s12"
with_cache "$W" check
[ "$RC" != 0 ] || fail "check (witness) passed with a forged record"
says "check (witness, forged)" "$forged" "refused" "$s12" "vanished"
with_cache "$(fresh)" check
[ "$RC" != 0 ] || fail "check (empty cache) passed with a forged record"
says "check (empty cache, forged)" "$forged" "refused" "names parent $s12"
with_cache "$CACHE" snapshots
says "snapshots (forged)" "$forged" "refused" "$s12"
obj_del "$forged"
drfs forget "$REPO" "$s12" -q
with_cache "$W" check
no_removal_reported "check (witness) after the forged record went and $s12 was acknowledged"

# ---- a repository made by the previous drfs -------------------------------------
make_repo
export DRFS_PASSWORD="drfs base-build fixture"
BASE_DATA=$(dirname "$0")/data/base-repo
case $REPO in
s3://*)
	s3_req PUT "$(_obj_url)" >/dev/null
	(cd "$BASE_DATA" && find . -type f | sed 's|^\./||') | while read -r o; do
		obj_put "$o" "$BASE_DATA/$o"
	done
	;;
*) REPO=$T/base-repo && cp -a "$BASE_DATA" "$REPO" ;;
esac
[ -z "$(obj_names forgotten/)" ] || fail "the fixture already has forget records"
B=$T/base-cache
with_cache "$B" snapshots
[ "$RC" = 0 ] || fail "snapshots of the old repository failed"
[ "$(tail -n +2 "$T/last.out" | awk '{ print $1 }' | tr '\n' ' ')" = \
	"2026-03-01/120000 2026-03-03/120000 2026-03-04/120000 " ] ||
	fail "old repository lists: $(cat "$T/last.out")"
says "snapshots (old repository)" "names parent" "no forget records yet"
with_cache "$B" check
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "check of the old repository failed"; }
says "check (old repository)" "2026-03-03/120000" "no forget records yet"
with_cache "$B" restore latest "$T/r2"
[ "$(cat "$T/r2/a")" = "day 4" ] ||
	fail "old repository: latest restores wrong"
# the first write records the old gap as a baseline
echo "day 5" >"$T/src/file"
"$DRFS" backup "$REPO" "$T/src" --cache-dir "$B" -q >/dev/null
[ "$(obj_names forgotten/ | wc -l)" = 1 ] ||
	fail "after the first write: $(obj_names forgotten/ | wc -l) records"
with_cache "$B" check
no_removal_reported "check of the upgraded repository"
with_cache "$(fresh)" check
no_removal_reported "check of the upgraded repository (empty cache)"
with_cache "$(fresh)" snapshots
no_removal_reported "snapshots of the upgraded repository (empty cache)"
"$DRFS" forget "$REPO" 2026-03-01/120000 --cache-dir "$B" -q
with_cache "$(fresh)" check
no_removal_reported "check of the upgraded repository after a forget"
[ "$(obj_names forgotten/ | wc -l)" = 2 ] || fail "forget wrote no record"
info "ok"
