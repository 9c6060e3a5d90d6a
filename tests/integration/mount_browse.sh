#!/bin/bash
# Browse snapshots through a real mount: the edge-case tree and a real tree
# compare identical to their sources (bytes and metadata, holes, hard links,
# xattrs, ACLs); cp -a and rsync -aHAXS out of a snapshot give identical
# trees; getfacl -R, getfattr -R, find -newer, du --apparent-size and
# SEEK_DATA/SEEK_HOLE agree with the source; latest points to the newest
# snapshot; now/ shows it when mounted --from latest (backups are not now/'s
# lineage, docs/hosts.md); every write fails with EROFS; a mount with a
# fresh, empty cache directory shows the same; a killed daemon's stale
# mountpoint is cleaned up by the next mount.
source "$(dirname "$0")/lib.sh"
need_root
[ -e /dev/fuse ] || skip "no /dev/fuse"
make_repo
drfs init "$REPO"

mkedge "$T/edge"
# an SELinux label (root may set one without SELinux): snapshot entries
# with a label return it, entries without one answer "not supported"
echo labelled >"$T/edge/xattr/labelled"
# a directory larger than one materialisation batch (2048 entries), with
# hard links across batch boundaries
mkdir "$T/edge/wide"
for i in $(seq -w 1 5000); do : >"$T/edge/wide/f$i"; done
for i in 0001 2047 2049 4097; do ln "$T/edge/wide/f$i" "$T/edge/wide/l$i"; done
setfattr -n security.selinux -v system_u:object_r:etc_t:s0 \
	"$T/edge/xattr/labelled"
# a part of a real tree (its first 120 entries; the whole of it made this
# the suite's longest test), copied to $T: noatime, so atimes stay put
mkdir "$T/real"
find "$(realtree)" -mindepth 1 -maxdepth 1 | sort | sed -n 1,120p |
	while IFS= read -r e; do cp -a "$e" "$T/real/"; done
touch -r "$(realtree)" "$T/real"

s1=$(drfs backup "$REPO" "$T/edge" --time 2026-03-01T10:00:00Z | tail -n 1)
s2=$(drfs backup "$REPO" "$T/real" --time 2026-03-02T11:22:33Z | tail -n 1)
[ "$s1" = 2026-03-01/100000 ] || fail "first backup printed '$s1'"
[ "$s2" = 2026-03-02/112233 ] || fail "second backup printed '$s2'"

M=$T/mnt
mount_repo "$M" --from latest
E=$M/snapshots/$s1
R=$M/snapshots/$s2

# --- layout ---------------------------------------------------------------
[ "$(ls "$M/snapshots")" = "$(printf '2026-03-01\n2026-03-02')" ] ||
	fail "snapshots/ lists: $(ls "$M/snapshots" | tr '\n' ' ')"
[ "$(ls "$M/snapshots/2026-03-01")" = 100000 ] ||
	fail "snapshots/2026-03-01 lists: $(ls "$M/snapshots/2026-03-01")"
[ "$(readlink "$M/latest")" = "snapshots/$s2" ] ||
	fail "latest -> '$(readlink "$M/latest")', want snapshots/$s2"
[ -d "$M/now" ] || fail "no now/"

# --- contents exactly as backed up ----------------------------------------
treecmp --sparse "$T/edge" "$E" ||
	fail "edge snapshot differs from its source"
treecmp --sparse "$T/real" "$R" ||
	fail "real snapshot differs from its source"
treecmp "$T/real" "$M/latest/" ||
	fail "latest/ differs from the newest source"
treecmp "$T/real" "$M/now" ||
	fail "now/ differs from the newest source"

# --- SELinux labels: one getxattr per file for ls -l, answered so that ls
# stops asking (docs/mount.md)
[ "$(getfattr --only-values -n security.selinux "$E/xattr/labelled")" = \
	system_u:object_r:etc_t:s0 ] || fail "label of xattr/labelled lost"
getfattr -n security.selinux "$E/sizes/4096" 2>"$T/sel.err" &&
	fail "an unlabelled snapshot file has a label"
grep -q 'Operation not supported' "$T/sel.err" ||
	fail "unlabelled snapshot file: $(cat "$T/sel.err")"
getfattr -n security.selinux "$M/now" 2>"$T/sel.err" &&
	fail "now/ has a label"
grep -q 'No such attribute' "$T/sel.err" ||
	fail "unlabelled now/ entry: $(cat "$T/sel.err")"

# --- copying out ------------------------------------------------------------
cp -a "$E" "$T/cp-edge"
treecmp --sparse "$T/edge" "$T/cp-edge" ||
	fail "cp -a out of the edge snapshot differs"
