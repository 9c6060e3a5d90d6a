#!/bin/bash
# Rollback detection and the mount (docs/rollback.md): rmdir of a snapshot
# folder and of a day folder, and the mount's policy (--keep-last after a
# snapshot), each leave a forget record before deleting, so neither a cache
# that saw the snapshots (another host) nor an empty one reports them; a
# snapshot deleted behind drfs's back meanwhile is still reported.
source "$(dirname "$0")/lib.sh"
need_root
make_repo
drfs init "$REPO" >/dev/null

MNT=$T/mnt
CLI=$T/cli-cache # the CLI's cache while the mount uses $CACHE
W=$T/witness     # another host's cache that saw every snapshot
mkdir -p "$T/src"
for d in 01 02 03 04 05 06; do
	echo "day $d" >"$T/src/file"
	"$DRFS" backup "$REPO" "$T/src" --cache-dir "$CLI" \
		--time "2026-04-${d}T12:00:00Z" --quiet >/dev/null
done

# removed_cleanly WHAT RECORDS_BEFORE — a new forget record, nothing reported
removed_cleanly() {
	local now
	now=$(obj_names forgotten/ | wc -l)
	[ "$now" -gt "$2" ] || fail "$1: no forget record written ($now records)"
	with_cache "$W" check
	no_removal_reported "$1: check (cache that saw the snapshots)"
	with_cache "$(mktemp -d "$T/fresh.XXXXXX")" check
	no_removal_reported "$1: check (empty cache)"
}
count() { "$DRFS" snapshots "$REPO" --cache-dir "$W" 2>/dev/null | tail -n +2 | wc -l; }

with_cache "$W" snapshots
mount_repo "$MNT" --keep-last 2
S=$MNT/snapshots

recs=$(obj_names forgotten/ | wc -l)
rmdir "$S/2026-04-01/120000" || fail "rmdir of a snapshot folder failed"
removed_cleanly "rmdir of a snapshot" "$recs"
[ "$(count)" = 5 ] || fail "after rmdir: $(count) snapshots"

recs=$(obj_names forgotten/ | wc -l)
rmdir "$S/2026-04-02" || fail "rmdir of a day folder failed"
removed_cleanly "rmdir of a day" "$recs"
[ "$(count)" = 4 ] || fail "after rmdir of a day: $(count) snapshots"

# the policy after each snapshot of now/: keeps the newest two of the
# mount's own group (its host and name, docs/hosts.md); the four backups
# left are another group
recs=$(obj_names forgotten/ | wc -l)
for i in 1 2 3; do
	echo "written through the mount $i" >"$MNT/now/new"
	"$DRFS" snapshot "$MNT" >/dev/null || fail "drfs snapshot failed"
done
[ "$(count)" = 6 ] || fail "after the policy: $(count) snapshots"
removed_cleanly "the mount's policy" "$recs"

# meanwhile, behind drfs's back: still noticed. The newest backup left
# (2026-04-06) is the newest of its host and path (the mount's snapshots
# have path "now"): a rollback, check fails
with_cache "$W" snapshots
old=$("$DRFS" snapshots "$REPO" --cache-dir "$W" --json 2>/dev/null |
	python3 -c 'import json, sys
print([s for s in json.load(sys.stdin) if s["path"] != "now"][-1]["id"])')
obj_del "snapshots/$old"
with_cache "$W" check
[ "$RC" != 0 ] || fail "check passed after a deletion behind drfs's back"
grep -q "$old.*vanished without a forget record.*rolled back" "$T/last.err" ||
	fail "a deletion behind drfs's back went unreported: $(cat "$T/last.err")"
umount_repo "$MNT"
info "ok"
