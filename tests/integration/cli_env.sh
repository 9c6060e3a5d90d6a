#!/usr/bin/env bash
# cli_env: DRFS_REPOSITORY stands for a left-out REPO; DRFS_PASSWORD_COMMAND
# gives the passphrase (run by /bin/sh -c; its text and the passphrase never
# in output, nor in the argv or environment of a running mount); the hint
# for a missing passphrase names DRFS_PASSWORD_FILE and
# DRFS_PASSWORD_COMMAND; --time takes any RFC 3339 offset; init warns that
# a lost passphrase means lost backups.
. "$(dirname "$0")/lib.sh"

make_repo
drfs init "$REPO" >/dev/null 2>"$T/init.err" || { cat "$T/init.err" >&2; fail "init failed"; }
grep -q "^drfs: init: keep the passphrase safe.*cannot be recovered" "$T/init.err" ||
	{ cat "$T/init.err" >&2; fail "init does not warn that a lost passphrase means lost backups"; }
drfs init "$T/plain" --no-encryption >/dev/null 2>"$T/init.err" || fail "init --no-encryption failed"
! grep -q passphrase "$T/init.err" || fail "init --no-encryption warns about a passphrase"
info "init warns about the passphrase (not without encryption)"

mkdir -p "$T/src/d"
echo one >"$T/src/a"
echo two >"$T/src/d/b"

# ---- DRFS_REPOSITORY ----
export DRFS_REPOSITORY=$REPO
drfs backup "$T/src" -q >"$T/folder" || fail "backup DIR with DRFS_REPOSITORY failed"
drfs snapshots --json >"$T/snaps.json" || fail "snapshots with DRFS_REPOSITORY failed"
python3 -c 'import json,sys; v=json.load(open(sys.argv[1])); assert len(v)==1, v' "$T/snaps.json" ||
	fail "want one snapshot"
drfs restore latest "$T/out" -q || fail "restore latest DIR with DRFS_REPOSITORY failed"
diff -r "$T/src" "$T/out" >&2 || fail "restore with DRFS_REPOSITORY: wrong tree"
drfs check -q || fail "check with DRFS_REPOSITORY failed"
drfs forget --keep-last 5 -q || fail "forget --keep-last with DRFS_REPOSITORY failed"
mkdir -p "$T/drill"
DRFS_DRILL_DIR=$T/drill drfs drill latest -q >/dev/null ||
	fail "drill latest with DRFS_REPOSITORY failed"
# a REPO given wins
DRFS_REPOSITORY=$T/nonexistent drfs snapshots "$REPO" >/dev/null ||
	fail "an explicit REPO did not win over DRFS_REPOSITORY"
unset DRFS_REPOSITORY
run_nocrash "no REPO, no DRFS_REPOSITORY" drfs snapshots
[ "$RC" = 2 ] && grep -q 'drfs: snapshots: an argument is missing' "$T/last.err" ||
	{ cat "$T/last.err" >&2; fail "snapshots without REPO: exit $RC"; }
info "DRFS_REPOSITORY stands for REPO"

# ---- DRFS_PASSWORD_COMMAND ----
PASS=$DRFS_PASSWORD
printf '%s\n' "$PASS" >"$T/pw"
chmod 600 "$T/pw"
unset DRFS_PASSWORD
export DRFS_PASSWORD_COMMAND="cat '$T/pw'"
run_nocrash "DRFS_PASSWORD_COMMAND" drfs snapshots "$REPO"
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "DRFS_PASSWORD_COMMAND: exit $RC"; }
grep -q "$(head -n 1 "$T/folder")" "$T/last.out" || fail "DRFS_PASSWORD_COMMAND: no listing"
! grep -qF "$PASS" "$T/last.out" "$T/last.err" || fail "the passphrase was printed"
# its output is read like a password file: the first line only
export DRFS_PASSWORD_COMMAND="cat '$T/pw'; echo second line"
run_nocrash "two lines" drfs snapshots "$REPO"
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "DRFS_PASSWORD_COMMAND (two lines): exit $RC"; }
# wrong passphrase
export DRFS_PASSWORD_COMMAND="echo not-the-passphrase"
expect_clean_failure "a wrong passphrase" drfs snapshots "$REPO"
grep -q "wrong passphrase" "$T/last.err" || fail "wrong passphrase not said"
# a failing command: named, its text (which may hold a secret) not shown
export DRFS_PASSWORD_COMMAND="echo TOPSECRETTOKEN >/dev/null; exit 3"
expect_clean_failure "a failing command" drfs snapshots "$REPO"
grep -q "DRFS_PASSWORD_COMMAND.*exit status 3" "$T/last.err" ||
	fail "a failing passphrase command is not named"
