#!/bin/bash
# drfs mount --from (docs/hosts.md): a new machine takes over an old one's
# data. The documented flow is to mount once with --from and then without
# it; now/ must stay what --from gave it until a snapshot of its own
# lineage exists, however often it is mounted in between:
# - host C mounts with --from B, changes nothing and unmounts (no snapshot:
#   now/ did not change), then mounts without --from: now/ is still B's
#   tree (before, the clean now/ "left another lineage" and came up empty,
#   so the next rsync read everything again and a user saw an empty now/);
# - the same when C already has an older snapshot of its own: now/ stays
#   B's, it does not go back to C's older tree;
# - a snapshot of C's lineage made through another cache is still followed
#   by the clean now/ of the --from cache.
source "$(dirname "$0")/lib.sh"
need_root
[ -e /dev/fuse ] || skip "no /dev/fuse"
make_repo
drfs init "$REPO" >/dev/null

M=$T/mnt
mkdir -p "$T/b" "$T/c-old" "$T/c-new"
echo "B's data" >"$T/b/file"
echo "C's old data" >"$T/c-old/old"
echo "C's newer data" >"$T/c-new/newer"

# mount_host HOST CACHE [OPTS...]
mount_host() {
	local h=$1 c=$2
	shift 2
	CACHE=$T/$c mount_repo "$M" --host "$h" "$@"
}
# now_is DIR WHAT: now/ shows exactly DIR
now_is() {
	diff -r "$1" "$M/now" >&2 || fail "$2: now/ is not $(basename "$1")"
}

mount_host B mb
rsync -a "$T/b/" "$M/now/"
drfs snapshot "$M" --time 2026-06-01T10:00:00Z >/dev/null
umount_repo "$M"

# ---- C takes over B: --from once, then without ---------------------------------
mount_host C mc --from B
now_is "$T/b" "--from B"
umount_repo "$M"
for i in 1 2; do
	mount_host C mc
	now_is "$T/b" "mount $i without --from after --from B"
	umount_repo "$M"
done
[ -z "$("$DRFS" snapshots "$REPO" --cache-dir "$T/cl" --host C --json |
	python3 -c 'import json,sys; print(*json.load(sys.stdin))')" ] ||
	fail "an unchanged now/ was snapshotted as host C"

# ---- a host with an older snapshot of its own ----------------------------------
mount_host D md
rsync -a "$T/c-old/" "$M/now/"
drfs snapshot "$M" --time 2026-05-01T10:00:00Z >/dev/null
umount_repo "$M"
mount_host D md --from B
now_is "$T/b" "D --from B"
umount_repo "$M"
mount_host D md
now_is "$T/b" "D without --from after --from B"
umount_repo "$M"

# ---- a newer snapshot of the lineage made elsewhere is still followed --------------
mount_host D md-other
rsync -a --delete "$T/c-new/" "$M/now/"
drfs snapshot "$M" --time 2026-06-02T10:00:00Z >/dev/null
umount_repo "$M"
mount_host D md
now_is "$T/c-new" "D's newer snapshot made through another cache"
umount_repo "$M"
info "ok"
