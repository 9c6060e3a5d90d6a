#!/bin/bash
# drfs copy between repositories shared by several hosts (docs/hosts.md):
# - `copy SRC DST latest` copies this host's newest snapshot (--host
#   chooses), as restore, drill, forget and hold mean it; before, it
#   copied the newest of any host;
# - copied snapshots keep their folder names when DST has them free, keep
#   host and path, and one whose name DST already shows gets the next
#   free suffix, printed in the report;
# - in DST, --group-by tags does not make each copy a group of its own
#   (copy tags each copy "copied-from:<source id>"; before, that tag
#   counted, so no policy ever removed a copied snapshot).
source "$(dirname "$0")/lib.sh"
make_repo
if [ "$DRFS_TEST_BACKEND" = s3 ]; then
	DST="s3://drfs-test-$(_rand_lower 12)/"
else
	DST=$T/dst
fi
drfs init "$REPO" >/dev/null
"$DRFS" init "$DST" --cache-dir "$T/cdst" >/dev/null
dsnaps() {
	"$DRFS" snapshots "$DST" --cache-dir "$T/cdst" --json | python3 -c '
import json, sys
for s in json.load(sys.stdin):
    print(s["folder"], s["host"], s["path"])'
}

mkdir -p "$T/a" "$T/b"
echo "A's" >"$T/a/f"
echo "B's" >"$T/b/f"
drfs backup "$REPO" "$T/a" --host A --time 2026-10-01T10:00:00Z -q >/dev/null
drfs backup "$REPO" "$T/b" --host B --time 2026-10-01T11:00:00Z -q >/dev/null

run_nocrash "copy latest --host A" "$DRFS" copy "$REPO" "$DST" latest \
	--host A --cache-dir "$CACHE"
[ "$RC" = 0 ] || fail "copy latest --host A: $(cat "$T/last.err")"
dsnaps >"$T/d1"
[ "$(cat "$T/d1")" = "2026-10-01/100000 A $T/a" ] ||
	fail "copy latest --host A copied: $(cat "$T/d1")"
expect_clean_failure "copy latest of a host without snapshots" \
	"$DRFS" copy "$REPO" "$DST" latest --host C --cache-dir "$CACHE"
grep -q 'no snapshot of host "C"' "$T/last.err" ||
	fail "copy latest --host C: $(cat "$T/last.err")"

# DST already shows 2026-10-01/110000 (its own backup): B's gets .1
mkdir -p "$T/d"
echo "DST's own" >"$T/d/f"
"$DRFS" backup "$DST" "$T/d" --cache-dir "$T/cdst" --host D \
	--time 2026-10-01T11:00:00Z -q >/dev/null
run_nocrash "copy all" "$DRFS" copy "$REPO" "$DST" --cache-dir "$CACHE"
[ "$RC" = 0 ] || fail "copy: $(cat "$T/last.err")"
grep -q 'copied 2026-10-01/110000 (.*) as 2026-10-01/110000.1 ' "$T/last.err" ||
	fail "the copy's report does not name its new folder: $(cat "$T/last.err")"
dsnaps | sort >"$T/d2"
printf '%s\n' "2026-10-01/100000 A $T/a" "2026-10-01/110000 D $T/d" \
	"2026-10-01/110000.1 B $T/b" >"$T/want"
diff "$T/want" "$T/d2" >&2 || fail "DST's folders after the copy"
rm -rf "$T/r"
"$DRFS" restore "$DST" 2026-10-01/110000.1 "$T/r" --cache-dir "$T/cdst" -q
diff -r "$T/b" "$T/r" >&2 || fail "DST's 2026-10-01/110000.1 is not B's"

# ---- copies and --group-by tags --------------------------------------------------
echo "A's newer" >"$T/a/f"
drfs backup "$REPO" "$T/a" --host A --time 2026-10-02T10:00:00Z -q >/dev/null
run_nocrash "copy" "$DRFS" copy "$REPO" "$DST" --cache-dir "$CACHE"
[ "$RC" = 0 ] || fail "copy: $(cat "$T/last.err")"
run_nocrash "prune DST --group-by host,paths,tags --dry-run" "$DRFS" prune \
	"$DST" --cache-dir "$T/cdst" --keep-last 1 --group-by host,paths,tags \
	--dry-run
[ "$RC" = 0 ] || fail "prune --dry-run: $(cat "$T/last.err")"
grep -q '^2026-10-01/100000 .* remove$' "$T/last.out" &&
	[ "$(grep -c '^snapshots of ' "$T/last.out")" = 3 ] &&
	grep -q '^snapshots of host "A", path ".*", tags \[\]:$' "$T/last.out" ||
	fail "copies in DST grouped by tags: $(cat "$T/last.out")"
info "ok"
