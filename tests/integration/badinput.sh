#!/bin/bash
# Bad input gets a clear message and a non-zero exit, never a crash:
# wrong passphrase; a flipped byte in a pack (check --read-data names the
# pack; restore names the damaged files and restores all others exactly);
# truncated index/, snapshots/ and keys/ objects; garbage in config.
# The corruption part edits objects in place: local backend only.
source "$(dirname "$0")/lib.sh"
make_repo
drfs init "$REPO"

MiB=$((1 << 20))
mkdir -p "$T/src/files"
for i in 1 2 3 4 5 6 7 8; do
	seeded_bytes $((SEED + i)) $((4 * MiB)) >"$T/src/files/big-$i"
done
for i in $(seq 1 20); do
	printf 'small file %d\n' "$i" >"$T/src/files/small-$i"
done
snap=$(drfs backup "$REPO" "$T/src" | tail -n 1)

# --- wrong passphrase ----------------------------------------------------
good=$DRFS_PASSWORD
bad="wrong passphrase 0d15ea5e"
check_passphrase_error() {
	local what=$1 n
	n=$(grep -c . "$T/last.err" || true)
	[ "$n" = 1 ] || { cat "$T/last.err" >&2;
		fail "$what: want one line on stderr, got $n"; }
	grep -qiE 'passphrase|password' "$T/last.err" ||
		fail "$what: message does not mention the passphrase: $(cat "$T/last.err")"
	if grep -qF -e "$good" -e "$bad" "$T/last.out" "$T/last.err"; then
		fail "$what: output contains a passphrase"
	fi
}
for cache in "$CACHE" "$T/other-cache"; do
	DRFS_PASSWORD=$bad expect_clean_failure "wrong passphrase (cache $cache)" \
		"$DRFS" snapshots "$REPO" --cache-dir "$cache"
	check_passphrase_error "wrong passphrase"
done
printf '%s\n' "$bad" >"$T/bad.pass"
printf '%s\n' "$good" >"$T/good.pass"
(
	unset DRFS_PASSWORD
	expect_clean_failure "wrong --password-file" \
		drfs restore "$REPO" "$snap" "$T/nope" --password-file "$T/bad.pass"
	check_passphrase_error "wrong --password-file"
	DRFS_PASSWORD_FILE=$T/bad.pass expect_clean_failure \
		"wrong DRFS_PASSWORD_FILE" drfs check "$REPO"
	check_passphrase_error "wrong DRFS_PASSWORD_FILE"
	drfs snapshots "$REPO" --password-file "$T/good.pass" >/dev/null ||
		fail "right --password-file refused"
)

[ "$DRFS_TEST_BACKEND" = local ] ||
	skip "passphrase part passed; corruption part needs the local backend"

cp -a "$REPO" "$T/pristine"

# --- one flipped byte in the middle of the largest pack -----------------
[ -d "$REPO/data" ] || fail "no data/ directory in $REPO"
pack=$(find "$REPO/data" -type f -printf '%s %p\n' | sort -n | tail -n 1 |
	cut -d ' ' -f 2-)
[ -n "$pack" ] || fail "no pack under $REPO/data"
packid=$(basename "$pack")
python3 - "$pack" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
off = os.fstat(fd).st_size // 2
b = os.pread(fd, 1, off)
os.pwrite(fd, bytes([b[0] ^ 0x40]), off)
os.close(fd)
PY
info "flipped one byte in pack $packid"

expect_clean_failure "check --read-data of a damaged pack" \
	drfs check "$REPO" --read-data
grep -qF "$packid" "$T/last.out" "$T/last.err" ||
	fail "check --read-data does not name pack $packid: $(cat "$T/last.out" "$T/last.err")"

expect_clean_failure "restore from a damaged pack" \
	drfs restore "$REPO" "$snap" "$T/out"
cp "$T/last.err" "$T/restore.err"
excl=()
damaged=0
for f in "$T"/src/files/*; do
	rel=files/$(basename "$f")
	if ! cmp -s "$f" "$T/out/$rel"; then
		damaged=$((damaged + 1))
		# a failed file may be removed after its directory's times
		# were set: the directory's times are not compared
		excl+=(--exclude "$rel" --ignore-times files)
		grep -qF "$rel" "$T/restore.err" ||
			fail "restore does not name damaged file $rel: $(cat "$T/restore.err")"
	fi
done
[ "$damaged" -ge 1 ] ||
	fail "restore failed (exit $RC) but every file came back intact"
info "restore named $damaged damaged file(s); comparing the rest"
treecmp --ignore-root-times "${excl[@]}" "$T/src" "$T/out" ||
	fail "files outside the damaged pack were not restored identically"

# --- damaged metadata objects, each in a fresh copy, with a fresh cache ---
reset_repo() {
	rm -rf "$REPO"
	cp -a "$T/pristine" "$REPO"
	CACHE=$T/cache-$1
}
first_object() {
	find "$REPO/$1" -type f | sort | head -n 1
}
truncate_half() {
	local f=$1
	[ -n "$f" ] || fail "nothing to truncate"
	truncate -s $(($(stat -c %s "$f") / 2)) "$f"
	info "truncated ${f#"$REPO"/}"
}

reset_repo index
truncate_half "$(first_object index)"
expect_clean_failure "check with a truncated index object" drfs check "$REPO"
run_nocrash "snapshots with a truncated index object" drfs snapshots "$REPO"
run_nocrash "restore with a truncated index object" \
	drfs restore "$REPO" "$snap" "$T/out-index"

reset_repo snapshot
truncate_half "$(first_object snapshots)"
expect_clean_failure "check with a truncated snapshot" drfs check "$REPO"
run_nocrash "snapshots with a truncated snapshot" drfs snapshots "$REPO"
expect_clean_failure "restore of a truncated snapshot" \
	drfs restore "$REPO" latest "$T/out-snap"

reset_repo keys
truncate_half "$(first_object keys)"
expect_clean_failure "snapshots with a truncated key" drfs snapshots "$REPO"

for kind in text random empty; do
	reset_repo "config-$kind"
	case $kind in
	text) printf 'this is not a drfs config\n' >"$REPO/config" ;;
	random) seeded_bytes "$SEED" 4096 >"$REPO/config" ;;
	empty) : >"$REPO/config" ;;
	esac
	expect_clean_failure "snapshots with $kind config" drfs snapshots "$REPO"
	grep -qi config "$T/last.err" ||
		fail "$kind config: message does not name the config: $(cat "$T/last.err")"
	expect_clean_failure "check with $kind config" drfs check "$REPO"
	expect_clean_failure "restore with $kind config" \
		drfs restore "$REPO" latest "$T/out-config-$kind"
	expect_clean_failure "backup with $kind config" \
		drfs backup "$REPO" "$T/src/files"
done

expect_clean_failure "a repository that does not exist" \
	drfs snapshots "$T/no-such-repo"
info ok
