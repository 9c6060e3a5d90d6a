#!/usr/bin/env bash
# cli_snapshot_skip: drfs snapshot MOUNTPOINT --skip-if-unchanged writes no
# snapshot when now/ has not changed since the last one (it prints that
# one's folder and says why), and one as soon as anything changed (content,
# a chmod); without the option an unchanged now/ still gets a snapshot.
. "$(dirname "$0")/lib.sh"
fuse_ok || skip "needs root and FUSE"

make_repo
drfs init "$REPO" >/dev/null 2>&1 || fail "init failed"
M=$T/mnt
mount_repo "$M" --no-snapshot-on-unmount

nsnap() { drfs snapshots "$REPO" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }

# an empty now/ and no snapshot yet: nothing to skip against
run_nocrash "snapshot --skip-if-unchanged (empty)" "$DRFS" snapshot "$M" --skip-if-unchanged
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "first snapshot --skip-if-unchanged: exit $RC"; }

echo one >"$M/now/a"
"$DRFS" snapshot "$M" --time 2026-11-21T10:00:00Z >"$T/f1" || fail "snapshot 1 failed"
[ "$(cat "$T/f1")" = "$M/snapshots/2026-11-21/100000" ] || fail "snapshot 1: $(cat "$T/f1")"
n1=$(nsnap)

run_nocrash "snapshot --skip-if-unchanged" "$DRFS" snapshot "$M" --skip-if-unchanged \
	--time 2026-11-21T11:00:00Z
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "--skip-if-unchanged: exit $RC"; }
[ "$(cat "$T/last.out")" = "$M/snapshots/2026-11-21/100000" ] ||
	fail "--skip-if-unchanged printed \"$(cat "$T/last.out")\", want the last snapshot's folder"
grep -q "nothing changed since $M/snapshots/2026-11-21/100000" "$T/last.err" ||
	{ cat "$T/last.err" >&2; fail "--skip-if-unchanged does not say why no snapshot"; }
[ "$(nsnap)" = "$n1" ] || fail "--skip-if-unchanged wrote a snapshot of an unchanged now/"
[ ! -e "$M/snapshots/2026-11-21/110000" ] || fail "a folder for the skipped snapshot"
info "unchanged now/: no snapshot"

# without the option: a snapshot though nothing changed
"$DRFS" snapshot "$M" --time 2026-11-21T12:00:00Z >/dev/null || fail "snapshot 2 failed"
[ "$(nsnap)" = $((n1 + 1)) ] || fail "an unchanged snapshot without --skip-if-unchanged was skipped"

# a change of content, then of metadata alone: a snapshot each
echo two >"$M/now/a"
"$DRFS" snapshot "$M" --skip-if-unchanged --time 2026-11-21T13:00:00Z >"$T/f3" ||
	fail "snapshot 3 failed"
[ "$(cat "$T/f3")" = "$M/snapshots/2026-11-21/130000" ] && [ "$(nsnap)" = $((n1 + 2)) ] ||
	fail "changed content: no snapshot with --skip-if-unchanged ($(cat "$T/f3"))"
chmod 0600 "$M/now/a"
"$DRFS" snapshot "$M" --skip-if-unchanged --time 2026-11-21T14:00:00Z >"$T/f4" ||
	fail "snapshot 4 failed"
[ "$(cat "$T/f4")" = "$M/snapshots/2026-11-21/140000" ] && [ "$(nsnap)" = $((n1 + 3)) ] ||
	fail "a chmod: no snapshot with --skip-if-unchanged ($(cat "$T/f4"))"
[ "$(cat "$M/snapshots/2026-11-21/140000/a")" = two ] || fail "snapshot 4 lacks the new content"
info "changes (content, chmod): a snapshot each"
umount_repo "$M"
info "ok"
