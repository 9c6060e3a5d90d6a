#!/bin/bash
# Restore never touches anything outside its target, whatever the target
# already holds and whatever the repository says:
#  1. the target holds doc -> an outside directory where the snapshot has a
#     directory doc/ (mode 0777) with evil.txt: a conflict, named; nothing
#     written or chmod'ed outside; everything else restored; exit 3;
#     --overwrite replace removes the symlink and restores doc/ inside;
#  2. history: snapshot 1 has doc -> outside, snapshot 2 has
#     doc/authorized_keys/ as a real directory; restoring 1 then 2 into the
#     same target writes nothing outside;
#  3. a hard-link group whose first name is a symlink to an outside file in
#     the target: the file is not written, the other name is not linked to
#     the symlink;
#  4. a crafted snapshot (tests/tools/drfs-craft) with names "", ".", "..",
#     "a/b", "../x", "b\0c" and a symlink target pointing outside: restore
#     and drill refuse each by name, restore the rest, exit 3;
#  5. a concurrent writer in the target swaps the directories restore is
#     filling for symlinks to an outside directory, as fast as it can:
#     nothing ever lands outside.
# Fails on a build that follows the symlinks or stops at the bad names.
source "$(dirname "$0")/lib.sh"
make_repo
CRAFT=${DRFS_CRAFT:-$DRFS_BUILD/tests/drfs-craft}
[ -x "$CRAFT" ] || fail "drfs-craft not built ($CRAFT)"

drfs init "$REPO" >/dev/null

# listing of a directory with everything stat says, to compare before/after
snapshot_of() {
	stat -c '%n %a %s %Y %i %h' "$1"
	find "$1" -mindepth 1 -printf '%P %m %s %T@ %i %n %y %l\n' | sort
}
unchanged() {
	snapshot_of "$1" >"$T/after.lst"
	diff "$2" "$T/after.lst" >&2 || fail "$3: $1 changed outside the target"
}
# restore3 WHAT SNAPSHOT DIR — drfs restore must finish with exit 3
restore3() {
	run_nocrash "$1" drfs restore "$REPO" "$2" "$3"
	[ "$RC" = 3 ] || { cat "$T/last.err" >&2; fail "$1: exit $RC, want 3"; }
}
# named PATH TEXT — stderr names "...PATH" with TEXT
named() {
	grep -F "$1\"" "$T/last.err" | grep -q "$2" ||
		{ cat "$T/last.err" >&2; fail "\"$1\" is not named with \"$2\""; }
}

# ---- 1. a symlink in the target where a directory goes ------------------
mkdir -p "$T/src/doc" "$T/src/other" "$T/outside"
echo evil >"$T/src/doc/evil.txt"
echo fine >"$T/src/a.txt"
echo also >"$T/src/other/b.txt"
chmod 0777 "$T/src/doc"
echo private >"$T/outside/keep"
chmod 0700 "$T/outside"
snap1=$(drfs backup "$REPO" "$T/src" -q | tail -n 1)
snapshot_of "$T/outside" >"$T/outside.lst"

mkdir "$T/t1"
ln -s "$T/outside" "$T/t1/doc"
restore3 "restore into a target with doc -> outside" "$snap1" "$T/t1"
named t1/doc "a symlink is in the way of a directory"
unchanged "$T/outside" "$T/outside.lst" "case 1"
[ -L "$T/t1/doc" ] || fail "the symlink doc in the target was not left as it was"
[ "$(cat "$T/t1/a.txt")" = fine ] && [ "$(cat "$T/t1/other/b.txt")" = also ] ||
	fail "the rest of the snapshot was not restored"
info "1: conflict named, outside unchanged: $(grep -F 't1/doc' "$T/last.err")"

# --overwrite replace: the symlink is removed (not followed), doc/ restored
run_nocrash "restore --overwrite replace" \
	drfs restore "$REPO" "$snap1" "$T/t1" --overwrite replace
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "replace: exit $RC, want 0"; }
unchanged "$T/outside" "$T/outside.lst" "case 1, replace"
[ -d "$T/t1/doc" ] && [ ! -L "$T/t1/doc" ] &&
	[ "$(cat "$T/t1/doc/evil.txt")" = evil ] &&
	[ "$(stat -c %a "$T/t1/doc")" = 777 ] ||
	fail "replace did not restore doc/ inside the target"

# ---- 2. history: symlink in snapshot 1, directory in snapshot 2 ---------
mkdir -p "$T/h1" "$T/h2/doc/authorized_keys" "$T/outside2"
ln -s "$T/outside2" "$T/h1/doc"
echo one >"$T/h1/x"
echo 'ssh-ed25519 AAAA attacker' >"$T/h2/doc/authorized_keys/key"
echo two >"$T/h2/x"
echo mine >"$T/outside2/keep"
hs1=$(drfs backup "$REPO" "$T/h1" -q | tail -n 1)
hs2=$(drfs backup "$REPO" "$T/h2" -q | tail -n 1)
snapshot_of "$T/outside2" >"$T/outside2.lst"
drfs restore "$REPO" "$hs1" "$T/t2" -q
[ -L "$T/t2/doc" ] || fail "snapshot 1 did not restore doc as a symlink"
restore3 "restore of snapshot 2 over snapshot 1" "$hs2" "$T/t2"
named t2/doc "a symlink is in the way of a directory"
unchanged "$T/outside2" "$T/outside2.lst" "case 2"
[ "$(cat "$T/t2/x")" = two ] || fail "case 2: x not restored from snapshot 2"
info "2: $(grep -F 't2/doc' "$T/last.err")"

