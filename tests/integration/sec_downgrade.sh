#!/bin/bash
# The security mode is bound, not trusted (docs/security.md). Someone who can
# write the repository but has no passphrase replaces everything in it
# (keys/, config, the objects) with an unencrypted repository of their own,
# once as it is and once with the victim's repository id forged into its
# config. snapshots, restore, backup and mount with the victim's passphrase
# must refuse it with a clear error and write nothing: with the victim's
# cache, and with an empty cache and no known-repositories record (a new
# machine: the default cache directory is named by the id the attacker
# chose). Saying --no-encryption does not help the attacker either: the
# victim's cache, the known-repositories record and --expect-id remember an
# encrypted repository. A genuinely unencrypted repository opens only with
# --no-encryption; a cache directory of another repository is refused, not
# emptied; and the victim's repository, put back, works as before.
source "$(dirname "$0")/lib.sh"
make_repo

# objects handled as someone with write access would, without drfs
# (lib.sh's obj_* on the repository named by $REPO)
objects() { # URL: its object names (not the S3 backend's probe object)
	REPO=$1 obj_names "" | { grep -vx '\.drfs-inm-probe' || true; }
}
mirror() { # SRC DST: make DST hold exactly SRC's objects
	local n
	objects "$1" >"$T/src.names"
	objects "$2" | while IFS= read -r n; do
		grep -qxF "$n" "$T/src.names" || REPO=$2 obj_del "$n"
	done
	while IFS= read -r n; do
		REPO=$1 obj_get "$n" "$T/obj"
		REPO=$2 obj_put "$n" "$T/obj"
	done <"$T/src.names"
}
forge_id() { # HEX: $REPO's unencrypted config made to carry repository id HEX
	obj_get config "$T/config"
	python3 - "$T/config" "$1" <<'PY'
import hashlib, sys
c = bytearray(open(sys.argv[1], 'rb').read())
assert c[:4] == b'DRFS' and c[4] == 1 and c[6] == 0, 'not an unencrypted config'
body = c[8:-32]
body[4:20] = bytes.fromhex(sys.argv[2])  # le32 version, then the id
obj = bytes(c[:8]) + bytes(body)  # unencrypted: only a SHA-256 protects it
open(sys.argv[1], 'wb').write(obj + hashlib.sha256(obj).digest())
PY
	obj_put config "$T/config"
}

if [ "$DRFS_TEST_BACKEND" = s3 ]; then
	ATK="s3://drfs-test-$(_rand_lower 12)/"
else
	ATK=$T/atk
fi
mkdir -p "$T/src" "$T/atk-src" "$T/new"
echo "the victim's data" >"$T/src/file"
echo "the attacker's data" >"$T/atk-src/file"
echo "written after the attack" >"$T/new/file"

