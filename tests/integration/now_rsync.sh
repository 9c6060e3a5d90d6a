#!/bin/bash
# now/ as an rsync target: the edge-case tree and a real tree round-trip
# through now/ -> drfs snapshot -> the snapshot folder; a no-change re-run
# writes nothing; 7 bytes changed in a 64 MiB file (default and --inplace)
# cost a few chunks; --delete removes; a remount on an empty cache shows the
# latest snapshot in now/; parallel writers and reads of snapshots during
# writes; drfs status; drfs check --read-data at the end.
source "$(dirname "$0")/lib.sh"
need_root
make_repo

MNT=$T/mnt
# rsync keeps atimes only to the second (-U), so they are not compared;
# edge_rsync (lib.sh): rsync, but the two multi-GiB sparse files with cp
RS=(edge_rsync -aHAXS --delete)
drfs init "$REPO" >/dev/null
mkedge "$T/src"
mount_repo "$MNT"

# ---- the edge-case tree ---------------------------------------------------
"${RS[@]}" "$T/src/" "$MNT/now/"
treecmp --no-atime --sparse --ignore-root-times "$T/src" "$MNT/now" ||
	fail "now/ differs from the source after rsync"
drfs status "$MNT" >"$T/status" || fail "drfs status failed"
grep -q "changed since the last snapshot" "$T/status" ||
	fail "status does not say now/ changed: $(cat "$T/status")"
folder=$(drfs snapshot "$MNT" --time 2026-03-01T00:00:00Z --tag edge)
[ "$folder" = "$MNT/snapshots/2026-03-01/000000" ] ||
	fail "drfs snapshot printed '$folder'"
[ -d "$folder" ] || fail "'$folder' does not exist right after snapshot"
treecmp --no-atime --sparse --ignore-root-times "$T/src" "$folder" ||
	fail "the snapshot differs from the source"
drfs status "$MNT" | grep -q "last snapshot: 2026-03-01/000000" ||
	fail "status: $(drfs status "$MNT")"

# ---- a no-change re-run writes nothing; its snapshot adds no data -------
packs() { find "$REPO/data" -type f 2>/dev/null | wc -l; }
if [ "$DRFS_TEST_BACKEND" = local ]; then
	p0=$(packs)
	"${RS[@]}" "$T/src/" "$MNT/now/"
	drfs status "$MNT" | grep -q "^now: unchanged" ||
		fail "a no-change rsync changed now/: $(drfs status "$MNT")"
	drfs snapshot "$MNT" --time 2026-03-01T00:01:00Z >/dev/null
	p1=$(packs)
	[ "$p1" -le $((p0 + 1)) ] ||
		fail "no-change snapshot wrote $((p1 - p0)) packs"
fi

# ---- 7 bytes in a 64 MiB file --------------------------------------------
mkdir -p "$T/src/big"
seeded_bytes 7 $((64 << 20)) >"$T/src/big/file"
touch -d @1700000000 "$T/src/big/file" "$T/src/big"
"${RS[@]}" "$T/src/" "$MNT/now/"
drfs snapshot "$MNT" --time 2026-03-02T00:00:00Z >/dev/null
b0=$(repo_bytes)
printf 'CHANGED' | dd of="$T/src/big/file" bs=1 seek=$((30 << 20)) \
	conv=notrunc status=none
touch -d @1700000001.5 "$T/src/big/file" # a clock may be coarse
"${RS[@]}" "$T/src/" "$MNT/now/"
drfs snapshot "$MNT" --time 2026-03-02T00:01:00Z >/dev/null
b1=$(repo_bytes)
info "7-byte change (temp file + rename): repository grew $((b1 - b0)) bytes"
[ $((b1 - b0)) -lt $((12 << 20)) ] ||
	fail "7-byte change grew the repository by $((b1 - b0)) bytes"
printf 'AGAIN!!' | dd of="$T/src/big/file" bs=1 seek=$((50 << 20)) \
	conv=notrunc status=none