# ---- 3. a hard-link group whose first name is a symlink in the target ---
mkdir -p "$T/l/in" "$T/outside3"
echo data >"$T/l/in/a"
ln "$T/l/in/a" "$T/l/in/b"
echo secret >"$T/outside3/secret"
ls1=$(drfs backup "$REPO" "$T/l" -q | tail -n 1)
snapshot_of "$T/outside3" >"$T/outside3.lst"
mkdir -p "$T/t3/in"
ln -s "$T/outside3/secret" "$T/t3/in/a"
restore3 "restore of a hard link over a symlink" "$ls1" "$T/t3"
unchanged "$T/outside3" "$T/outside3.lst" "case 3"
[ -L "$T/t3/in/a" ] || fail "case 3: the symlink a was not left as it was"
[ ! -L "$T/t3/in/b" ] || fail "case 3: b was hard-linked to the symlink a"
named t3/in/b "not linked"
info "3: $(grep -F 't3/in/b' "$T/last.err")"

# ---- 4. hostile names in the repository ----------------------------------
mkdir -p "$T/outside4"
echo keep >"$T/outside4/keep"
"$CRAFT" "$REPO" --cache-dir "$CACHE" >"$T/craft.id" <<EOF
file a first
file %E empty
file . dot
file .. dotdot
dir a%2fb
  file x inside
end
file ..%2fescaped up
file b%00c nul
dir sub
  file %2e%2e dotdot
  file ok fine
  symlink out $T/outside4
end
file zz last
EOF
cid=$(cat "$T/craft.id")
mkdir "$T/w"
restore3 "restore of hostile names" "$cid" "$T/w/t4"
for q in '""' '"."' '".."' '"a/b"' '"../escaped"' '"b\x00c"'; do
	grep -F "refused an entry named $q" "$T/last.err" | grep -qF 't4"' ||
		{ cat "$T/last.err" >&2; fail "restore did not refuse $q by name"; }
done
grep -F 't4/sub": refused an entry named ".."' "$T/last.err" >/dev/null ||
	fail "restore did not refuse sub/.. by name"
[ "$(grep -c refused "$T/last.err")" = 7 ] ||
	{ cat "$T/last.err" >&2; fail "want exactly 7 refusals"; }
[ "$(cat "$T/w/t4/a")" = first ] && [ "$(cat "$T/w/t4/zz")" = last ] &&
	[ "$(cat "$T/w/t4/sub/ok")" = fine ] &&
	[ "$(readlink "$T/w/t4/sub/out")" = "$T/outside4" ] ||
	fail "the valid entries were not all restored"
[ "$(ls -A "$T/w")" = t4 ] || fail "something was written next to the target: $(ls -A "$T/w")"
[ "$(ls -A "$T/w/t4" | sort | tr '\n' ' ')" = "a sub zz " ] ||
	fail "the target holds $(ls -A "$T/w/t4")"
[ "$(ls -A "$T/outside4")" = keep ] || fail "outside4 changed"
! [ -e "$T/escaped" ] && ! [ -e "$T/w/escaped" ] && ! [ -e "$T/x" ] ||
	fail "something was written outside the target"
info "4: $(grep -c refused "$T/last.err") refusals, the rest restored"

run_nocrash "drill of hostile names" drfs drill "$REPO" "$cid"
[ "$RC" = 3 ] || { cat "$T/last.out" "$T/last.err" >&2; fail "drill exit $RC, want 3"; }
[ "$(grep -c 'refused an entry named' "$T/last.err")" = 7 ] ||
	{ cat "$T/last.err" >&2; fail "drill did not refuse the 7 names"; }
grep -q '^verified: *3 of 3 files' "$T/last.out" ||
	{ cat "$T/last.out" >&2; fail "drill did not verify the 3 valid files"; }
! grep -q 'drill: "' "$T/last.err" ||
	{ cat "$T/last.err" >&2; fail "drill found mismatches"; }
run_nocrash "sampled drill of hostile names" \
	drfs drill "$REPO" "$cid" --sample 50 --seed 1
[ "$RC" = 3 ] || { cat "$T/last.out" "$T/last.err" >&2; fail "sampled drill exit $RC, want 3"; }
[ "$(ls -A "$T/outside4")" = keep ] || fail "outside4 changed"

# ---- 5. a concurrent writer swaps directories for symlinks ---------------
mkdir -p "$T/race" "$T/outside5"
for i in $(seq 1 30); do
	mkdir -p "$T/race/d$i/e"
	for j in 1 2 3 4; do echo "$i $j" >"$T/race/d$i/e/f$j"; done
done
rsnap=$(drfs backup "$REPO" "$T/race" -q | tail -n 1)
chmod 0777 "$T/outside5"
snapshot_of "$T/outside5" >"$T/outside5.lst"
for round in 1 2 3 4; do
	rm -rf "$T/t5"
	mkdir "$T/t5"
	python3 - "$T/t5" "$T/outside5" <<'PY' &
import os, sys
t, out = sys.argv[1], sys.argv[2]
n = 0
while True:
    for i in range(1, 31):
        for p in ("%s/d%d" % (t, i), "%s/d%d/e" % (t, i)):
            try:
                os.rename(p, "%s.moved%d" % (p, n))
                os.symlink(out, p)
                n += 1
            except OSError:
                pass
PY
	swapper=$!
	run_nocrash "restore against a swapping writer (round $round)" \
		drfs restore "$REPO" "$rsnap" "$T/t5"
	kill "$swapper"
	wait "$swapper" 2>/dev/null || true
	[ "$RC" = 0 ] || [ "$RC" = 3 ] ||
		{ cat "$T/last.err" >&2; fail "round $round: exit $RC"; }
	unchanged "$T/outside5" "$T/outside5.lst" "case 5, round $round"
	info "5: round $round: exit $RC, $(grep -c 'replaced during\|in the way' "$T/last.err" || true) entries swapped under it, outside unchanged"
done
info "ok"
