#!/bin/bash
# Restore and drill of a 2,000-level tree (written straight into the
# repository by tests/tools/drfs-craft), under `ulimit -n 1024` (systemd's
# default) and under `ulimit -n 64` with 16 writer threads: the walk is
# iterative (no recursion on the C stack) and keeps a bounded number of
# descriptors open. A 2,100-level tree, whose deepest paths do not fit in
# PATH_MAX, is restored as far as it fits, the rest named, exit 3.
# A recursive walk crashes (SIGSEGV) here; one fd per level runs out.
source "$(dirname "$0")/lib.sh"
make_repo
CRAFT=${DRFS_CRAFT:-$DRFS_BUILD/tests/drfs-craft}
[ -x "$CRAFT" ] || fail "drfs-craft not built ($CRAFT)"

drfs init "$REPO" >/dev/null
"$CRAFT" "$REPO" --cache-dir "$CACHE" >"$T/deep.id" <<'EOF'
file top top-file
dir mid
  file f mid-file
  deep 2000 d leaf bottom-of-2000
end
deep 3 s small small-leaf
EOF
deep=$(cat "$T/deep.id")

# check_deep DIR — DIR/mid/d/.../d/leaf (2000 d) holds bottom-of-2000; the
# path is longer than PATH_MAX from /, so walk it by descriptors
check_deep() {
	python3 - "$1" <<'PY' || fail "the deep tree in $1 is not complete"
import os, sys
fd = os.open(sys.argv[1] + "/mid", os.O_RDONLY | os.O_DIRECTORY)
assert sorted(os.listdir(fd)) == ["d", "f"], os.listdir(fd)
nfd = os.open("d", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
os.close(fd)
fd, n = nfd, 1
while True:
    names = os.listdir(fd)
    if names == ["leaf"]:
        break
    assert names == ["d"], "level %d holds %r" % (n, names)
    nfd = os.open("d", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
    os.close(fd)
    fd = nfd
    n += 1
assert n == 2000, "%d levels, want 2000" % n
lf = os.open("leaf", os.O_RDONLY | os.O_NOFOLLOW, dir_fd=fd)
assert os.read(lf, 100) == b"bottom-of-2000"
PY
	[ "$(cat "$1/top")" = top-file ] && [ "$(cat "$1/mid/f")" = mid-file ] &&
		[ "$(cat "$1/s/s/s/small")" = small-leaf ] ||
		fail "the shallow files in $1 are not restored"
}

run_nocrash "restore of 2000 levels (ulimit -n 1024)" \
	bash -c 'ulimit -n 1024 && exec "$@"' _ \
	"$DRFS" restore "$REPO" "$deep" "$T/r1" --cache-dir "$CACHE"
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "restore exit $RC"; }
check_deep "$T/r1"
info "2000 levels restored under ulimit -n 1024"

# the bound: 64 descriptors for everything, 16 writer threads
run_nocrash "restore of 2000 levels (ulimit -n 64, --threads 8)" \
	bash -c 'ulimit -n 64 && exec "$@"' _ \
	"$DRFS" restore "$REPO" "$deep" "$T/r2" --cache-dir "$CACHE" --threads 8
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "restore under ulimit -n 64: exit $RC"; }
check_deep "$T/r2"
info "2000 levels restored under ulimit -n 64"

# restoring again over the same tree (every directory exists, is entered)
run_nocrash "restore of 2000 levels over itself (ulimit -n 64)" \
	bash -c 'ulimit -n 64 && exec "$@"' _ \
	"$DRFS" restore "$REPO" "$deep" "$T/r2" --cache-dir "$CACHE" \
	--overwrite if-changed
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "restore over itself: exit $RC"; }
check_deep "$T/r2"

export DRFS_DRILL_DIR=$T/drills # the scratch directories: checked below
mkdir "$DRFS_DRILL_DIR"
for lim in 1024 64; do
	run_nocrash "drill of 2000 levels (ulimit -n $lim)" \
		bash -c 'ulimit -n '$lim' && exec "$@"' _ \
		"$DRFS" drill "$REPO" "$deep" --cache-dir "$CACHE" --threads 8
	[ "$RC" = 0 ] || { cat "$T/last.out" "$T/last.err" >&2; fail "drill (ulimit -n $lim): exit $RC"; }
	grep -q '^verified: *4 of 4 files' "$T/last.out" ||
		fail "drill (ulimit -n $lim): $(cat "$T/last.out")"
	run_nocrash "sampled drill of 2000 levels (ulimit -n $lim)" \
		bash -c 'ulimit -n '$lim' && exec "$@"' _ \
		"$DRFS" drill "$REPO" "$deep" --cache-dir "$CACHE" --sample 50 --seed 3
	[ "$RC" = 0 ] || { cat "$T/last.out" "$T/last.err" >&2; fail "sampled drill (ulimit -n $lim): exit $RC"; }
done
[ -z "$(ls -A "$DRFS_DRILL_DIR")" ] ||
	fail "a drill left its scratch directory behind: $(ls -A "$DRFS_DRILL_DIR")"
info "2000 levels drilled under ulimit -n 1024 and 64"

# deeper than PATH_MAX allows: restored as far as it fits, the rest named
"$CRAFT" "$REPO" --cache-dir "$CACHE" >"$T/deeper.id" <<'EOF'
file top top-file
deep 2100 e leaf unreachable
EOF
run_nocrash "restore of 2100 levels" \
	bash -c 'ulimit -n 64 && exec "$@"' _ \
	"$DRFS" restore "$REPO" "$(cat "$T/deeper.id")" "$T/r3" --cache-dir "$CACHE"
[ "$RC" = 3 ] || { cat "$T/last.err" >&2; fail "restore of 2100 levels: exit $RC, want 3"; }
grep -q 'not restored: its path would be longer than 4095 bytes' "$T/last.err" ||
	{ cat "$T/last.err" >&2; fail "the entry too deep is not named"; }
[ "$(cat "$T/r3/top")" = top-file ] || fail "top not restored"
levels=$(python3 - "$T/r3" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
n = 0
while "e" in os.listdir(fd):
    nfd = os.open("e", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
    os.close(fd)
    fd, n = nfd, n + 1
print(n)
PY
)
[ "$levels" = 2048 ] || fail "restored $levels levels of e/, want 2048 (a path of 4095 bytes)"
info "2100 levels: 2048 restored (4095 bytes), the rest named"
