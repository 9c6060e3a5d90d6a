#!/bin/bash
# Deduplication: an unchanged re-backup adds (almost) nothing, and an
# insertion near the start of a large file costs only the chunks around it
# (content-defined chunking), not the whole file. Prints the measured growth.
source "$(dirname "$0")/lib.sh"
make_repo
drfs init "$REPO"

MiB=$((1 << 20))

# 1. unchanged tree
src=$(realtree)
drfs backup "$REPO" "$src" >/dev/null
b0=$(repo_bytes)
drfs backup "$REPO" "$src" >/dev/null
b1=$(repo_bytes)
info "unchanged re-backup of $src: repository $b0 -> $b1 bytes (+$((b1 - b0)))"
[ $((b1 - b0)) -lt "$MiB" ] ||
	fail "unchanged re-backup grew the repository by $((b1 - b0)) bytes (>= 1 MiB)"

# 2. 64 MiB of seeded random data, then the same with 8 bytes inserted
mkdir "$T/big"
seeded_bytes "$SEED" $((64 * MiB)) >"$T/big/data"
drfs backup "$REPO" "$T/big" >/dev/null
b2=$(repo_bytes)
info "64 MiB random file: repository +$((b2 - b1)) bytes"
[ $((b2 - b1)) -gt $((60 * MiB)) ] ||
	fail "64 MiB of random data stored in $((b2 - b1)) bytes: impossible"

{
	head -c 1000 "$T/big/data"
	printf 'INSERTED'
	tail -c +1001 "$T/big/data"
} >"$T/big/data.new"
mv "$T/big/data.new" "$T/big/data"
snap=$(drfs backup "$REPO" "$T/big" | tail -n 1)
b3=$(repo_bytes)
growth=$((b3 - b2))
echo "dedup: 8 bytes inserted at offset 1000 of 64 MiB: repository grew by $growth bytes ($((growth / 1024)) KiB)"
[ "$growth" -lt $((12 * MiB)) ] ||
	fail "insertion grew the repository by $growth bytes (>= 12 MiB)"

drfs restore "$REPO" "$snap" "$T/out"
cmp "$T/big/data" "$T/out/data" || fail "restored file differs"

# 3. stats agree with what we measured
drfs stats "$REPO" --json >"$T/stats.json"
python3 - "$T/stats.json" "$b3" "$DRFS_TEST_BACKEND" <<'PY' ||
import json, sys
st = json.load(open(sys.argv[1]))
stored, backend = int(sys.argv[2]), sys.argv[3]
for k in ("snapshots", "packs", "blobs", "repo_bytes", "raw_bytes",
          "dedup_ratio", "compression_ratio"):
    assert k in st, "stats --json lacks %r: %r" % (k, st)
assert st["snapshots"] == 4, "snapshots %r, want 4" % st["snapshots"]
assert st["packs"] > 0 and st["blobs"] > 0, st
assert st["raw_bytes"] >= 64 << 20, "raw_bytes %r" % st["raw_bytes"]
assert st["dedup_ratio"] > 1.5, "dedup_ratio %r" % st["dedup_ratio"]
if backend == "local":
    # "stored bytes of all objects": the repository directory's file sizes
    assert abs(st["repo_bytes"] - stored) <= stored // 20 + (64 << 10), \
        "repo_bytes %r but the repository holds %r" % (st["repo_bytes"], stored)
PY
	fail "stats --json: $(cat "$T/stats.json")"
drfs check "$REPO"
