#!/usr/bin/env bash
# cli_key: drfs key list|add|remove|passwd. A key added opens the
# repository; the key in use and the last key are never removed; passwd
# makes the new passphrase work and the old one fail; drfs killed (-9) in
# the middle of a passwd — at the step between adding and removing, and at
# random moments — always leaves the old or the new passphrase working, and
# the data readable with it.
. "$(dirname "$0")/lib.sh"
# the default scrypt cost (lib.sh lowers it for speed): passwd is killed
# at random moments of its work below
unset DRFS_TEST_SCRYPT_LOG2N

make_repo
export DRFS_PASSWORD=old-pass
drfs init "$REPO" >/dev/null 2>&1 || fail "init failed"
mkdir -p "$T/src"
head -c 100000 /dev/urandom >"$T/src/a"
drfs backup "$REPO" "$T/src" -q >/dev/null || fail "backup failed"

# opens PASS — the repository opens with PASS (and its data reads)
opens() { DRFS_PASSWORD=$1 "$DRFS" snapshots "$REPO" --cache-dir "$T/c-$RANDOM" >/dev/null 2>&1; }
nkeys() { DRFS_PASSWORD=$1 "$DRFS" key list "$REPO" --cache-dir "$CACHE" --json |
	python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
pwfile() { printf '%s\n' "$1" >"$T/pw.$1"; echo "$T/pw.$1"; }

DRFS_PASSWORD=old-pass drfs key list "$REPO" --json >"$T/keys.json" || fail "key list failed"
python3 -c 'import json,sys; k=json.load(open(sys.argv[1])); assert len(k) == 1 and k[0]["current"] and len(k[0]["id"]) == 64, k' \
	"$T/keys.json" || fail "key list: want one key, the current one"
first=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["id"])' "$T/keys.json")

# the last key: never removed
run_nocrash "key remove (last)" drfs key remove "$REPO" "${first:0:8}"
[ "$RC" = 1 ] && grep -q "not removed" "$T/last.err" || fail "the last key was not refused (exit $RC)"
opens old-pass || fail "refusing to remove the last key broke it"

# add: both passphrases open it
drfs key add "$REPO" --new-password-file "$(pwfile second-pass)" 2>/dev/null || fail "key add failed"
[ "$(nkeys old-pass)" = 2 ] || fail "key add: want 2 key files"
opens old-pass && opens second-pass || fail "after key add both passphrases must open the repository"
! opens wrong-pass || fail "a wrong passphrase opened the repository"
info "key add: both passphrases open the repository"

# remove the key in use: refused; the other one: removed
run_nocrash "key remove (current)" drfs key remove "$REPO" "${first:0:10}"
[ "$RC" = 1 ] && opens old-pass || fail "the key in use was removed (exit $RC)"
second=$(DRFS_PASSWORD=old-pass "$DRFS" key list "$REPO" --cache-dir "$CACHE" --json |
	python3 -c 'import json,sys; print([k["id"] for k in json.load(sys.stdin) if not k["current"]][0])')
drfs key remove "$REPO" "${second:0:12}" 2>/dev/null || fail "key remove of the other key failed"
! opens second-pass && opens old-pass || fail "key remove: the removed passphrase still opens, or the kept one not"
info "key remove: never the key in use nor the last; another one goes"

# passwd killed between adding the new key and removing the old one
RC=0
DRFS_TEST_CRASH_AT=key-added "$DRFS" key passwd "$REPO" --cache-dir "$CACHE" \
	--new-password-file "$(pwfile third-pass)" >/dev/null 2>"$T/crash.err" || RC=$?
[ "$RC" = 137 ] || { cat "$T/crash.err" >&2; fail "the crash hook did not fire (exit $RC)"; }
opens old-pass && opens third-pass || fail "passwd killed after adding: want both passphrases working"
info "passwd killed between its steps: old and new passphrase both work"

# passwd: the new one works, the old one does not
DRFS_PASSWORD=third-pass drfs key passwd "$REPO" --new-password-file "$(pwfile fourth-pass)" \
	2>"$T/passwd.err" || { cat "$T/passwd.err" >&2; fail "key passwd failed"; }
opens fourth-pass && ! opens third-pass || fail "passwd: want only the new passphrase working"
[ "$(nkeys fourth-pass)" = 2 ] || fail "passwd: want 2 key files (old-pass's and the new one)"

# kill -9 at random moments of passwds: never no passphrase that works
cur=fourth-pass killed=0
for i in 1 2 3 4 5 6; do
	next=pass-$i
	delay=$(python3 -c "import random; random.seed($SEED + $i); print(round(random.uniform(0.02, 1.2), 2))")
	RC=0
	DRFS_PASSWORD=$cur timeout -s KILL "$delay" "$DRFS" key passwd "$REPO" \
		--cache-dir "$CACHE" --new-password-file "$(pwfile "$next")" \
		>/dev/null 2>&1 || RC=$?
	[ "$RC" = 137 ] && killed=$((killed + 1))
	if opens "$next"; then
		cur=$next
	elif ! opens "$cur"; then
		fail "killed after ${delay}s (exit $RC): neither \"$cur\" nor \"$next\" opens the repository"
	fi
done
[ "$killed" -ge 1 ] || fail "no passwd was killed: the delays are too long for this machine"
info "passwd killed at random moments ($killed of 6 killed): a working passphrase every time (now \"$cur\")"
DRFS_PASSWORD=$cur drfs restore "$REPO" latest "$T/out" -q 2>/dev/null || fail "restore with \"$cur\" failed"
cmp -s "$T/src/a" "$T/out/a" || fail "the data restored with \"$cur\" differ"

# the scrypt cost of new key files: log2n 15 (docs/format.md) from init,
# key add and passwd; 10 with lib.sh's test hook (DRFS_TEST_SCRYPT_LOG2N)
log2n() { # the log2n byte of every key file, sorted
	for k in $(obj_names keys/); do
		obj_get "$k" "$T/kf"
		od -A n -t u1 -j 9 -N 1 "$T/kf" | tr -d ' '
	done | sort | uniq | tr '\n' ' '
}
[ "$(log2n)" = "15 " ] || fail "key files of log2n $(log2n), not 15"
make_repo
[ "$DRFS_TEST_BACKEND" = local ] && REPO=$T/repo-hook
CACHE=$(fresh_cache)
DRFS_TEST_SCRYPT_LOG2N=10 drfs init "$REPO" >/dev/null 2>&1 ||
	fail "init with the hook"
[ "$(log2n)" = "10 " ] || fail "with the hook: key files of log2n $(log2n)"

# a subcommand that is none
run_nocrash "key frob" drfs key frob "$REPO"
[ "$RC" = 2 ] && grep -q 'unknown subcommand "frob"' "$T/last.err" || fail "key frob: exit $RC"
info "ok"
