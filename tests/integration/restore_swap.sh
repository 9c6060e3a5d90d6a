#!/bin/bash
# A writer of the target swaps an entry restore has just made for a hard
# link to a file outside the target, at the worst moment: strace holds
# restore's system call for 3 s and the swap happens meanwhile (lib.sh
# hold), so the race is won every time.
#  1. a symlink, between its creation and its metadata (held: its chown):
#     the outside file's owner and times must not change. (Restore set them
#     through the name with fchownat/utimensat(AT_SYMLINK_NOFOLLOW), which
#     act on whatever the name holds by then.)
#  2. the first name of a hard-link group, between the check of its inode
#     and the link (held: the link): the other name must not become a link to
#     the outside file, and is named as not linked. (Restore linked the
#     name, not the inode it had checked.)
#  3. the target itself, which restore creates, swapped for a symlink to an
#     outside directory between its mkdir and its open (held: the mkdir,
#     once done): nothing may land in the outside directory. (Restore
#     followed it: the target "may be a symlink", but not one that appeared
#     after restore made the directory.)
# Every case runs; the test fails at the end if any failed.
source "$(dirname "$0")/lib.sh"
make_repo
CRAFT=${DRFS_CRAFT:-$DRFS_BUILD/tests/drfs-craft}
[ -x "$CRAFT" ] || fail "drfs-craft not built ($CRAFT)"
command -v strace >/dev/null || skip "strace is not installed"

drfs init "$REPO" >/dev/null
failed=()
mkdir "$T/outside"
echo "not yours" >"$T/outside/victim"
touch -d @1500000000 "$T/outside/victim"
outside() { stat -c '%u:%g %Y %X' "$T/outside/victim"; } # owner, times

# ---- 1. a symlink swapped before its metadata ------------------------------
"$CRAFT" "$REPO" --cache-dir "$CACHE" >"$T/craft1.id" <<EOF
file a first
symlink l somewhere uid=4321 gid=4321 mtime=1700000000
EOF
before=$(outside)
hold chown,fchownat,lchown "$DRFS" restore "$REPO" "$(cat "$T/craft1.id")" "$T/t1" \
	--cache-dir "$CACHE"
ln -f "$T/outside/victim" "$T/t1/l"	# the symlink becomes the outside file
hold_wait "restore, symlink swapped"
after=$(outside)
if [ "$before" != "$after" ]; then
	info "1: FAILED: the outside file changed: $before -> $after"
	failed+=(1)
elif [ "$RC" != 0 ] && [ "$RC" != 3 ]; then
	cat "$T/last.err" >&2
	info "1: FAILED: exit $RC"
	failed+=(1)
else
	[ "$(cat "$T/t1/a")" = first ] || fail "1: a not restored"
	info "1: outside file unchanged ($after), exit $RC"
fi

# ---- 2. the first name of a hard-link group swapped before the link ------
"$CRAFT" "$REPO" --cache-dir "$CACHE" >"$T/craft2.id" <<EOF
file a data nlink=2 ino=77
file b data nlink=2 ino=77
file c other
EOF
hold link,linkat "$DRFS" restore "$REPO" "$(cat "$T/craft2.id")" "$T/t2" \
	--cache-dir "$CACHE"
echo "also not yours" >"$T/outside/victim2"
ln -f "$T/outside/victim2" "$T/t2/a"	# a becomes an outside file
hold_wait "restore, first name of a hard-link group swapped"
if [ -e "$T/t2/b" ] && [ "$(stat -c %i "$T/t2/b")" = "$(stat -c %i "$T/outside/victim2")" ]; then
	info "2: FAILED: b was linked to the outside file (exit $RC)"
	failed+=(2)
elif [ "$RC" != 3 ]; then
	cat "$T/last.err" >&2
	info "2: FAILED: exit $RC, want 3"
	failed+=(2)
elif ! grep -F 't2/b": not linked: "a"' "$T/last.err" |
	grep -q 'replaced during the restore'; then
	cat "$T/last.err" >&2
	info "2: FAILED: b is not named as not linked"
	failed+=(2)
else
	[ "$(stat -c %h "$T/outside/victim2")" = 2 ] ||
		fail "2: the outside file has $(stat -c %h "$T/outside/victim2") links, want 2 (its own and the swapped-in a)"
	[ "$(cat "$T/t2/c")" = other ] || fail "2: c not restored"
	info "2: $(grep -F 't2/b"' "$T/last.err")"
fi

# ---- 3. the target swapped between its mkdir and its open -----------------
mkdir "$T/w" "$T/outside3"
echo keep >"$T/outside3/keep"
HOLD_PATH=$T/w/t3 HOLD_AT=exit hold mkdir "$DRFS" restore "$REPO" \
	"$(cat "$T/craft1.id")" "$T/w/t3" --cache-dir "$CACHE"
for _ in $(seq 1 100); do [ -d "$T/w/t3" ] && break; sleep 0.05; done
rmdir "$T/w/t3"
ln -s "$T/outside3" "$T/w/t3"
hold_wait "restore, target swapped"
if [ "$(ls -A "$T/outside3")" != keep ]; then
	info "3: FAILED: restore wrote into the outside directory: $(ls -A "$T/outside3" | tr '\n' ' ')(exit $RC)"
	failed+=(3)
elif [ "$RC" != 1 ] || ! grep -qF 'w/t3": was replaced' "$T/last.err"; then
	cat "$T/last.err" >&2
	info "3: FAILED: exit $RC, want 1 and the target named as replaced"
	failed+=(3)
else
	info "3: $(head -n 1 "$T/last.err")"
fi

[ ${#failed[@]} = 0 ] || fail "case(s) ${failed[*]} failed"
info "ok"
