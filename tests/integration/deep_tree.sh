#!/bin/bash
# Deep trees: a 2,000-level tree (paths of ~4,000 bytes, under PATH_MAX),
# with files at several depths, under `ulimit -n 1024` (`-n 64` for the
# backups), backed up with the default 8 MiB stack, then under a 1 MiB
# stack (`ulimit -s 1024`, inherited by every drfs process below, the
# mount's daemon and its threads too): backup, snapshots, check --read-data,
# stats, copy to a second repository, an incremental backup, prune (its
# mark walks the deep snapshot it keeps; gc then repacks around it), the
# mount's snapshot view (find over it equals the source), and now/: a deep
# tree written with mkdir -p through the mount, drfs snapshot, a deep write
# into a clean tree (every parent turns dirty) and another snapshot;
# restore (compared with the source) and drill. No walk may recurse per
# level on the C stack or hold a descriptor per level.
source "$(dirname "$0")/lib.sh"
need_root
[ -e /dev/fuse ] || skip "no /dev/fuse"
make_repo
if [ "$DRFS_TEST_BACKEND" = s3 ]; then
	DST="s3://drfs-test-$(_rand_lower 12)/"
else
	DST=$T/dst
fi
PASS2="another passphrase $$"

DEPTH=2000
# chain N: "d/d/.../d", N levels
chain() {
	local s
	printf -v s '%*s' "$1" ''
	s=${s// /d\/}
	printf '%s' "${s%/}"
}
# listing DIR: type, mode, size, mtime and path of every entry (the target
# of a link), then the MD5 of every file; paths relative to DIR
listing() {
	(
		cd "$1"
		find . -mindepth 1 \( -type d -printf 'd %m %T@ %p\n' \) -o \
			\( -type f -printf 'f %m %s %T@ %p\n' \) -o \
			\( -type l -printf 'l %l %p\n' \) | sort
		find . -type f -print0 | sort -z | xargs -0 -r md5sum
	)
}
# same_tree WHAT A B: A and B list the same
same_tree() {
	listing "$2" >"$T/a.list"
	listing "$3" >"$T/b.list"
	[ "$(grep -c ' ./' "$T/a.list")" -gt "$DEPTH" ] ||
		fail "$1: '$2' lists only $(wc -l <"$T/a.list") entries"
	cmp -s "$T/a.list" "$T/b.list" || {
		diff "$T/a.list" "$T/b.list" | cut -c 1-200 | head -n 20 >&2
		fail "$1: '$3' differs from '$2'"
	}
}
# ok WHAT CMD...: CMD exits 0 without crashing
ok() {
	local what=$1
	shift
	run_nocrash "$what" "$@"
	[ "$RC" = 0 ] || {
		cut -c 1-300 "$T/last.err" | head -n 20 >&2
		fail "$what: exit $RC"
	}
}
# daemon_limits MNT: the mount's daemon runs under this test's limits
daemon_limits() {
	local pid
	pid=$(getfattr --only-values -n user.drfs.pid "$1" 2>/dev/null)
	grep -Eq '^Max stack size +1048576 ' "/proc/$pid/limits" ||
		fail "daemon $pid: $(grep 'stack' "/proc/$pid/limits")"
	grep -Eq '^Max open files +1024 ' "/proc/$pid/limits" ||
		fail "daemon $pid: $(grep 'open files' "/proc/$pid/limits")"
}

# ---- the source: 2,000 levels, files at several depths --------------------
SRC=$T/src
mkdir "$SRC"
(
	cd "$SRC"
	mkdir -p "$(chain $DEPTH)"
	mkdir "$(chain 1500)/e"
	echo top >f0
	seeded_bytes "$SEED" 300000 >"$(chain 1)/f1"
	echo "level 500" >"$(chain 500)/f500"
	seeded_bytes $((SEED + 1)) 70000 >"$(chain 1000)/f1000"
	ln -s ../f1000 "$(chain 1001)/link"
	echo bottom >"$(chain $DEPTH)/f"
)
[ "$(cd "$SRC" && find "$(chain $DEPTH)" -name f | wc -c)" -gt 4000 ] ||
	fail "the deepest path is not ~4,000 bytes long"

# every drfs below, and this shell, under these limits: the default stack
# (8 MiB) for the first backup, 1 MiB from then on
ulimit -n 1024
ulimit -s 8192

drfs init "$REPO" >/dev/null
DRFS_PASSWORD=$PASS2 drfs init "$DST" --cache-dir "$T/cdst" >/dev/null

# ---- backups, snapshots, check, stats ------------------------------------
# the walk holds fewer than 40 descriptors whatever the depth: a whole
# backup fits in 64
(
	ulimit -n 64
	ok "backup, 8 MiB stack" drfs backup "$REPO" "$SRC" \
		--time 2026-05-01T09:00:00Z
)
s0=$(tail -n 1 "$T/last.out")
[ "$s0" = 2026-05-01/090000 ] || fail "backup printed '$s0'"
ulimit -s 1024
(
	ulimit -n 64
	ok "backup" drfs backup "$REPO" "$SRC" --no-parent \
		--time 2026-05-01T10:00:00Z
)
s1=$(tail -n 1 "$T/last.out")
[ "$s1" = 2026-05-01/100000 ] || fail "backup printed '$s1'"
# counts JSON FOLDER: "files dirs" of the snapshot in folder FOLDER
counts() {
	python3 - "$1" "$2" <<'PY'
import json, sys
for s in json.load(open(sys.argv[1])):
    if s["folder"] == sys.argv[2]:
        print(s["files"], s["dirs"])
PY
}
src_files=$(find "$SRC" -type f | wc -l)
src_dirs=$(find "$SRC" -type d | wc -l)
ok "snapshots" drfs snapshots "$REPO" --json
for s in "$s0" "$s1"; do
	[ "$(counts "$T/last.out" "$s")" = "$src_files $src_dirs" ] ||
		fail "snapshots: $(cat "$T/last.out")"
done
ok "check --read-data" drfs check "$REPO" --read-data
grep -q 'no problems found' "$T/last.err" || fail "check: $(cat "$T/last.err")"
ok "stats" drfs stats "$REPO" --json
[ "$(json_field tree_blobs <"$T/last.out")" -gt "$DEPTH" ] ||
	fail "stats: $(cat "$T/last.out")"

# ---- copy to a second repository -------------------------------------------
ok "copy" env DRFS_PASSWORD2="$PASS2" "$DRFS" copy "$REPO" "$DST" \
	--cache-dir "$CACHE" --json
[ "$(json_field copied <"$T/last.out")" = 2 ] ||
	fail "copy: $(cat "$T/last.out")"
ok "check of the copy" env DRFS_PASSWORD="$PASS2" "$DRFS" check "$DST" \
	--read-data --cache-dir "$T/cdst"
grep -q 'no problems found' "$T/last.err" ||
	fail "check of the copy: $(cat "$T/last.err")"

# ---- incremental backup, then prune keeping only it ------------------------
seeded_bytes $((SEED + 2)) 70000 >"$SRC/$(chain 1000)/f1000"
echo "bottom, again" >"$SRC/$(chain $DEPTH)/f"
ok "second backup" drfs backup "$REPO" "$SRC" --time 2026-05-02T10:00:00Z
s2=$(tail -n 1 "$T/last.out")
ok "prune" drfs prune "$REPO" --keep-last 1 --max-unused 0
grep -q '1 snapshot(s) kept, 2 removed' "$T/last.err" ||
	fail "prune: $(cat "$T/last.err")"
grep -Eq 'packs: ([1-9][0-9]* deleted|0 deleted, [1-9][0-9]* repacked)' \
	"$T/last.err" || fail "prune freed nothing: $(cat "$T/last.err")"
ok "check after prune" drfs check "$REPO" --read-data
grep -q 'no problems found' "$T/last.err" ||
	fail "check after prune: $(cat "$T/last.err")"
[ "$(drfs snapshots "$REPO" | tail -n +2 | awk '{ print $1 }')" = "$s2" ] ||
	fail "after prune: $(drfs snapshots "$REPO")"

# ---- restore and drill ----------------------------------------------------
ok "restore" drfs restore "$REPO" "$s2" "$T/restored"
same_tree "restore of $s2" "$SRC" "$T/restored"
export DRFS_DRILL_DIR=$T/drills
mkdir "$DRFS_DRILL_DIR"
ok "drill" drfs drill "$REPO" "$s2"
grep -q "^verified: *$src_files of $src_files files" "$T/last.out" ||
	fail "drill: $(cat "$T/last.out")"
[ -z "$(ls -A "$DRFS_DRILL_DIR")" ] ||
	fail "the drill left its scratch directory: $(ls -A "$DRFS_DRILL_DIR")"

# ---- the mount: the snapshot as backed up; now/ ----------------------------
M=$T/mnt
mount_repo "$M"
daemon_limits "$M"
same_tree "snapshot $s2 through the mount" "$SRC" "$M/snapshots/$s2"
same_tree "now/ (from $s2)" "$SRC" "$M/now"

# a second deep tree written through now/, files at several depths
(
	cd "$M/now"
	mkdir -p "n/$(chain $((DEPTH - 1)))"
	echo "now 1" >"n/$(chain 1)/g1"
	seeded_bytes $((SEED + 3)) 100000 >"n/$(chain 700)/g700"
	echo "now bottom" >"n/$(chain $((DEPTH - 1)))/g"
)
ok "drfs snapshot" "$DRFS" snapshot "$M"
s3=$(tail -n 1 "$T/last.out") # the snapshot's folder in the mount
same_tree "n/ in snapshot ${s3#"$M"/}" "$M/now/n" "$s3/n"
[ "$(cat "$s3/$(chain $DEPTH)/f")" = "bottom, again" ] ||
	fail "the deepest file of the backup in ${s3#"$M"/}"

# a write at the bottom of a clean tree: all its parents turn dirty
echo "deep change" >"$M/now/$(chain $DEPTH)/f"
ok "drfs snapshot after a deep write" "$DRFS" snapshot "$M"
s4=$(tail -n 1 "$T/last.out")
[ "$(cat "$s4/$(chain $DEPTH)/f")" = "deep change" ] ||
	fail "the deep write is not in ${s4#"$M"/}"
[ "$(cat "$s3/$(chain $DEPTH)/f")" = "bottom, again" ] ||
	fail "the deep write changed ${s3#"$M"/}"
[ "$(cat "$s4/n/$(chain 700)/g700" | md5sum)" = \
	"$(seeded_bytes $((SEED + 3)) 100000 | md5sum)" ] ||
	fail "n/.../g700 in ${s4#"$M"/}"
umount_repo "$M"

ok "check after now/" drfs check "$REPO" --read-data
grep -q 'no problems found' "$T/last.err" ||
	fail "check after now/: $(cat "$T/last.err")"
# the statistics of both now/ snapshots: the backup's tree and n/ (2,000
# directories, 3 files)
ok "snapshots after now/" drfs snapshots "$REPO" --json
want="$((src_files + 3)) $((src_dirs + DEPTH))"
for s in "${s3#"$M"/snapshots/}" "${s4#"$M"/snapshots/}"; do
	[ "$(counts "$T/last.out" "$s")" = "$want" ] ||
		fail "snapshot $s: files, dirs $(counts "$T/last.out" "$s"), want $want"
done
info "ok: $DEPTH levels: backup, check, stats, copy, prune, mount, now/"
