#!/bin/bash
# A host's newest mount snapshot forgotten and pruned elsewhere
# (docs/hosts.md, "Lineage"): any host sharing the repository can forget
# another's snapshots (drfs forget, rmdir of a day in its mount, a prune
# with --group-by host or --keep-tag), and its prune then deletes their
# data. now/ of host A's cache was clean at that snapshot; mounted again
# it must not stay at a tree whose data is gone:
# - now/ restarts from A's newest remaining snapshot of its lineage: no
#   file of the forgotten one, every file readable;
# - a snapshot taken then passes check --read-data, with this cache and a
#   fresh one (before, now/ stayed at the forgotten tree: reading its new
#   file failed with EIO, and the next snapshot named the deleted blobs,
#   which check reported as missing);
# - with no snapshot of its lineage left, now/ starts empty.
source "$(dirname "$0")/lib.sh"
need_root
[ -e /dev/fuse ] || skip "no /dev/fuse"
make_repo
drfs init "$REPO" >/dev/null

M=$T/mnt
mount_a() { CACHE=$T/mc-A mount_repo "$M" --host A "$@"; }
on_b() { with_cache "$T/c-B" "$@" --host B; }

mkdir -p "$T/s1"
echo "first" >"$T/s1/a"
mount_a
cp -a "$T/s1/a" "$M/now/a"
drfs snapshot "$M" --time 2026-09-01T10:00:00Z >/dev/null
seeded_bytes 7 $((3 << 20)) >"$M/now/big"
drfs snapshot "$M" --time 2026-09-02T10:00:00Z >/dev/null
umount_repo "$M"

# host B forgets A's newest and prunes: the big file's data is deleted
on_b forget 2026-09-02/100000
[ "$RC" = 0 ] || fail "forget on B: $(cat "$T/last.err")"
on_b prune --keep-last 1 --max-unused 0%
[ "$RC" = 0 ] || fail "prune on B: $(cat "$T/last.err")"

mount_a
[ ! -e "$M/now/big" ] ||
	fail "now/ stayed at the forgotten snapshot (its big file: $(cat "$M/now/big" 2>&1 >/dev/null | head -c 200))"
diff -r "$T/s1" "$M/now" >&2 || fail "now/ is not A's newest remaining snapshot"
echo "third" >"$M/now/c"
s3=$(drfs snapshot "$M")
umount_repo "$M"
with_cache "$T/mc-A" check --read-data
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "check after ${s3##*/snapshots/}"; }
with_cache "$T/c-fresh" check --read-data
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "check (fresh cache)"; }

# ---- nothing of the lineage left: empty -------------------------------------------
on_b forget "${s3#"$M/snapshots/"}" 2026-09-01/100000
[ "$RC" = 0 ] || fail "forget on B: $(cat "$T/last.err")"
on_b prune --keep-last 1 --max-unused 0% --group-by ''
[ "$RC" = 0 ] || fail "prune on B (every snapshot gone): exit $RC: $(cat "$T/last.err")"
mount_a
[ -z "$(ls -A "$M/now")" ] || fail "no snapshot of A left, but now/ shows: $(ls "$M/now")"
umount_repo "$M"
info "ok"
