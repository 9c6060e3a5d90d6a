#!/bin/bash
# SPDX-License-Identifier: MIT
# demo.sh - the README's first command: install what drfs needs, build it,
# and run the main job on the embedded default: a local-directory
# repository mounted at a local folder.
#
#   bash tools/demo.sh [SOURCE_DIR]     (default source: /usr/share/doc)
#
# It creates ./demo/ (repository, cache, mountpoint), mounts the
# repository, backs SOURCE_DIR up by rsync into the mount's now/, takes a
# snapshot, shows the dated folders, restores by copying out of the
# snapshot folder, unmounts, checks the repository and proves the copy
# identical.
set -euo pipefail
SRC_TREE=${1:-/usr/share/doc}
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$TOP/build/release
WORK=${DRFS_DEMO_DIR:-$TOP/demo}

say() { printf '\n== %s\n' "$*"; }

PACKAGES=(gcc libc6-dev meson ninja-build pkg-config libfuse3-dev fuse3
	liblmdb-dev libzstd-dev libcurl4-openssl-dev libssl-dev libexpat1-dev
	rsync acl attr python3)
missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
		grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	say "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

say "building drfs"
if [ ! -f "$BUILD/build.ninja" ]; then
	meson setup --buildtype=release "$BUILD" "$TOP" >/dev/null
fi
ninja -C "$BUILD" >/dev/null
DRFS=$BUILD/drfs

rm -rf "$WORK"
mkdir -p "$WORK"
export DRFS_PASSWORD_FILE=$WORK/passphrase
head -c 24 /dev/urandom | base64 >"$DRFS_PASSWORD_FILE"
chmod 600 "$DRFS_PASSWORD_FILE"
REPO=$WORK/repo
CACHE=$WORK/cache

say "drfs init $REPO"
"$DRFS" init "$REPO"

MNT=$WORK/mnt
mkdir -p "$MNT"
cleanup() { "$DRFS" umount "$MNT" 2>/dev/null ||
	fusermount3 -u -z "$MNT" 2>/dev/null || true; }
trap cleanup EXIT
say "drfs mount $REPO $MNT"
"$DRFS" mount "$REPO" "$MNT" --cache-dir "$CACHE"
say "rsync -aHAX --delete $SRC_TREE/ $MNT/now/   (the backup)"
time rsync -aHAX --delete "$SRC_TREE/" "$MNT/now/"
say "drfs snapshot $MNT"
"$DRFS" snapshot "$MNT"
say "rsync again: nothing changed, nothing is written"
time rsync -aHAX --delete "$SRC_TREE/" "$MNT/now/"
"$DRFS" status "$MNT"
ls -l "$MNT" "$MNT"/snapshots/*
say "restore: cp -a out of $MNT/latest/"
time cp -a "$MNT/latest/." "$WORK/restored"
"$DRFS" umount "$MNT"
trap - EXIT

say "drfs snapshots $REPO"
"$DRFS" snapshots "$REPO" --cache-dir "$CACHE"
say "drfs stats $REPO"
"$DRFS" stats "$REPO" --cache-dir "$CACHE"
say "drfs check --read-data $REPO"
"$DRFS" check --read-data "$REPO" --cache-dir "$CACHE"

say "comparing $SRC_TREE with the restored copy"
if diff -r --no-dereference "$SRC_TREE" "$WORK/restored" >/dev/null; then
	echo "identical: $(find "$WORK/restored" | wc -l) entries"
else
	echo "DIFFERENT" >&2
	exit 1
fi
echo
echo "demo finished; repository, cache and restored copy are in $WORK"
