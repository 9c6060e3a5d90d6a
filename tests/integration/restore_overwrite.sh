#!/bin/bash
# drfs restore --overwrite MODE over a target that already holds entries:
# always (the default), if-changed, if-newer, never, replace — each mode's
# effect on a file (older, equal content, newer), a symlink, a FIFO, a
# directory and its metadata, and the conflicts (a file where a directory
# goes, a directory where a file goes, a symlink to an outside file where
# a file goes): named, left, exit 3; replace removes a non-directory in
# the way, never a directory. Nothing outside the target changes.
# The repository location does not matter here: local only.
source "$(dirname "$0")/lib.sh"
[ "$DRFS_TEST_BACKEND" = local ] || skip "overwrite modes do not depend on the backend"
need_root
make_repo
drfs init "$REPO" >/dev/null

S=$T/src
mkdir -p "$S/x" "$S/d"
echo "snapshot f" >"$S/f"
echo "same content" >"$S/g"
chmod 0640 "$S/g"
echo "snapshot h" >"$S/h"
ln -s target-in-snapshot "$S/l"
echo "in x" >"$S/x/inner"
echo "y file" >"$S/y"
echo "z file" >"$S/z"
mkfifo -m 0600 "$S/p"
echo k >"$S/d/k"
chmod 0750 "$S/d"
echo linked >"$S/hl1"
ln "$S/hl1" "$S/hl2"
find "$S" -mindepth 1 -exec touch -h -d 2020-01-01T00:00:00Z {} +
snap=$(drfs backup "$REPO" "$S" -q | tail -n 1)

mkdir -p "$T/outside"
echo "outside, keep" >"$T/outside/zfile"
outside_before=$(stat -c '%s %Y %a %i' "$T/outside/zfile")

# prep DIR — a target holding entries where the snapshot has some
prep() {
	local t=$1
	mkdir -p "$t/y" "$t/d"
	echo "old f content" >"$t/f"
	echo "same content" >"$t/g"
	chmod 0600 "$t/g"
	echo mine >"$t/h"
	ln -s other-target "$t/l"
	echo "file in the way" >"$t/x"
	echo keep >"$t/y/keep"
	ln -s "$T/outside/zfile" "$t/z"
	mkfifo -m 0644 "$t/p"
	echo "old k" >"$t/d/k"
	chmod 0700 "$t/d"
	echo extra >"$t/extra"
	touch -d 2000-01-01T00:00:00Z "$t/f" "$t/g" "$t/d/k"
	touch -d 2030-01-01T00:00:00Z "$t/h"
}

# restore_mode MODE WANT_RC — restore $snap into a fresh prep'd $T/MODE
restore_mode() {
	local mode=$1 want=$2
	R=$T/$mode
	prep "$R"
	G_INO=$(stat -c %i "$R/g")
	run_nocrash "restore --overwrite $mode" \
		drfs restore "$REPO" "$snap" "$R" --overwrite "$mode"
	[ "$RC" = "$want" ] || { cat "$T/last.err" >&2; fail "$mode: exit $RC, want $want"; }
	[ "$(stat -c '%s %Y %a %i' "$T/outside/zfile")" = "$outside_before" ] &&
		[ "$(cat "$T/outside/zfile")" = "outside, keep" ] ||
		fail "$mode: the outside file changed"
	[ "$(cat "$R/extra")" = extra ] || fail "$mode: an entry not in the snapshot changed"
}

# is PATH TEXT — the file holds TEXT
is() { [ "$(cat "$1")" = "$2" ] || fail "$mode: $1 holds '$(cat "$1")', want '$2'"; }
mode_is() { [ "$(stat -c %a "$1")" = "$2" ] || fail "$mode: $1 mode $(stat -c %a "$1"), want $2"; }
named() {
	grep -F "$R/$1\"" "$T/last.err" | grep -q "$2" ||
		{ cat "$T/last.err" >&2; fail "$mode: $1 not named as '$2'"; }
}
conflicts() {
	named x "a file is in the way of a directory"
	named y "a directory is in the way of a file"
	[ -f "$R/x" ] && [ -d "$R/y" ] && [ "$(cat "$R/y/keep")" = keep ] ||
		fail "$mode: a conflicting entry was not left as it was"
}
kept_is() {
	grep -q "^kept $1 existing entries" "$T/last.err" ||
		{ cat "$T/last.err" >&2; fail "$mode: want $1 entries kept"; }
}
linked() {
	[ "$(stat -c %i "$R/hl1")" = "$(stat -c %i "$R/hl2")" ] && is "$R/hl1" linked ||
		fail "$mode: hl1 and hl2 are not one file"
}

