#!/bin/bash
# Lineage (docs/hosts.md): now/ of a mount starts from, and follows, the
# newest snapshot of its own host and name, never another host's or a
# backup's of some directory. Two hosts sharing a repository are simulated
# by one cache directory each and --host A / --host B.
# - a fresh mount whose lineage has no snapshot starts empty, although a
#   backup of another tree (with a file of the same size and mtime) is the
#   newest snapshot: `rsync -a --delete hostA/ now/` then never carries
#   that tree's file into the snapshot (before, now/ started from the
#   newest snapshot and rsync's quick check kept the other file);
# - each host's fresh mount (new cache) starts from its own newest
#   snapshot, latest points to it, and rsync keeps the other host's files
#   out of its snapshot; a clean now/ started from another lineage (an
#   older drfs did that) leaves it;
# - --from HOST starts from another host's lineage, --from SNAPSHOT from a
#   snapshot; an unknown one is refused; --from on a now/ with unsaved
#   changes is refused;
# - restore latest means this host's latest; --host chooses another.
source "$(dirname "$0")/lib.sh"
need_root
[ -e /dev/fuse ] || skip "no /dev/fuse"
make_repo
drfs init "$REPO" >/dev/null

# the two hosts' trees share a file of the same size and mtime
mkdir -p "$T/hostA/etc" "$T/hostB/etc"
echo "setting = A" >"$T/hostA/etc/common.conf"
echo "setting = B" >"$T/hostB/etc/common.conf"
touch -d 2026-01-01T00:00:00Z "$T/hostA/etc/common.conf" \
	"$T/hostB/etc/common.conf"
echo "only on A" >"$T/hostA/a-only"
echo "only on B" >"$T/hostB/b-only"
M=$T/mnt

# snap_of MNT [OPTS]: drfs snapshot, print the folder (DAY/TIME)
snap_of() {
	local s
	s=$(drfs snapshot "$@")
	echo "${s#"$1/snapshots/"}"
}

# ---- a backup of another tree is not now/'s lineage ----------------------------
drfs backup "$REPO" "$T/hostB" --time 2026-03-05T07:00:00Z -q >/dev/null
CACHE=$T/mc0 mount_repo "$M"
[ -z "$(ls -A "$M/now")" ] ||
	fail "a fresh now/ shows another lineage's tree: $(ls "$M/now")"
rsync -a --delete "$T/hostA/" "$M/now/"
s0=$(snap_of "$M" --time 2026-03-05T07:30:00Z)
umount_repo "$M"
restored_is "$s0" "$T/hostA" "$T/c-fresh"

# ---- two hosts, fresh caches ----------------------------------------------------
# mount_host HOST [OPTS...]: mount as HOST with the cache $T/mc-HOST
mount_host() {
	local h=$1
	shift
	CACHE=$T/mc-$h mount_repo "$M" --host "$h" "$@"
}
mount_host A
[ -z "$(ls -A "$M/now")" ] || fail "host A's first now/ is not empty: $(ls "$M/now")"
rsync -a --delete "$T/hostA/" "$M/now/"
sa=$(snap_of "$M" --time 2026-03-05T08:00:00Z)
umount_repo "$M"
mount_host B
[ -z "$(ls -A "$M/now")" ] || fail "host B's first now/ is not empty: $(ls "$M/now")"
rsync -a --delete "$T/hostB/" "$M/now/"
sb=$(snap_of "$M" --time 2026-03-05T09:00:00Z) # B's is the newest
umount_repo "$M"
info "host A: $sa, host B: $sb"

rm -rf "$T/mc-A" "$T/mc-B" # new machines
mount_host A
[ "$(readlink "$M/latest")" = "snapshots/$sa" ] ||
	fail "host A: latest -> $(readlink "$M/latest"), want snapshots/$sa"
diff -r "$T/hostA" "$M/now" >&2 || fail "host A's fresh now/ is not A's snapshot"
echo "new on A" >"$T/hostA/a-new"
rsync -a --delete "$T/hostA/" "$M/now/"
sa2=$(snap_of "$M" --time 2026-03-05T10:00:00Z)
umount_repo "$M"
restored_is "$sa2" "$T/hostA" "$T/c-fresh"
mount_host B
[ "$(readlink "$M/latest")" = "snapshots/$sb" ] ||
	fail "host B: latest -> $(readlink "$M/latest"), want snapshots/$sb"
diff -r "$T/hostB" "$M/now" >&2 || fail "host B's fresh now/ is not B's snapshot"
umount_repo "$M"

# a clean now/ of another lineage (as an older drfs left a cache) leaves it
# for its own: the cache of host A mounted as host B
CACHE=$T/mc-A mount_repo "$M" --host B
diff -r "$T/hostB" "$M/now" >&2 || fail "host A's clean cache mounted as B: now/ is not B's"
umount_repo "$M"

# ---- --from ---------------------------------------------------------------------
mount_host C --from B
diff -r "$T/hostB" "$M/now" >&2 || fail "--from B: now/ is not B's snapshot"
[ ! -e "$M/latest" ] ||
	fail "host C has no snapshot, but latest -> $(readlink "$M/latest")"
echo "C's change" >"$M/now/c-change"
umount_repo "$M" # snapshots now/ as host C
rm -rf "$T/mc-D"
mount_host D --from "$sa" --no-snapshot-on-unmount
[ -e "$M/now/a-only" ] && [ ! -e "$M/now/a-new" ] ||
	fail "--from $sa: now/ is not that snapshot"
echo "unsaved" >"$M/now/unsaved"
umount_repo "$M"
expect_clean_failure "--from over unsaved changes" \
	"$DRFS" mount "$REPO" "$M" --cache-dir "$T/mc-D" --host D --from B
grep -q 'changes that no snapshot holds' "$T/last.err" ||
	fail "--from over unsaved changes: $(cat "$T/last.err")"
mountpoint -q "$M" && fail "mounted although --from was refused"
expect_clean_failure "--from an unknown host" \
	"$DRFS" mount "$REPO" "$M" --cache-dir "$T/mc-E" --host E --from nosuchhost
grep -q 'no such snapshot or host' "$T/last.err" ||
	fail "--from nosuchhost: $(cat "$T/last.err")"

# ---- restore latest: this host's --------------------------------------------------
for h in A B; do
	rm -rf "$T/rl"
	"$DRFS" restore "$REPO" latest "$T/rl" --cache-dir "$T/c-fresh" \
		--host "$h" -q
	diff -r "$T/host$h" "$T/rl" >&2 || fail "restore latest --host $h"
done
expect_clean_failure "restore latest of a host without snapshots" \
	"$DRFS" restore "$REPO" latest "$T/rz" --cache-dir "$T/c-fresh" --host Z
grep -q 'no snapshot of host "Z"' "$T/last.err" ||
	fail "restore latest --host Z: $(cat "$T/last.err")"
info "ok"
