#!/bin/bash
# Symlinks are cached by the kernel (docs/mount.md): a cp -a out of
# MNT/latest/ walks every path through the latest symlink, which cost a
# READLINK round trip each time (about three per file) while the kernel did
# not cache FUSE symlinks. latest itself still follows a new backup made
# beside the mount and a snapshot of now/, although its old target was
# cached; symlinks inside a snapshot and in now/ read back right.
source "$(dirname "$0")/lib.sh"
make_repo
drfs init "$REPO" >/dev/null
mkdir -p "$T/src/d1/d2" "$T/src/d3"
for i in $(seq 1 20); do
	echo "one $i" >"$T/src/d1/f$i"
	echo "two $i" >"$T/src/d1/d2/f$i"
	echo "three $i" >"$T/src/d3/f$i"
done
ln -s d1/f1 "$T/src/rel"
ln -s /etc/hostname "$T/src/abs"
s1=$(drfs backup "$REPO" "$T/src" --time 2026-06-01T10:00:00Z | tail -n 1)
M=$T/mnt
mount_repo "$M" -d   # -d: the requests go to $T/mount.err
readlinks() { grep -c 'opcode: READLINK' "$T/mount.err" || true; }

[ "$(readlink "$M/latest")" = "snapshots/$s1" ] || fail "latest is not $s1"
before=$(readlinks)
cp -a "$M/latest/" "$T/out"
n=$(( $(readlinks) - before ))
treecmp "$T/src" "$T/out" || fail "the copy out of latest/ differs"
# 60 files and 2 symlinks: ~190 READLINKs without the cache; with it, one
# for latest (unless its cached copy was dropped meanwhile) and one per
# symlink copied
[ "$n" -le 6 ] ||
	fail "cp -a out of latest/ sent $n READLINKs for 62 entries"
info "cp -a out of latest/: $n READLINK request(s) for 62 entries"
[ "$(readlink "$M/latest/rel")" = d1/f1 ] || fail "rel reads wrong"
[ "$(cat "$M/latest/rel")" = "one 1" ] || fail "rel does not lead to d1/f1"

# a backup beside the mount: latest follows within a few seconds although
# its old target is in the kernel's cache
s2=$(drfs backup "$REPO" "$T/src" --time 2026-06-02T10:00:00Z | tail -n 1)
for _ in $(seq 1 50); do
	[ "$(readlink "$M/latest")" = "snapshots/$s2" ] && break
	sleep 0.1
done
[ "$(readlink "$M/latest")" = "snapshots/$s2" ] ||
	fail "latest -> $(readlink "$M/latest") after a backup made $s2"
[ "$(cat "$M/latest/d3/f7")" = "three 7" ] || fail "latest/d3/f7 after it moved"

# a snapshot of now/: latest is the new folder as soon as it returns
ln -s d3/f2 "$M/now/new-link"
[ "$(readlink "$M/now/new-link")" = d3/f2 ] || fail "now/ symlink reads wrong"
rm "$M/now/new-link"
ln -s d1/d2/f3 "$M/now/new-link"
[ "$(readlink "$M/now/new-link")" = d1/d2/f3 ] ||
	fail "a now/ symlink replaced under the same name reads its old target"
snap=$(drfs snapshot "$M" --time 2026-06-03T10:00:00Z)
[ "$(readlink "$M/latest")" = "snapshots/${snap#"$M/snapshots/"}" ] ||
	fail "latest -> $(readlink "$M/latest") right after the snapshot $snap"
[ "$(readlink "$M/latest/new-link")" = d1/d2/f3 ] ||
	fail "the snapshot's new-link reads $(readlink "$M/latest/new-link")"
umount_repo "$M"
info "ok"
