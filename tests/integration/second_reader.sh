#!/bin/bash
# The format spec (docs/format.md) is enough to write a second reader:
# tests/tools/drfs-read.py, written from the spec alone, lists the snapshots
# of an unencrypted repository and restores them; the result must equal the
# source (content, modes, owners, times, symlinks, xattrs, devices, holes,
# hard links). Sources: the edge-case tree (tests/tools/mkedge.sh) and a
# real tree (/usr/share/doc). drfs-read.py reads a local directory, so the
# s3 variant is skipped.
source "$(dirname "$0")/lib.sh"
[ "$DRFS_TEST_BACKEND" = local ] || skip "drfs-read.py reads local repositories only"
need_root
command -v zstd >/dev/null || skip "the zstd command-line tool is not installed"
make_repo
READ="$TOOLS/drfs-read.py"

drfs init "$REPO" --no-encryption
mkedge "$T/src"
snap1=$(drfs backup "$REPO" --no-encryption "$T/src" --time 2026-01-02T03:04:05Z --tag edge | tail -n 1)
[ "$snap1" = 2026-01-02/030405 ] || fail "backup printed '$snap1'"
real=$(realtree)
snap2=$(drfs backup "$REPO" --no-encryption "$real" --time 2026-01-02T03:04:05.5Z | tail -n 1)

# the listing: both snapshots, the second of the same second gets ".1"
python3 "$READ" "$REPO" snapshots >"$T/list" || fail "drfs-read.py snapshots failed"
cat "$T/list" >&2
[ "$(wc -l <"$T/list")" = 2 ] || fail "want 2 snapshots listed"
grep -q "^2026-01-02/030405 .* $T/src files=.* tags=edge\$" "$T/list" ||
	fail "edge snapshot not listed as expected"
grep -q "^2026-01-02/030405.1 .* $real " "$T/list" ||
	fail "second snapshot not listed as 2026-01-02/030405.1"
[ "$snap2" = 2026-01-02/030405.1 ] ||
	info "note: drfs printed '$snap2' for the second backup"
id1=$(awk '$1 == "2026-01-02/030405" { print $2 }' "$T/list")
[ "$(drfs snapshots "$REPO" --no-encryption --json | python3 -c '
import json, sys
print(" ".join(sorted(s["id"] for s in json.load(sys.stdin))))')" = \
	"$(awk '{ print $2 }' "$T/list" | sort | tr '\n' ' ' | sed 's/ $//')" ] ||
	fail "drfs and drfs-read.py disagree on the snapshot ids"

python3 "$READ" "$REPO" restore "${id1:0:12}" "$T/edge" ||
	fail "drfs-read.py restore of the edge tree failed"
treecmp --sparse --ignore-root-times "$T/src" "$T/edge" ||
	fail "edge tree restored by drfs-read.py differs"

python3 "$READ" "$REPO" restore 2026-01-02/030405.1 "$T/real" ||
	fail "drfs-read.py restore of $real failed"
treecmp --no-atime --ignore-root-times "$real" "$T/real" ||
	fail "$real restored by drfs-read.py differs"

# the reader verifies what it reads: a flipped byte in a pack is an error
pack=$(find "$REPO/data" -type f ! -name '.tmp-*' | head -n 1)
python3 - "$pack" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
b[len(b) // 3] ^= 0x20
open(p, 'wb').write(b)
PY
if python3 "$READ" "$REPO" restore latest "$T/bad" 2>"$T/bad.err"; then
	fail "drfs-read.py accepted a corrupted pack"
fi
grep -q 'SHA-256\|does not match\|checksum' "$T/bad.err" ||
	fail "unexpected error for a corrupted pack: $(cat "$T/bad.err")"
info "ok: $snap1 and $real read by the second reader"