# ---- the victim's encrypted repository, and the attacker's unencrypted one
id=$(drfs init "$REPO" | sed -n 's/^created repository \([0-9a-f]*\) at .*/\1/p')
[ ${#id} = 32 ] || fail "init did not print the repository id"
drfs backup "$REPO" "$T/src" >/dev/null
KNOWN=$XDG_CONFIG_HOME/drfs/known-repositories
mirror "$REPO" "$T/pristine"
env -u DRFS_PASSWORD "$DRFS" init "$ATK" --no-encryption --cache-dir "$T/c-atk" >/dev/null
env -u DRFS_PASSWORD "$DRFS" backup "$ATK" "$T/atk-src" --no-encryption --cache-dir "$T/c-atk" >/dev/null
cat "$KNOWN" >"$T/known.before" 2>/dev/null || true

attack() { # replace | forge
	mirror "$ATK" "$REPO"
	[ "$1" = forge ] && forge_id "$id"
	objects "$REPO" >"$T/objects.before"
}

# refused CMD...: a clean failure whose message holds $want, naming nothing
# of the attacker's content, writing no object and no record
refused() {
	expect_clean_failure "$what: $*" "$@"
	grep -q -- "$want" "$T/last.err" ||
		fail "$what: $*: the error does not say \"$want\": $(cat "$T/last.err")"
	grep -q "$DRFS_PASSWORD" "$T/last.err" "$T/last.out" &&
		fail "$what: the passphrase is in the output"
	grep -q "attacker" "$T/last.out" && fail "$what: the attacker's snapshot was listed"
	objects "$REPO" | diff "$T/objects.before" - >&2 ||
		fail "$what: $*: objects were written to the repository"
	cat "$KNOWN" 2>/dev/null | cmp -s "$T/known.before" - ||
		fail "$what: $*: $KNOWN changed"
	return 0
}

# every command of the victim, with the cache directory in "$@"
victim_commands() {
	refused "$DRFS" snapshots "$REPO" "$@"
	rm -rf "$T/out"
	refused "$DRFS" restore "$REPO" latest "$T/out" "$@"
	[ ! -e "$T/out/file" ] || fail "$what: restore wrote the attacker's file"
	refused "$DRFS" backup "$REPO" "$T/new" "$@"
	mkdir -p "$T/mnt"
	refused "$DRFS" mount "$REPO" "$T/mnt" "$@"
	mountpoint -q "$T/mnt" && fail "$what: the mount went ahead"
	return 0
}

# ---- with the victim's passphrase: the key file in the clear is refused ------
want="not encrypted"
for how in replace forge; do
	attack "$how"
	what="$how, victim's cache"
	victim_commands --cache-dir "$CACHE"
	# a new machine: default cache directory, no known-repositories record
	what="$how, empty cache"
	XDG_CONFIG_HOME=$T/cfg-new victim_commands
	info "$how: refused with the victim's cache and with an empty one"
done

# ---- --no-encryption, which the attacker would need the victim to say --------
grep -q "^$id encrypted " "$KNOWN" || fail "init did not record the repository in $KNOWN"
attack forge
what="forged id, --no-encryption, victim's cache"
want="cache directory"
XDG_CONFIG_HOME=$T/cfg-new refused "$DRFS" snapshots "$REPO" --no-encryption --cache-dir "$CACHE"
grep -q "knew it as encrypted" "$T/last.err" || fail "$what: the cache's mode is not named"
what="forged id, --no-encryption, known-repositories record"
want="known-repositories"
refused "$DRFS" snapshots "$REPO" --no-encryption --cache-dir "$T/c-fresh1"
grep -q "records the encrypted repository $id" "$T/last.err" ||
	fail "$what: the record is not named"
attack replace
what="replaced, --no-encryption, known-repositories record"
refused "$DRFS" backup "$REPO" "$T/new" --no-encryption --cache-dir "$T/c-fresh2"
what="replaced, --no-encryption, --expect-id"
want="--expect-id"
XDG_CONFIG_HOME=$T/cfg-new refused "$DRFS" snapshots "$REPO" --no-encryption \
	--expect-id "$id" --cache-dir "$T/c-fresh3"
info "--no-encryption: refused by the cache, the record and --expect-id"

# ---- the victim's repository back: nothing was damaged --------------------------
mirror "$T/pristine" "$REPO"
drfs snapshots "$REPO" >"$T/list" || fail "the victim's repository does not open again"
[ "$(grep -c "$T/src" "$T/list")" = 1 ] || fail "the victim's snapshot is not listed"
drfs restore "$REPO" latest "$T/back" -q
cmp "$T/src/file" "$T/back/file" || fail "the victim's data does not restore"
"$DRFS" snapshots "$REPO" --expect-id "$id" --cache-dir "$T/c-fresh4" >/dev/null ||
	fail "--expect-id with the right id is refused"
expect_clean_failure "--expect-id of another id" \
	"$DRFS" snapshots "$REPO" --expect-id 00112233445566778899aabbccddeeff --cache-dir "$T/c-fresh5"
grep -q "not 00112233445566778899aabbccddeeff as --expect-id requires" "$T/last.err" ||
	fail "the --expect-id mismatch is not explained"

# ---- a genuinely unencrypted repository opens only with --no-encryption -------
what="unencrypted repository with a passphrase"
objects "$REPO" >"$T/objects.before"
want="not encrypted"
expect_clean_failure "$what" "$DRFS" snapshots "$ATK" --cache-dir "$T/c-atk"
grep -q -- "--no-encryption" "$T/last.err" || fail "$what: --no-encryption is not named"
expect_clean_failure "unencrypted repository without a passphrase" \
	env -u DRFS_PASSWORD setsid -w "$DRFS" snapshots "$ATK" --cache-dir "$T/c-atk"
grep -q -- "open it with --no-encryption" "$T/last.err" ||
	fail "without a passphrase: --no-encryption is not named: $(cat "$T/last.err")"
"$DRFS" snapshots "$ATK" --no-encryption --cache-dir "$T/c-atk" >"$T/atk.list" ||
	fail "--no-encryption does not open an unencrypted repository"
grep -q "$T/atk-src" "$T/atk.list" || fail "the unencrypted repository's snapshot is not listed"
expect_clean_failure "--no-encryption on an encrypted repository" \
	"$DRFS" snapshots "$REPO" --no-encryption --cache-dir "$T/c-fresh6"
grep -q "is encrypted" "$T/last.err" || fail "--no-encryption on an encrypted repository: unclear error"

# ---- one cache directory, two repositories: refused, the cache kept -------------
expect_clean_failure "another repository's cache" \
	"$DRFS" snapshots "$ATK" --no-encryption --cache-dir "$CACHE"
grep -q "cache directory \"$CACHE\" belongs to repository $id" "$T/last.err" ||
	fail "the cache's owner is not named: $(cat "$T/last.err")"
drfs snapshots "$REPO" >"$T/list2"
diff "$T/list" "$T/list2" >&2 || fail "the victim's cache changed"
info "ok"
