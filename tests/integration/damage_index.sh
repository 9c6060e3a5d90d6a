#!/bin/bash
# A damaged index object costs nothing but a warning (docs/damage.md). One
# index object is flipped (two bytes), truncated or deleted; then, with the
# cache that made the backups (warm) and with an empty --cache-dir for
# every command (fresh): `snapshots` lists both snapshots, both restore
# identically, a mount serves them to cp -a, `check` names the damage and
# fails; `repair index` rewrites the index, after which check is clean with
# both caches and the snapshots still restore identically.
source "$(dirname "$0")/lib.sh"

SRC=$T/src
mkdir -p "$SRC/docs/deep" "$SRC/bin"
for i in 1 2 3 4; do
	seeded_bytes $((SEED + i)) $((i * 150000)) >"$SRC/docs/f$i"
done
echo "first" >"$SRC/docs/deep/note"
ln -s ../docs/f1 "$SRC/bin/link"
cp -a "$SRC" "$T/state1"
echo "second" >"$SRC/docs/deep/note"
seeded_bytes $((SEED + 9)) 700000 >"$SRC/bin/new"
rm "$SRC/docs/f2"
cp -a "$SRC" "$T/state2"

fuse_ok || info "no FUSE here: the mount parts are skipped"


# cache_run KIND CMD ARGS... — drfs with the warm cache or an empty one
cache_run() {
	local kind=$1 cmd=$2
	shift 2
	if [ "$kind" = warm ]; then
		"$DRFS" "$cmd" --cache-dir "$CACHE" "$@"
	else
		"$DRFS" "$cmd" --cache-dir "$(fresh_cache)" "$@"
	fi
}

# serves KIND WHAT — every read path works with the damaged index
serves() {
	local kind=$1 what=$2 i mnt
	run_nocrash "$what: snapshots" cache_run "$kind" snapshots "$REPO" --json
	[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "$what: snapshots failed"; }
	n=$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))))' "$T/last.out")
	[ "$n" = 2 ] || fail "$what: snapshots lists $n snapshots, want 2"
	for i in 1 2; do
		rm -rf "$T/out"
		run_nocrash "$what: restore ${snap[$i]}" \
			cache_run "$kind" restore "$REPO" "${snap[$i]}" "$T/out"
		[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "$what: restore ${snap[$i]} failed"; }
		treecmp --ignore-root-times "$T/state$i" "$T/out" >/dev/null ||
			fail "$what: restore of ${snap[$i]} differs"
	done
	fuse_ok || return 0
	mnt=$T/mnt
	if [ "$kind" = warm ]; then
		mount_repo "$mnt"
	else
		CACHE=$(fresh_cache) mount_repo "$mnt"
	fi
	for i in 1 2; do
		rm -rf "$T/cp"
		cp -a "$mnt/snapshots/${snap[$i]}" "$T/cp"
		treecmp --ignore-root-times "$T/state$i" "$T/cp" >/dev/null ||
			fail "$what: cp -a out of the mounted ${snap[$i]} differs"
	done
	umount_repo "$mnt"
}

# check_fails KIND WHAT PATTERN — check fails and its output matches
check_fails() {
	local kind=$1 what=$2 pat=$3
	run_nocrash "$what: check" cache_run "$kind" check "$REPO"
	[ "$RC" != 0 ] || fail "$what: check passed a damaged index"
	grep -q -- "$pat" "$T/last.err" ||
		fail "$what: check does not say '$pat': $(cat "$T/last.err")"
}

check_clean() {
	local kind=$1 what=$2
	run_nocrash "$what: check" cache_run "$kind" check "$REPO" --read-data
	[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "$what: check not clean"; }
}

# DRFS_TEST_DAMAGE: only these kinds of damage (to run one against a build)
for damage in ${DRFS_TEST_DAMAGE:-flip truncate delete}; do
	make_repo
	[ "$DRFS_TEST_BACKEND" = local ] && REPO=$T/repo-$damage
	CACHE=$T/warm-$damage
	drfs init "$REPO" >/dev/null
	snap[1]=$(drfs backup "$REPO" "$T/state1" --time 2025-03-01T10:00:00Z -q)
	idx=$(obj_names index/)
	[ "$(echo "$idx" | wc -l)" = 1 ] || fail "want one index object after a backup: $idx"
	snap[2]=$(drfs backup "$REPO" "$T/state2" --time 2025-03-02T10:00:00Z -q)
	name=${idx##*/}
	case $damage in
	flip) obj_corrupt "$idx" ;;
	truncate) obj_truncate "$idx" ;;
	delete) obj_del "$idx" ;;
	esac
	info "$damage: $idx"
	# the cache that had loaded the deleted object notices it is gone
	if [ "$damage" = delete ]; then
		run_nocrash "delete: snapshots" cache_run warm snapshots "$REPO"
		grep -q 'is in no index object any more' "$T/last.err" ||
			fail "delete: the warm cache says nothing: $(cat "$T/last.err")"
	fi
	case $damage in
	delete) pat="no index object lists them" ;;
	*) pat="index object \"index/$name\": corrupted" ;;
	esac
	for kind in fresh warm; do
		serves "$kind" "$damage/$kind"
		check_fails "$kind" "$damage/$kind" "$pat"
	done
	# a fresh cache is told about a corrupted object, once per command
	if [ "$damage" != delete ]; then
		run_nocrash "$damage: snapshots" cache_run fresh snapshots "$REPO"
		[ "$(grep -c "index object \"index/$name\" is corrupted" "$T/last.err")" = 1 ] ||
			fail "$damage: the warning is missing or repeated: $(cat "$T/last.err")"
	fi

	run_nocrash "$damage: repair index" drfs repair index "$REPO"
	[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "$damage: repair index failed"; }
	if [ -n "$(obj_names "$idx")" ]; then
		fail "$damage: repair index left $idx"
	fi
	for kind in warm fresh; do
		check_clean "$kind" "$damage/$kind after repair index"
		serves "$kind" "$damage/$kind after repair index"
	done
	info "$damage: ok"
done
echo "damage_index: ok"