# ---- always (the default) ----
mode=always
restore_mode always 3
conflicts
named z "a symlink is in the way of a file"
[ -L "$R/z" ] || fail "always: z was replaced"
is "$R/f" "snapshot f"; is "$R/g" "same content"; mode_is "$R/g" 640
is "$R/h" "snapshot h"; is "$R/d/k" k; mode_is "$R/d" 750; mode_is "$R/p" 600
[ "$(readlink "$R/l")" = target-in-snapshot ] || fail "always: l not replaced"
linked
# the default is always
prep "$T/default"
run_nocrash "restore without --overwrite" drfs restore "$REPO" "$snap" "$T/default"
[ "$RC" = 3 ] && is "$T/default/h" "snapshot h" || fail "the default is not always"

# ---- if-changed ----
mode=if-changed
restore_mode if-changed 3
conflicts
kept_is 2 # g (same content) and p (same FIFO): metadata set only
is "$R/f" "snapshot f"; is "$R/h" "snapshot h"
[ "$(stat -c %i "$R/g")" = "$G_INO" ] || fail "if-changed: g was recreated"
is "$R/g" "same content"; mode_is "$R/g" 640; mode_is "$R/p" 600
[ "$(stat -c %Y "$R/g")" = "$(date -d 2020-01-01T00:00:00Z +%s)" ] ||
	fail "if-changed: g's mtime was not set"
[ "$(readlink "$R/l")" = target-in-snapshot ] || fail "if-changed: l not replaced"
# same size, one byte different: rewritten
echo "same contenT" >"$R/g"
run_nocrash "if-changed, content differs" \
	drfs restore "$REPO" "$snap" "$R" --overwrite if-changed
is "$R/g" "same content"
linked

# ---- if-newer ----
mode=if-newer
restore_mode if-newer 3
conflicts
kept_is 3 # h (2030), l and p (made now): newer than the snapshot's 2020
is "$R/f" "snapshot f"; is "$R/g" "same content"; mode_is "$R/g" 640
is "$R/h" mine; [ "$(readlink "$R/l")" = other-target ] || fail "if-newer: l replaced"
mode_is "$R/p" 644; is "$R/d/k" k
mode_is "$R/d" 700 # the directory (made now) is newer: its metadata kept
linked

# ---- never ----
mode=never
restore_mode never 3
conflicts
kept_is 6 # f g h l p d/k
is "$R/f" "old f content"; mode_is "$R/g" 600; is "$R/h" mine; is "$R/d/k" "old k"
[ "$(readlink "$R/l")" = other-target ] || fail "never: l replaced"
mode_is "$R/p" 644; mode_is "$R/d" 700
linked
# without conflicts never is a success
mkdir -p "$T/never2"
echo "old f content" >"$T/never2/f"
run_nocrash "restore --overwrite never, no conflicts" \
	drfs restore "$REPO" "$snap" "$T/never2" --overwrite never
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "never without conflicts: exit $RC"; }
is "$T/never2/f" "old f content"; is "$T/never2/h" "snapshot h"

# ---- replace ----
mode=replace
restore_mode replace 3
named y "a directory is in the way of a file"
[ -d "$R/y" ] && [ "$(cat "$R/y/keep")" = keep ] || fail "replace: the directory y was touched"
[ "$(grep -c 'in the way' "$T/last.err")" = 1 ] ||
	{ cat "$T/last.err" >&2; fail "replace: want only y as a conflict"; }
[ -d "$R/x" ] && is "$R/x/inner" "in x"
[ -f "$R/z" ] && [ ! -L "$R/z" ] && is "$R/z" "z file"
is "$R/f" "snapshot f"; is "$R/h" "snapshot h"; mode_is "$R/d" 750
linked

# ---- a restore killed part way (kill -9), then run again ----
K=$T/ksrc
for i in $(seq 1 24); do
	mkdir -p "$K/d$i"
	seeded_bytes "$i" $((256 * 1024 + i)) >"$K/d$i/data"
	ln -s "../d$i/data" "$K/d$i/link"
done
chmod 0555 "$K/d3"
ln "$K/d1/data" "$K/d2/hard"
ksnap=$(drfs backup "$REPO" "$K" -q | tail -n 1)
for m in always if-changed; do
	for delay in 0.3 0.8; do
		rm -rf "$T/k"
		"$DRFS" restore "$REPO" "$ksnap" "$T/k" --cache-dir "$CACHE" -q \
			2>/dev/null &
		pid=$!
		sleep "$delay"
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		run_nocrash "restore --overwrite $m after a kill -9" \
			drfs restore "$REPO" "$ksnap" "$T/k" --overwrite "$m"
		[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "$m after kill -9: exit $RC"; }
		treecmp --ignore-root-times "$K" "$T/k" ||
			fail "$m after a kill -9 at ${delay}s: the tree differs"
	done
done
info "a restore killed with -9 and run again (always, if-changed) is exact"

# a bad mode is a usage error
expect_clean_failure "--overwrite sometimes" \
	drfs restore "$REPO" "$snap" "$T/bad" --overwrite sometimes
[ "$RC" = 2 ] || fail "--overwrite sometimes: exit $RC, want 2"
[ ! -e "$T/bad" ] || fail "a usage error created the target"
info "ok"
