#!/bin/bash
# The repository alone is enough: with a new, empty --cache-dir, snapshots,
# restore and check give the same results as with the cache that made the
# backups.
source "$(dirname "$0")/lib.sh"
need_root
make_repo
drfs init "$REPO"

mkedge "$T/src"
rm -rf "$T/src/sparse"	# keep this test quick; roundtrip_edge covers them
s1=$(drfs backup "$REPO" "$T/src" --tag one --time 2025-05-05T05:05:05.5Z |
	tail -n 1)
echo changed >"$T/src/sizes/1"
touch -d '2020-01-01 00:00:00.25 UTC' "$T/src/sizes/1" "$T/src/sizes"
s2=$(drfs backup "$REPO" "$T/src" --tag two --time 2025-05-06T06:06:06Z |
	tail -n 1)
[ "$s1" != "$s2" ] || fail "two backups share folder '$s1'"

drfs snapshots "$REPO" --json >"$T/warm.json"
drfs restore "$REPO" "$s2" "$T/warm"
drfs check "$REPO" --read-data >"$T/warm.check"

# round 1: an empty cache dir; round 2: the same dir, now filled from the
# repository alone
CACHE=$T/fresh-cache
for round in 1 2; do
	drfs snapshots "$REPO" --json >"$T/cold.json"
	python3 - "$T/warm.json" "$T/cold.json" <<'PY' ||
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
key = lambda s: s["id"]
assert sorted(a, key=key) == sorted(b, key=key), (a, b)
PY
		fail "snapshots --json differs with a fresh cache (round $round)"
	drfs restore "$REPO" "$s2" "$T/cold-$round"
	treecmp --sparse --ignore-root-times "$T/src" "$T/cold-$round" ||
		fail "restore with a fresh cache differs from the source"
	treecmp --sparse --ignore-root-times "$T/warm" "$T/cold-$round" ||
		fail "restore with a fresh cache differs from the warm restore"
	drfs restore "$REPO" "$s1" "$T/cold-old-$round"
	[ "$(cat "$T/cold-old-$round/sizes/1")" != changed ] ||
		fail "old snapshot shows the new content"
	drfs check "$REPO" --read-data >"$T/cold.check" ||
		fail "check --read-data with a fresh cache failed"
done
info "ok: $s1 $s2"
