#!/bin/bash
# Keep-policies apply per group (docs/hosts.md, docs/retention.md): by
# host and path unless --group-by says otherwise, as restic's forget does.
# - one host, two paths: prune --keep-last 1 keeps the newest snapshot of
#   each path (before, it removed the only snapshot of one of them);
# - a mount's own --keep-last touches only its own group (host and name),
#   never the backups nor another host's snapshots;
# - two hosts (one cache each, --host A / --host B): prune --keep-last 1
#   keeps exactly the newest snapshot of each host and path; --dry-run
#   names the groups; --group-by host and --group-by '' group otherwise;
# - forget --keep-last applies a policy without gc, and --host/--path/--tag
#   limit prune, forget and snapshots to the snapshots they match.
source "$(dirname "$0")/lib.sh"
need_root
[ -e /dev/fuse ] || skip "no /dev/fuse"
make_repo
drfs init "$REPO" >/dev/null

snaps() { "$DRFS" snapshots "$REPO" --cache-dir "$T/c-fresh" --json "$@"; }
count() { python3 -c 'import json, sys; print(len(json.load(sys.stdin)))'; }
# the newest snapshot id of each host and path, computed here
newest_ids() {
	snaps | python3 -c '
import json, sys
newest = {}
for s in json.load(sys.stdin):
    k = (s["host"], s["path"])
    if k not in newest or (s["time"], s["id"]) > (newest[k]["time"], newest[k]["id"]):
        newest[k] = s
print("\n".join(sorted(s["id"] for s in newest.values())))'
}
all_ids() {
	snaps "$@" | python3 -c '
import json, sys
print("\n".join(sorted(s["id"] for s in json.load(sys.stdin))))'
}

mkdir -p "$T/share" "$T/other"
echo "shared doc" >"$T/share/doc"
echo "other data" >"$T/other/data"

# ---- one host, two paths -----------------------------------------------------------
drfs backup "$REPO" "$T/share" --time 2026-05-01T10:00:00Z -q >/dev/null
for h in 11 12 13; do
	echo "$h" >"$T/other/data"
	drfs backup "$REPO" "$T/other" --time "2026-05-01T$h:00:00Z" -q >/dev/null
done
newest_ids >"$T/want"
drfs prune "$REPO" --keep-last 1 >"$T/prune.out" 2>/dev/null ||
	fail "prune --keep-last 1 failed"
all_ids >"$T/got"
diff "$T/want" "$T/got" >&2 ||
	fail "prune --keep-last 1 did not keep the newest snapshot of each path: $(cat "$T/prune.out")"
[ "$(snaps --path "$T/share" | count)" = 1 ] || fail "the only snapshot of $T/share is gone"

# ---- a mount's policy: only its own group ---------------------------------------
M=$T/mnt
before=$(all_ids)
CACHE=$T/mc mount_repo "$M" --keep-last 1
echo one >"$M/now/p1"
drfs snapshot "$M" --time 2026-05-02T01:00:00Z >/dev/null
echo two >"$M/now/p2"
last=$(drfs snapshot "$M" --time 2026-05-02T02:00:00Z)
umount_repo "$M"
after=$(all_ids | grep -vxF -f <(all_ids --path now) || true)
[ "$before" = "$after" ] ||
	fail "the mount's --keep-last 1 touched other groups: $(snaps)"
[ "$(snaps --path now | python3 -c 'import json, sys; print(" ".join(s["folder"] for s in json.load(sys.stdin)))')" = \
	"${last#"$M/snapshots/"}" ] || fail "the mount's own group: $(snaps --path now)"

# ---- two hosts ----------------------------------------------------------------------
on() {
	local h=$1 cmd=$2
	shift 2
	"$DRFS" "$cmd" --cache-dir "$T/cache-$h" --host "$h" "$@"
}
for h in A B; do
	for i in 1 2; do
		echo "$h $i" >"$T/share/doc"
		on "$h" backup "$REPO" "$T/share" --time "2026-05-03T0$i:00:00Z" -q >/dev/null
	done
