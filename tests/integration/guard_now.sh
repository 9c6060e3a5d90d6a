#!/bin/bash
# The dedup-loss guard of a mount (docs/verification.md): a snapshot of now/
# whose new data deduplicates against a corrupted old pack. The guard of
# the commit reads the old copy back, finds it corrupted and stores it again
# from the data written through now/; drfs status MOUNTPOINT shows the
# counters and the finding, and the mount log names it. Every snapshot then
# restores byte-exact from an empty cache, and check --read-data passes.
source "$(dirname "$0")/lib.sh"
fuse_ok || skip "no FUSE"
make_repo
drfs init "$REPO" >/dev/null
mkdir -p "$T/src"
seeded_bytes 31 700000 >"$T/src/a.bin"
mnt=$T/mnt
mount_repo "$mnt"
cp "$T/src/a.bin" "$mnt/now/"
drfs snapshot "$mnt" >/dev/null
# the pack of a.bin's data: the largest one
pack=$(obj_sizes data/ | sort -n | tail -1 | awk '{print $2}')
[ -n "$pack" ] || fail "no pack after the first snapshot"
obj_corrupt "$pack"
grep -q "guard: 0 old pack(s) read" < <(drfs status "$mnt") ||
	{ drfs status "$mnt" >&2; fail "status: no guard line before"; }
# the same data written again through now/: deduplicated against the
# corrupted copy
cp "$T/src/a.bin" "$mnt/now/b.bin"
drfs snapshot "$mnt" >/dev/null || fail "the second snapshot of now/ failed"
drfs status "$mnt" >"$T/status" || fail "drfs status"
cat "$T/status" >&2
grep -q "^guard: 1 old pack(s) read, 0 verified, .* read; 1 corrupted or missing copies found, 1 stored again, 0 not readable$" "$T/status" ||
	fail "status: not the guard's counters of one healing"
grep -q "^guard: pack \"$pack\": blob [0-9a-f]\{64\} is corrupted: stored again from the data being written (healed)$" "$T/status" ||
	fail "status: no finding"
log=$(find "$CACHE" -name "mount-*.log" | head -1)
[ -n "$log" ] || fail "no mount log"
grep -q "warning: guard: pack \"$pack\": blob [0-9a-f]\{64\} is corrupted: stored again from the data being written (healed)" "$log" ||
	{ cat "$log" >&2; fail "the mount log does not name the healing"; }
# both files read back through the mount (the good copy is read first)
cmp "$mnt/now/a.bin" "$T/src/a.bin" || fail "now/a.bin"
cmp "$mnt/now/b.bin" "$T/src/a.bin" || fail "now/b.bin"
umount_repo "$mnt"
# every snapshot, from an empty cache
mkdir -p "$T/v1" "$T/v2"
cp "$T/src/a.bin" "$T/v1/"
cp "$T/src/a.bin" "$T/v2/"
cp "$T/src/a.bin" "$T/v2/b.bin"
fresh=$(fresh_cache)
n=0
while read -r folder _; do
	n=$((n + 1))
	restored_is "$folder" "$T/v$n" "$fresh"
done < <("$DRFS" snapshots "$REPO" --cache-dir "$fresh" | awk 'NR > 1 {print $1}')
[ "$n" = 2 ] || fail "$n snapshots, want 2"
"$DRFS" check "$REPO" --read-data --cache-dir "$(fresh_cache)" >"$T/check" \
	2>&1 || { cat "$T/check" >&2; fail "check --read-data after the healing"; }
info "ok"