! grep -q TOPSECRETTOKEN "$T/last.err" "$T/last.out" || fail "the command's text was printed"
# DRFS_PASSWORD_FILE comes first: the command is not run
export DRFS_PASSWORD_COMMAND="touch '$T/ran'; echo wrong"
DRFS_PASSWORD_FILE=$T/pw drfs snapshots "$REPO" >/dev/null ||
	fail "DRFS_PASSWORD_FILE with a DRFS_PASSWORD_COMMAND set failed"
[ ! -e "$T/ran" ] || fail "DRFS_PASSWORD_COMMAND ran though DRFS_PASSWORD_FILE is set"
# none at all (no terminal): the hint names every way
unset DRFS_PASSWORD_COMMAND
run_nocrash "no passphrase" setsid -w "$DRFS" snapshots "$REPO" --cache-dir "$CACHE" </dev/null
[ "$RC" = 1 ] || { cat "$T/last.err" >&2; fail "no passphrase: exit $RC, want 1"; }
for w in DRFS_PASSWORD_FILE DRFS_PASSWORD_COMMAND --password-file; do
	grep -q -- "$w" "$T/last.err" ||
		{ cat "$T/last.err" >&2; fail "the missing-passphrase hint does not name $w"; }
done
info "DRFS_PASSWORD_COMMAND: read, first line, failures named, never shown"

# a mount: the passphrase in neither its argv nor its environment
if fuse_ok; then
	(
		export DRFS_PASSWORD_COMMAND="cat '$T/pw'"
		mount_repo "$T/mnt"
	) || fail "mount with DRFS_PASSWORD_COMMAND failed"
	pid=$(daemon_pid "$T/mnt") || fail "no daemon pid"
	[ -r "/proc/$pid/cmdline" ] || fail "no /proc/$pid/cmdline"
	! tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qF "$PASS" ||
		fail "the passphrase is in the mount's argv"
	! tr '\0' '\n' <"/proc/$pid/environ" | grep -qF "$PASS" ||
		fail "the passphrase is in the mount's environment"
	! grep -rqF "$PASS" "$T/mount.out" "$T/mount.err" "$CACHE" 2>/dev/null ||
		fail "the passphrase is in the mount's output or cache"
	ls "$T/mnt" >/dev/null || fail "the mount does not list"
	umount_repo "$T/mnt"
	info "mount: the passphrase in neither argv nor environment"
else
	info "no FUSE: mount not tried"
fi
export DRFS_PASSWORD=$PASS

# ---- --time with an RFC 3339 offset ----
drfs backup "$REPO" "$T/src" -q --time 2026-11-21T14:30:05+02:00 >"$T/f1" ||
	fail "backup --time with +02:00 refused"
drfs backup "$REPO" "$T/src" -q --time 2026-11-21T07:31:05.5-05:30 >"$T/f2" ||
	fail "backup --time with -05:30 refused"
[ "$(cat "$T/f1")" = 2026-11-21/123005 ] || fail "+02:00: folder $(cat "$T/f1"), want 2026-11-21/123005"
[ "$(cat "$T/f2")" = 2026-11-21/130105 ] || fail "-05:30: folder $(cat "$T/f2"), want 2026-11-21/130105"
drfs snapshots "$REPO" --json >"$T/snaps.json"
python3 - "$T/snaps.json" <<'PY' || fail "snapshot times are not the instants given"
import json, sys
t = {s["folder"]: s["time"] for s in json.load(open(sys.argv[1]))}
assert t["2026-11-21/123005"] == "2026-11-21T12:30:05.000000000Z", t
assert t["2026-11-21/130105"] == "2026-11-21T13:01:05.500000000Z", t
PY
for bad in 2026-11-21T14:30:05+2:00 2026-11-21T14:30:05+0200 2026-11-21T14:30:05+24:00 2026-11-21+02:00; do
	run_nocrash "--time $bad" drfs backup "$REPO" "$T/src" --time "$bad"
	[ "$RC" = 2 ] && grep -q -- "--time" "$T/last.err" ||
		{ cat "$T/last.err" >&2; fail "--time $bad: exit $RC, want 2 naming --time"; }
done
info "--time: RFC 3339 offsets give the right instant; malformed refused"
info "ok"