done
on A backup "$REPO" "$T/other" --time 2026-05-03T02:30:00Z -q >/dev/null
on A backup "$REPO" "$T/other" --time 2026-05-03T03:00:00Z --tag daily -q >/dev/null
# host B's mount, with a policy of its own: A's mount group stays
CACHE=$T/mc-B mount_repo "$M" --host B --keep-last 1
for i in 1 2 3; do
	echo "$i" >"$M/now/n"
	drfs snapshot "$M" --time "2026-05-03T1$i:00:00Z" >/dev/null
done
umount_repo "$M"
[ "$(snaps --host B --path now | count)" = 1 ] || fail "B's mount group: $(snaps --host B --path now)"
[ "$(snaps --path now | count)" = 2 ] || fail "B's mount policy touched another host's mount group"

# listing filters
[ "$(snaps --host A --path "$T/share" | count)" = 2 ] || fail "--host A --path: $(snaps --host A --path "$T/share")"
[ "$(snaps --tag daily | count)" = 1 ] || fail "--tag daily: $(snaps --tag daily)"

groups=$(snaps | python3 -c '
import json, sys
print(len({(s["host"], s["path"]) for s in json.load(sys.stdin)}))')
hosts=$(snaps | python3 -c '
import json, sys
print(len({s["host"] for s in json.load(sys.stdin)}))')
total=$(snaps | count)
info "$total snapshots, $groups host/path groups, $hosts hosts"
keeps() {
	"$DRFS" prune "$REPO" --cache-dir "$T/c-fresh" --keep-last 1 --dry-run \
		"$@" >"$T/dry" 2>/dev/null || fail "prune --dry-run $* failed"
	grep -c 'keep (last)' "$T/dry" || true
}
[ "$(keeps)" = "$groups" ] || { cat "$T/dry" >&2; fail "--dry-run keeps $(keeps), want $groups"; }
grep -qxF "snapshots of host \"A\", path \"$T/share\":" "$T/dry" ||
	{ cat "$T/dry" >&2; fail "--dry-run does not name the groups"; }
[ "$(keeps --group-by host)" = "$hosts" ] || fail "--group-by host: $(cat "$T/dry")"
[ "$(keeps --group-by '')" = 1 ] || fail "--group-by '': $(cat "$T/dry")"
[ "$(keeps --group-by host,paths,tags)" = $((groups + 1)) ] ||
	fail "--group-by host,paths,tags: $(cat "$T/dry")"
expect_clean_failure "--group-by colour" \
	"$DRFS" prune "$REPO" --cache-dir "$T/c-fresh" --keep-last 1 --group-by colour
[ "$(snaps | count)" = "$total" ] || fail "a dry run removed snapshots"

# forget --keep-last 1 of host A's $T/share only (a policy, no gc)
on A forget "$REPO" --keep-last 1 --path "$T/share" >/dev/null 2>&1 ||
	fail "forget --keep-last 1 --host A --path failed"
[ "$(snaps --host A --path "$T/share" | count)" = 1 ] ||
	fail "forget --keep-last 1 --host A: $(snaps --host A)"
[ "$(snaps --host B --path "$T/share" | count)" = 2 ] || fail "forget touched host B"

newest_ids >"$T/want"
"$DRFS" prune "$REPO" --cache-dir "$T/c-fresh" --keep-last 1 >/dev/null 2>&1 ||
	fail "prune --keep-last 1 failed"
all_ids >"$T/got"
diff "$T/want" "$T/got" >&2 ||
	fail "prune --keep-last 1 did not keep exactly the newest of each host and path"
run_nocrash "check after the prunes" "$DRFS" check "$REPO" --cache-dir "$T/c-fresh"
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "check failed"; }
info "ok"
