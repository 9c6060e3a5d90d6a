#!/usr/bin/env bash
# cli_skip_unchanged: drfs backup still writes a snapshot when nothing
# changed (proof of a backup at that time), unless --skip-if-unchanged:
# then no snapshot is written and the existing one's folder is printed. A
# change of content or of metadata alone (chmod), or another host, makes a
# new one.
. "$(dirname "$0")/lib.sh"

make_repo
drfs init "$REPO" >/dev/null 2>&1 || fail "init failed"
mkdir -p "$T/src/d"
echo one >"$T/src/a"
echo two >"$T/src/d/b"

nsnap() { drfs snapshots "$REPO" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }

drfs backup "$REPO" "$T/src" -q --time 2026-11-21T10:00:00Z >"$T/f1" || fail "backup 1 failed"
[ "$(cat "$T/f1")" = 2026-11-21/100000 ] || fail "backup 1: folder $(cat "$T/f1")"

# without the option: a snapshot though nothing changed
drfs backup "$REPO" "$T/src" -q --time 2026-11-21T11:00:00Z >"$T/f2" || fail "backup 2 failed"
[ "$(nsnap)" = 2 ] || fail "an unchanged backup without --skip-if-unchanged made no snapshot"

# with it: none, the existing folder printed
run_nocrash "skip-if-unchanged" drfs backup "$REPO" "$T/src" --skip-if-unchanged \
	--time 2026-11-21T12:00:00Z
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "--skip-if-unchanged: exit $RC"; }
[ "$(cat "$T/last.out")" = 2026-11-21/110000 ] ||
	fail "--skip-if-unchanged printed \"$(cat "$T/last.out")\", want the newest snapshot's folder"
grep -q "nothing changed since snapshot 2026-11-21/110000" "$T/last.err" ||
	{ cat "$T/last.err" >&2; fail "--skip-if-unchanged does not say why no snapshot"; }
[ "$(nsnap)" = 2 ] || fail "--skip-if-unchanged wrote a snapshot of an unchanged directory"
info "unchanged: no snapshot with --skip-if-unchanged, one without"

# content changed
echo three >"$T/src/d/b"
drfs backup "$REPO" "$T/src" -q --skip-if-unchanged --time 2026-11-21T13:00:00Z >"$T/f3" ||
	fail "backup 3 failed"
[ "$(cat "$T/f3")" = 2026-11-21/130000 ] && [ "$(nsnap)" = 3 ] ||
	fail "a changed file: no new snapshot with --skip-if-unchanged"
# metadata alone
chmod 0640 "$T/src/a"
drfs backup "$REPO" "$T/src" -q --skip-if-unchanged --time 2026-11-21T14:00:00Z >"$T/f4" ||
	fail "backup 4 failed"
[ "$(cat "$T/f4")" = 2026-11-21/140000 ] && [ "$(nsnap)" = 4 ] ||
	fail "a chmod: no new snapshot with --skip-if-unchanged"
# another host has no snapshot of this directory yet
drfs backup "$REPO" "$T/src" -q --skip-if-unchanged --host otherhost \
	--time 2026-11-21T15:00:00Z >"$T/f5" || fail "backup 5 failed"
[ "$(nsnap)" = 5 ] || fail "another host's first backup was skipped"
# and the newest of this host is the one compared: unchanged again
drfs backup "$REPO" "$T/src" -q --skip-if-unchanged --time 2026-11-21T16:00:00Z >"$T/f6" ||
	fail "backup 6 failed"
[ "$(cat "$T/f6")" = 2026-11-21/140000 ] && [ "$(nsnap)" = 5 ] ||
	fail "unchanged since this host's newest: $(cat "$T/f6"), $(nsnap) snapshots"
info "changes (content, chmod, another host) make new snapshots"
info "ok"
