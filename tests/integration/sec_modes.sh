#!/bin/bash
# Key material and caches are private to their owner, whatever the umask
# (docs/security.md): under umask 022, every directory drfs creates is 0700
# and every file 0600 — the local repository (key file, config, packs,
# index, snapshots, locks; the directories above it that init created), a
# second repository written by copy, the cache directories (LMDB, mount.log,
# staging of now/, the S3 chunk cache, copy's memo) and the
# known-repositories file. drfs check warns about looser modes it finds and
# still exits 0. s3: the repository is in a bucket, so only the local side
# is checked.
source "$(dirname "$0")/lib.sh"
make_repo
umask 022

# loose DIR...: entries that are not 0700 directories or 0600 files
loose() {
	find "$@" \( \( -type d ! -perm 0700 \) -o \( -type f ! -perm 0600 \) \) \
		-printf '%m %p\n'
}

mkdir -p "$T/src/sub"
seeded_bytes "$SEED" 300000 >"$T/src/sub/data"
echo small >"$T/src/small"
if [ "$DRFS_TEST_BACKEND" = local ]; then
	REPO=$T/deep/er/repo # init creates the directories above it too
	DST=$T/copy
else
	DST="s3://drfs-test-$(_rand_lower 12)/"
fi
drfs init "$REPO" >/dev/null
drfs backup "$REPO" "$T/src" >/dev/null
drfs init "$DST" --cache-dir "$T/c-dst-init" >/dev/null
drfs copy "$REPO" "$DST" >/dev/null # its cache: $CACHE.dst, with a memo

mounted=0
if [ -c /dev/fuse ] && command -v fusermount3 >/dev/null; then
	# staging on disk (not memory), so its files are there to look at
	DRFS_MEM_STAGING=0 mount_repo "$T/mnt"
	cp -a "$T/src" "$T/mnt/now/"
	cat "$T/mnt/latest/sub/data" >/dev/null # the S3 chunk cache fills
	# held open: its staging file exists while we look
	exec 7>"$T/mnt/now/open-file"
	echo "being written" >&7
	[ -n "$(find "$CACHE" -path '*staging/*' -type f)" ] ||
		fail "no staging file in the cache while a file of now/ is open"
	loose "$CACHE" >"$T/loose.mounted"
	exec 7>&-
	drfs snapshot "$T/mnt" >/dev/null
	umount_repo "$T/mnt"
	mounted=1
	[ -n "$(find "$CACHE" -name "mount-*.log")" ] || fail "no mount.log in the cache"
fi

roots=("$CACHE" "$CACHE.dst" "$XDG_CONFIG_HOME/drfs")
if [ "$DRFS_TEST_BACKEND" = local ]; then
	roots+=("$T/deep" "$DST")
	[ -n "$(find "$REPO/keys" -type f)" ] || fail "no key file in $REPO/keys"
	[ -n "$(find "$REPO/data" -type f)" ] || fail "no pack in $REPO/data"
fi
loose "${roots[@]}" >"$T/loose" 2>/dev/null || true
[ "$mounted" = 1 ] && cat "$T/loose.mounted" >>"$T/loose"
if [ -s "$T/loose" ]; then
	cat "$T/loose" >&2
	fail "$(wc -l <"$T/loose") entries are not 0700/0600 under umask 022"
fi
[ -e "$XDG_CONFIG_HOME/drfs/known-repositories" ] || fail "no known-repositories file"
info "everything drfs created is 0700/0600 ($(find "${roots[@]}" | wc -l) entries)"

# ---- drfs check names looser modes and still passes ---------------------------
chmod 0755 "$CACHE"
want=("$CACHE")
if [ "$DRFS_TEST_BACKEND" = local ]; then
	key=$(find "$REPO/keys" -type f | head -n 1)
	chmod 0644 "$key"
	chmod 0755 "$REPO"
	want+=("$key" "$REPO")
fi
drfs check "$REPO" >"$T/check.out" 2>&1 || { cat "$T/check.out" >&2; fail "check failed"; }
for w in "${want[@]}"; do
	grep -q "warning: \"$w\" is open to other users" "$T/check.out" ||
		{ cat "$T/check.out" >&2; fail "check does not warn about $w"; }
done
# (RadosGW lets these credentials overwrite objects, and check says so:
# docs/disaster-recovery.md; that warning is not about file modes)
[ "$(grep '^drfs: warning' "$T/check.out" |
	grep -vc 'the credentials used can overwrite')" = "${#want[@]}" ] ||
	{ cat "$T/check.out" >&2; fail "check warns about more than ${want[*]}"; }
info "ok"
