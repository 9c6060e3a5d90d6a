#!/bin/bash
# drfs copy SRC DST: snapshots copied to a repository with another
# passphrase (re-encrypted), incrementally: the second run copies nothing,
# a new snapshot costs only its new data; DST restores the same trees.
# local: DST a directory; s3: DST a second bucket.
source "$(dirname "$0")/lib.sh"
make_repo
SRCREPO=$REPO
if [ "$DRFS_TEST_BACKEND" = s3 ]; then
	DST="s3://drfs-test-$(_rand_lower 12)/"
else
	DST=$T/dst
fi
PASS2="another passphrase $$"
field() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

SRC=$T/src
mkdir -p "$SRC/d"
seeded_bytes "$SEED" $((3 << 20)) >"$SRC/big"
seeded_bytes $((SEED + 1)) 100000 >"$SRC/d/mid"
echo one >"$SRC/d/small"
ln -s big "$SRC/link"

drfs init "$SRCREPO" >/dev/null
drfs backup "$SRCREPO" "$SRC" >/dev/null
echo two >"$SRC/d/small"
drfs backup "$SRCREPO" "$SRC" >/dev/null
DRFS_PASSWORD=$PASS2 drfs init "$DST" --cache-dir "$T/cdst" >/dev/null

# ---- first copy: everything; second: nothing ------------------------------
DRFS_PASSWORD2=$PASS2 drfs copy "$SRCREPO" "$DST" --json >"$T/c1.json"
[ "$(field "$T/c1.json" copied)" = 2 ] || fail "first copy: $(cat "$T/c1.json")"
info "first copy: $(cat "$T/c1.json")"
DRFS_PASSWORD2=$PASS2 drfs copy "$SRCREPO" "$DST" --json >"$T/c2.json"
python3 - "$T/c2.json" <<'PY' || fail "second copy copied something: $(cat "$T/c2.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["copied"] == 0 and d["skipped"] == 2, d
assert d["blobs_new"] == 0 and d["bytes_read"] == 0 and d["bytes_stored"] == 0, d
PY
info "second copy: $(cat "$T/c2.json")"

# ---- DST restores what SRC restores, with its own passphrase ----------------
drfs restore "$SRCREPO" latest "$T/out-src" -q
DRFS_PASSWORD=$PASS2 drfs restore "$DST" latest "$T/out-dst" --cache-dir "$T/cdst" -q
treecmp "$SRC" "$T/out-src" >/dev/null || fail "SRC restore differs from the source"
treecmp "$T/out-src" "$T/out-dst" || fail "DST restore differs from SRC's"
DRFS_PASSWORD=$PASS2 drfs drill "$DST" --cache-dir "$T/cdst" -q >/dev/null ||
	fail "drill of the copy failed"
DRFS_PASSWORD=$PASS2 drfs snapshots "$DST" --json --cache-dir "$T/cdst" >"$T/snaps.json"
grep -q '"copied-from:' "$T/snaps.json" || fail "copied snapshots lack the copied-from tag"
# the passphrases really differ
expect_clean_failure "DST with SRC's passphrase" drfs snapshots "$DST" --cache-dir "$T/cdst"

# ---- incremental: a new snapshot costs only its new data -------------------
seeded_bytes $((SEED + 2)) 20000 >"$SRC/d/new"
drfs backup "$SRCREPO" "$SRC" >/dev/null
DRFS_PASSWORD2=$PASS2 drfs copy "$SRCREPO" "$DST" --json >"$T/c3.json"
python3 - "$T/c3.json" <<'PY' || fail "third copy: $(cat "$T/c3.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["copied"] == 1 and d["skipped"] == 2, d
assert d["blobs_dup"] > 0 and d["bytes_stored"] < 1 << 20, d
# the data copied before is not read again (memo in DST's cache)
assert d["bytes_read"] < 1 << 20, d
PY
info "incremental copy: $(cat "$T/c3.json")"

# ---- named snapshots; a wrong DST passphrase --------------------------------
first=$(drfs snapshots "$SRCREPO" --json | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["folder"])')
DRFS_PASSWORD2=$PASS2 drfs copy "$SRCREPO" "$DST" "$first" --json >"$T/c4.json"
[ "$(field "$T/c4.json" skipped)" = 1 ] || fail "copy of $first: $(cat "$T/c4.json")"
expect_clean_failure "copy with a wrong DST passphrase" \
	env DRFS_PASSWORD2=wrong "$DRFS" copy "$SRCREPO" "$DST" --cache-dir "$CACHE"
grep -q 'wrong passphrase' "$T/last.err" || fail "no clear message for a wrong DST passphrase"
echo "dr_copy: ok"