touch -d @1700000002.5 "$T/src/big/file"
"${RS[@]}" --inplace "$T/src/" "$MNT/now/"
drfs snapshot "$MNT" --time 2026-03-02T00:02:00Z >/dev/null
b2=$(repo_bytes)
info "7-byte change (--inplace): repository grew $((b2 - b1)) bytes"
[ $((b2 - b1)) -lt $((12 << 20)) ] ||
	fail "--inplace 7-byte change grew the repository by $((b2 - b1)) bytes"
cmp "$T/src/big/file" "$MNT/now/big/file" || fail "big file differs in now/"
cmp "$T/src/big/file" "$MNT/latest/big/file" ||
	fail "big file differs in the snapshot"

# ---- --delete ----------------------------------------------------------
rm -rf "$T/src/big" "$T/src/sizes"
"${RS[@]}" "$T/src/" "$MNT/now/"
[ ! -e "$MNT/now/big" ] && [ ! -e "$MNT/now/sizes" ] ||
	fail "rsync --delete left deleted entries in now/"
treecmp --no-atime --sparse --ignore-root-times "$T/src" "$MNT/now" ||
	fail "now/ differs after --delete"

# ---- a real tree, parallel writers, reads of snapshots meanwhile -------
# (a part of it: every metadata operation is an LMDB commit)
real=$(realtree)
mkdir -p "$T/src/real"
find "$real" -mindepth 1 -maxdepth 1 | sort | sed -n 1,120p |
	while IFS= read -r e; do cp -a "$e" "$T/src/real/"; done
# rsync does not retouch a directory modified in the second it runs (on any
# file system): give it a settled mtime
touch -d @1700000100 "$T/src/real"
"${RS[@]}" "$T/src/" "$MNT/now/"
treecmp --no-atime --sparse --ignore-root-times "$T/src" "$MNT/now" ||
	fail "now/ with a real tree differs"
snapdir=$(drfs snapshot "$MNT" --time 2026-03-03T00:00:00Z)
treecmp --no-atime --sparse --ignore-root-times "$T/src" "$snapdir" ||
	fail "snapshot with a real tree differs"
pids=()
for i in 1 2 3; do
	cp -a "$T/src/real" "$MNT/now/par$i" & pids+=($!)
done
(for _ in 1 2 3; do
	treecmp --no-atime "$T/src/real" "$snapdir/real" >/dev/null || exit 1
done) & reader=$!
for p in "${pids[@]}"; do wait "$p" || fail "parallel cp -a failed"; done
wait "$reader" || fail "reading a snapshot during writes gave wrong data"
for i in 1 2 3; do
	treecmp --no-atime "$T/src/real" "$MNT/now/par$i" ||
		fail "parallel copy $i differs"
	rm -rf "$MNT/now/par$i"
done

# ---- unmount snapshots; a remount on an empty cache shows it in now/ ----
echo "tail" >"$T/src/unsnapped"
"${RS[@]}" "$T/src/" "$MNT/now/"
umount_repo "$MNT"
CACHE=$T/cache2
mount_repo "$MNT"
treecmp --no-atime --sparse --ignore-root-times "$T/src" "$MNT/now" ||
	fail "now/ on an empty cache differs from the source"
treecmp --no-atime --sparse --ignore-root-times "$MNT/latest/" "$MNT/now" ||
	fail "now/ on an empty cache differs from the latest snapshot"
# and it is writable copy-on-write: change a file deep in the base tree
echo changed >"$MNT/now/unsnapped"
echo changed >"$T/src/unsnapped"
touch -d @1700000003 "$MNT/now/unsnapped" "$T/src/unsnapped"
drfs snapshot "$MNT" >/dev/null
treecmp --no-atime --sparse --ignore-root-times "$T/src" "$MNT/latest/" ||
	fail "snapshot after copy-on-write differs"
umount_repo "$MNT"

drfs check "$REPO" --read-data >"$T/check" 2>&1 ||
	{ cat "$T/check" >&2; fail "drfs check --read-data found problems"; }
info "ok"