cp -a "$R" "$T/cp-real"
treecmp "$T/real" "$T/cp-real" ||
	fail "cp -a out of the real snapshot differs"
# rsync keeps no atimes (--atimes only whole seconds): cp -a checked those;
# edge_rsync (lib.sh) leaves sparse/2g and 5g to cp -a, also checked above
edge_rsync -aHAXS "$E/" "$T/rs-edge/"
treecmp --sparse --no-atime "$T/edge" "$T/rs-edge" ||
	fail "rsync -aHAXS out of the edge snapshot differs"
rsync -aHAXS "$R/" "$T/rs-real/"
treecmp --no-atime "$T/real" "$T/rs-real" ||
	fail "rsync -aHAXS out of the real snapshot differs"

# --- tools agree with the source (order-independent) -----------------------
# paragraphs (one per file) sorted, so readdir order does not matter
paras() { python3 -c 'import sys
d = sys.stdin.buffer.read().split(b"\n\n")
sys.stdout.buffer.write(b"\n\n".join(sorted(p.strip(b"\n") for p in d)))'; }
for d in edge real; do
	src=$T/$d
	[ $d = edge ] && snap=$E || snap=$R
	(cd "$src" && getfacl -R -p . 2>&1 | paras) >"$T/acl.src"
	(cd "$snap" && getfacl -R -p . 2>&1 | paras) >"$T/acl.mnt"
	cmp -s "$T/acl.src" "$T/acl.mnt" ||
		{ diff "$T/acl.src" "$T/acl.mnt" | head -20 >&2;
		  fail "getfacl -R differs ($d)"; }
	(cd "$src" && getfattr -h -d -m - -R . 2>&1 | paras) >"$T/xa.src"
	(cd "$snap" && getfattr -h -d -m - -R . 2>&1 | paras) >"$T/xa.mnt"
	cmp -s "$T/xa.src" "$T/xa.mnt" ||
		{ diff "$T/xa.src" "$T/xa.mnt" | head -20 >&2;
		  fail "getfattr -R differs ($d)"; }
	touch -d 2024-06-01T00:00:00Z "$T/ref"
	(cd "$src" && find . -mindepth 1 -newer "$T/ref" | sort) >"$T/newer.src"
	(cd "$snap" && find . -mindepth 1 -newer "$T/ref" | sort) >"$T/newer.mnt"
	cmp -s "$T/newer.src" "$T/newer.mnt" || fail "find -newer differs ($d)"
	# per entry: the snapshot root's own size is not part of a snapshot
	(cd "$src" && du --apparent-size -s -B1 -- *) >"$T/du.src"
	(cd "$snap" && du --apparent-size -s -B1 -- *) >"$T/du.mnt"
	cmp -s "$T/du.src" "$T/du.mnt" ||
		{ diff "$T/du.src" "$T/du.mnt" >&2; fail "du differs ($d)"; }
done

# SEEK_DATA / SEEK_HOLE map of every sparse file
segs() { python3 - "$1" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
size, off, out = os.fstat(fd).st_size, 0, []
while off < size:
    try:
        d = os.lseek(fd, off, os.SEEK_DATA)
    except OSError:
        break
    h = os.lseek(fd, d, os.SEEK_HOLE)
    out.append("%d-%d" % (d, h))
    off = h
print(" ".join(out))
PY
}
for f in 2g 5g hole-only tail-hole; do
	a=$(segs "$T/edge/sparse/$f")
	b=$(segs "$E/sparse/$f")
	# the source filesystem may round data to its blocks; holes must agree
	[ "$a" = "$b" ] || info "sparse/$f: data map source '$a' mount '$b'"
	[ -n "$b" ] || [ -z "$a" ] || fail "sparse/$f: no data segments"
done
[ "$(segs "$E/sparse/hole-only")" = "" ] ||
	fail "sparse/hole-only: SEEK_DATA found data"

# hard links share an inode; stat fields of a file
[ "$(stat -c %i "$E/links/hard-3")" = "$(stat -c %i "$E/links/a/hard")" ] ||
	fail "hard links do not share an inode"
[ "$(stat -c '%s %b %h %a %u %g %Y' "$E/sparse/5g")" = \
  "$(stat -c '%s %b %h %a %u %g %Y' "$T/edge/sparse/5g")" ] ||
	fail "stat of sparse/5g: $(stat -c '%s %b %h %a %u %g %Y' "$E/sparse/5g")"
[ "$(stat -f -c %b "$M")" -gt 0 ] || fail "statfs reports no blocks"

# --- read-only: every modifying operation is EROFS ---------------------------
erofs() {
	local what=$1
	shift
	if "$@" 2>"$T/erofs.err"; then
		fail "$what succeeded inside a snapshot"
	fi
	grep -q 'Read-only file system' "$T/erofs.err" ||
		fail "$what: not EROFS: $(cat "$T/erofs.err")"
}
f=$E/sizes/4096
erofs touch touch "$f"
erofs "touch new" touch "$E/new-file"
erofs mkdir mkdir "$E/newdir"
erofs rm rm -f "$f"
erofs rmdir rmdir "$E/empty-dir"
erofs chmod chmod 600 "$f"
erofs chown chown 1:1 "$f"
erofs setfattr setfattr -n user.x -v 1 "$f"
erofs "setfattr -x" setfattr -x user.plain "$E/xattr/file"
erofs mv mv "$f" "$E/sizes/moved"
erofs ln ln "$f" "$E/sizes/link"
erofs "ln -s" ln -s x "$E/sizes/sym"
erofs truncate truncate -s 0 "$f"
erofs "write" sh -c "echo x >> '$f'"
cmp -s "$f" "$T/edge/sizes/4096" || fail "sizes/4096 changed"

# --- a new snapshot appears as another folder --------------------------------
s3=$(drfs backup "$REPO" "$T/edge" --time 2026-03-02T23:59:59Z | tail -n 1)
[ "$s3" = 2026-03-02/235959 ] || fail "third backup printed '$s3'"
for _ in $(seq 1 50); do
	[ -d "$M/snapshots/$s3" ] && break
	sleep 0.1
done
[ -d "$M/snapshots/$s3" ] || fail "new snapshot $s3 does not appear"
[ "$(readlink "$M/latest")" = "snapshots/$s3" ] ||
	fail "latest -> '$(readlink "$M/latest")' after a new backup"
treecmp --sparse "$T/edge" "$M/snapshots/$s3" ||
	fail "new snapshot differs"

umount_repo "$M"

# --- fresh machine: only the repository and an empty cache ------------------
CACHE=$T/fresh-cache
mkdir -p "$CACHE"
mount_repo "$M"
# two readers materialise the wide directory at once: same inode numbers
W=$M/snapshots/$s1/wide
ls -i "$W" >"$T/wide.1" & p1=$!
ls -i "$W" >"$T/wide.2"
wait "$p1"
cmp -s "$T/wide.1" "$T/wide.2" || fail "wide/: two listings differ"
[ "$(wc -l <"$T/wide.1")" = 5004 ] || fail "wide/: $(wc -l <"$T/wide.1") entries"
for i in 0001 2047 2049 4097; do
	[ "$(stat -c %i "$W/f$i")" = "$(stat -c %i "$W/l$i")" ] ||
		fail "wide/f$i and wide/l$i are not one inode"
done
[ "$(find "$M/snapshots" -mindepth 2 -maxdepth 2 | wc -l)" = 3 ] ||
	fail "fresh cache: $(find "$M/snapshots" -mindepth 2 -maxdepth 2)"
treecmp --sparse "$T/edge" "$M/snapshots/$s1" ||
	fail "fresh cache: edge snapshot differs"
treecmp "$T/real" "$M/snapshots/$s2" ||
	fail "fresh cache: real snapshot differs"
ls -lR "$M/snapshots" >/dev/null

# --- a killed daemon leaves a stale mountpoint; the next mount cleans it ----
pid=$(getfattr --only-values -n user.drfs.pid "$M" 2>/dev/null || true)
[[ "$pid" =~ ^[0-9]+$ ]] || fail "no daemon pid (user.drfs.pid): '$pid'"
kill -9 "$pid"
for _ in $(seq 1 50); do
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
stat "$M" >/dev/null 2>&1 && fail "mountpoint usable after kill -9"
# (mount_repo's mkdir -p would trip over the stale mountpoint)
"$DRFS" mount "$REPO" "$M" --cache-dir "$CACHE" 2>"$T/stale.err" ||
	{ cat "$T/stale.err" >&2; fail "mount over a stale mountpoint failed"; }
grep -qi 'not connected' "$T/stale.err" ||
	fail "no message about the stale mountpoint: $(cat "$T/stale.err")"
mountpoint -q "$M" || fail "not mounted after cleaning the stale mountpoint"
treecmp "$T/real" "$M/snapshots/$s2" ||
	fail "after remount: real snapshot differs"
umount_repo "$M"
mountpoint -q "$M" && fail "still mounted after drfs umount"
info "ok"
