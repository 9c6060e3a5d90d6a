#!/bin/bash
# NUL bytes where the kernel allows none, in a crafted snapshot: restore
# refuses each by name and counts it (exit 3), restores the rest, and
# drill says the same.
#  - An extended attribute name holding a NUL byte: the entry's other
#    attributes are set. Before, restore copied the attributes as "name
#    NUL, length, value" records and read them back with strlen(): the
#    bytes after the NUL were taken as the length (here 512) and that much
#    heap memory past the copy went into an attribute of the restored file.
#  - A symlink target holding a NUL byte. Before, the symlink was made with
#    its target cut at the NUL (another target), exit 0.
source "$(dirname "$0")/lib.sh"
make_repo
CRAFT=${DRFS_CRAFT:-$DRFS_BUILD/tests/drfs-craft}
[ -x "$CRAFT" ] || fail "drfs-craft not built ($CRAFT)"
command -v getfattr >/dev/null || skip "getfattr is not installed"
touch "$T/probe"
setfattr -n user.probe -v 1 "$T/probe" 2>/dev/null ||
	skip "no user extended attributes on $T"

drfs init "$REPO" >/dev/null
# user.a, NUL, then bytes that read as the little-endian length 512
"$CRAFT" "$REPO" --cache-dir "$CACHE" >"$T/craft.id" <<'EOF'
file f hello xattr=user.ok=fine xattr=user.a%00%00%02%00%00=v
dir d
  file g world xattr=user.b%00x=1 xattr=user.c=2
  symlink l /safe/place%00/../../etc
  symlink m /safe/place
end
file h last
EOF
id=$(cat "$T/craft.id")

run_nocrash "restore" drfs restore "$REPO" "$id" "$T/t"
# every check runs (each NUL byte on its own); the failures are listed
bad=()
[ "$RC" = 3 ] || bad+=("restore: exit $RC, want 3")
grep -F 't/f": refused an extended attribute named "user.a\x00\x00\x02\x00\x00"' "$T/last.err" >/dev/null &&
	grep -F 't/d/g": refused an extended attribute named "user.b\x00x"' "$T/last.err" >/dev/null ||
	bad+=("the bad attribute names are not named")
attrs() { getfattr --absolute-names -d -m '^user\.' "$1" | grep -v '^#' | grep . || true; }
[ "$(attrs "$T/t/f")" = 'user.ok="fine"' ] ||
	bad+=("f has the attributes $(attrs "$T/t/f" | tr '\n' ' ' | cut -c 1-100)..., want only user.ok")
[ "$(attrs "$T/t/d/g")" = 'user.c="2"' ] ||
	bad+=("d/g has the attributes $(attrs "$T/t/d/g" | tr '\n' ' ' | cut -c 1-100)..., want only user.c")
grep -F 't/d/l": refused a symlink to "/safe/place\x00/../../etc"' "$T/last.err" >/dev/null ||
	bad+=("the symlink target with a NUL is not named")
[ ! -e "$T/t/d/l" ] && [ ! -L "$T/t/d/l" ] ||
	bad+=("d/l was made (-> $(readlink "$T/t/d/l"))")
[ "$(grep -c refused "$T/last.err")" = 3 ] || bad+=("want exactly 3 refusals")
if [ ${#bad[@]} != 0 ]; then
	cat "$T/last.err" >&2
	printf '%s\n' "${bad[@]}" >&2
	fail "restore: ${#bad[@]} check(s) failed"
fi
[ "$(readlink "$T/t/d/m")" = /safe/place ] || fail "d/m not restored"
[ "$(cat "$T/t/f")" = hello ] && [ "$(cat "$T/t/d/g")" = world ] &&
	[ "$(cat "$T/t/h")" = last ] || fail "the files were not all restored"
info "restore: $(grep -F 't/f"' "$T/last.err")"

run_nocrash "drill" drfs drill "$REPO" "$id"
[ "$RC" = 3 ] || { cat "$T/last.out" "$T/last.err" >&2; fail "drill: exit $RC, want 3"; }
[ "$(grep -c 'refused an extended attribute\|refused a symlink' "$T/last.err")" = 3 ] ||
	{ cat "$T/last.err" >&2; fail "drill did not name the 3 refusals"; }
! grep -q 'drill: "' "$T/last.err" ||
	{ cat "$T/last.err" >&2; fail "drill found mismatches"; }
grep -q '^verified: *3 of 3 files' "$T/last.out" ||
	{ cat "$T/last.out" >&2; fail "drill did not verify the 3 files"; }
info "ok"
