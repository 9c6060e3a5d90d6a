#!/bin/bash
# Snapshot folder names are fixed when a snapshot is committed and never
# change or repeat (docs/hosts.md, docs/format.md §8.1). Several writers of
# one repository are simulated by one cache directory each:
# - two backups in the same second print different names, and each printed
#   name restores that snapshot's own data once both are listed, from
#   every cache (before, the later commit could take the bare name and push
#   the first to ".1", so a saved name restored the other's data);
# - two mounts snapshotting in the same second likewise;
# - four backups racing for one second get four names;
# - a writer killed (like kill -9) between claiming its name and writing
#   its snapshot leaves that name unused for good;
# - (local) snapshots written before names were recorded (payload version
#   1, made here by rewriting objects of an unencrypted repository) keep
#   their derived names, a new snapshot takes none of them, and forgetting
#   one claims the names its second showed.
source "$(dirname "$0")/lib.sh"
need_root
[ -e /dev/fuse ] || skip "no /dev/fuse"
make_repo
drfs init "$REPO" >/dev/null

mkdir -p "$T/a" "$T/b"
echo "writer a's data" >"$T/a/file"
echo "writer b's data" >"$T/b/file"

# ---- same second, two caches --------------------------------------------------
# the second commit is earlier within the second
n1=$("$DRFS" backup "$REPO" "$T/a" --cache-dir "$T/c1" \
	--time 2026-03-04T10:29:29.5Z -q | tail -n 1)
n2=$("$DRFS" backup "$REPO" "$T/b" --cache-dir "$T/c2" \
	--time 2026-03-04T10:29:29.2Z -q | tail -n 1)
info "same second: printed $n1 and $n2"
[ "$n1" = 2026-03-04/102929 ] || fail "first backup printed '$n1'"
[ "$n2" != "$n1" ] || fail "both backups printed $n1"
for c in "$T/c1" "$T/c2" "$T/c-fresh"; do
	"$DRFS" snapshots "$REPO" --cache-dir "$c" >"$T/list"
	[ "$(grep -c '^2026-03-04/102929' "$T/list")" = 2 ] ||
		fail "listing from $c: $(cat "$T/list")"
	restored_is "$n1" "$T/a" "$c"
	restored_is "$n2" "$T/b" "$c"
done

# ---- same second, two mounts --------------------------------------------------
M1=$T/m1
M2=$T/m2
CACHE=$T/mc1 mount_repo "$M1" --no-snapshot-on-unmount
CACHE=$T/mc2 mount_repo "$M2" --no-snapshot-on-unmount
echo "mount 1" >"$M1/now/who"
echo "mount 2" >"$M2/now/who"
s1=$(drfs snapshot "$M1" --time 2026-03-04T10:40:00.7Z)
s2=$(drfs snapshot "$M2" --time 2026-03-04T10:40:00.1Z)
s1=${s1#"$M1/snapshots/"}
s2=${s2#"$M2/snapshots/"}
info "mounts in the same second: printed $s1 and $s2"
[ "$s1" != "$s2" ] || fail "both mounts printed $s1"
[ "$(cat "$M1/snapshots/$s1/who")" = "mount 1" ] || fail "mount 1: $s1 is not its snapshot"
umount_repo "$M1"
umount_repo "$M2"
mkdir -p "$T/w1" "$T/w2"
echo "mount 1" >"$T/w1/who"
echo "mount 2" >"$T/w2/who"
restored_is "$s1" "$T/w1" "$T/c-fresh"
restored_is "$s2" "$T/w2" "$T/c-fresh"

# ---- four writers racing for one second ----------------------------------------
pids=()
for i in 1 2 3 4; do
	mkdir -p "$T/race$i"
	echo "racer $i" >"$T/race$i/file"
	"$DRFS" backup "$REPO" "$T/race$i" --cache-dir "$T/cr$i" \
		--time 2026-03-04T11:00:00Z -q >"$T/race$i.out" 2>"$T/race$i.err" &
	pids+=($!)
done
for i in 1 2 3 4; do
	wait "${pids[$((i - 1))]}" ||
		fail "racing backup $i failed: $(cat "$T/race$i.err")"
done
names=$(for i in 1 2 3 4; do tail -n 1 "$T/race$i.out"; done)
info "racing: $(echo $names)"
[ "$(sort -u <<<"$names" | wc -l)" = 4 ] || fail "racing backups printed: $names"
for i in 1 2 3 4; do
	restored_is "$(tail -n 1 "$T/race$i.out")" "$T/race$i" "$T/c-fresh"
done

# ---- killed between the claim and the snapshot: the name stays unused ------
rc=0
DRFS_TEST_CRASH_AT=claimed "$DRFS" backup "$REPO" "$T/a" --cache-dir "$T/c1" \
	--time 2026-03-04T12:00:00Z -q >/dev/null 2>"$T/crash.err" || rc=$?
[ "$rc" = 137 ] || fail "backup with DRFS_TEST_CRASH_AT=claimed exited $rc"
n=$("$DRFS" backup "$REPO" "$T/b" --cache-dir "$T/c1" \
	--time 2026-03-04T12:00:00Z -q | tail -n 1)
[ "$n" = 2026-03-04/120000.1 ] || fail "after a crash at the claim: '$n'"
"$DRFS" snapshots "$REPO" --cache-dir "$T/c-fresh" >"$T/list"
grep -q '^2026-03-04/120000 ' "$T/list" && fail "a snapshot shows the dead writer's name"
restored_is "$n" "$T/b" "$T/c-fresh"
run_nocrash "check after a crash at the claim" \
	"$DRFS" check "$REPO" --cache-dir "$T/c-fresh"
[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "check failed"; }

# ---- snapshots written before names were recorded (local) ---------------------
if [ "$DRFS_TEST_BACKEND" = local ]; then
	L=$T/legacy
	LC=$T/legacy-cache
	"$DRFS" init "$L" --no-encryption --cache-dir "$LC" >/dev/null
	lb() {
		"$DRFS" backup "$L" "$1" --no-encryption --cache-dir "$LC" \
			--time "$2" -q | tail -n 1
	}
	lsnaps() {
		"$DRFS" snapshots "$L" --no-encryption --utc \
			--cache-dir "$T/legacy-fresh$1" | tail -n +2 |
			awk '{ print $1, $2 }'
	}
	mkdir -p "$T/x" "$T/y" "$T/z" "$T/w"
	for d in x y z w; do echo "$d" >"$T/$d/file"; done
	lb "$T/x" 2026-04-01T00:00:00Z >/dev/null
	lb "$T/y" 2026-04-01T00:00:00.5Z >/dev/null
	# rewrite both as version 1 (no recorded name), as an older drfs
	# wrote them: header | payload | SHA-256 (format.md §4, §8)
	python3 - "$L" <<'PY'
import hashlib, os, re, sys
d = os.path.join(sys.argv[1], 'snapshots')
for n in os.listdir(d):
    b = open(os.path.join(d, n), 'rb').read()
    head, payload = b[:8], b[8:-32]
    assert head == b'DRFS\x04\x01\x00\x00' and payload[0] in (2, 3), n
    if payload[0] == 3:
        # version 3 ends in the duration (a uvarint): version 2 without it
        i = len(payload) - 1
        while payload[i - 1] & 0x80:
            i -= 1
        payload = b'\x02' + payload[1:i]
    for l in range(17, 23):
        if payload[-l - 1] == l and re.fullmatch(
                rb'\d{4}-\d\d-\d\d/\d{6}(\.\d+)?', payload[-l:]):
            break
    else:
        sys.exit('no name found in ' + n)
    v1 = b'\x01' + payload[1:-l - 1]
    obj = head + v1 + hashlib.sha256(head + v1).digest()
    os.remove(os.path.join(d, n))
    open(os.path.join(d, hashlib.sha256(obj).hexdigest()), 'wb').write(obj)
PY
	lsnaps 1 >"$T/l1"
	[ "$(awk '{ print $1 }' "$T/l1" | tr '\n' ' ')" = \
		"2026-04-01/000000 2026-04-01/000000.1 " ] ||
		fail "version 1 snapshots: $(cat "$T/l1")"
	idx=$(awk '$1 == "2026-04-01/000000" { print $2 }' "$T/l1")
	idy=$(awk '$1 == "2026-04-01/000000.1" { print $2 }' "$T/l1")
	# a new snapshot between them in time takes neither shown name
	rm -rf "$LC"
	nz=$(lb "$T/z" 2026-04-01T00:00:00.2Z)
	[ "$nz" = 2026-04-01/000000.2 ] ||
		fail "new snapshot next to version 1 ones: '$nz'"
	lsnaps 2 >"$T/l2"
	grep -q "^2026-04-01/000000 $idx\$" "$T/l2" &&
		grep -q "^2026-04-01/000000.1 $idy\$" "$T/l2" ||
		fail "version 1 names changed: $(cat "$T/l2")"
	# forget the first: the names of its second are claimed; the other
	# version 1 snapshot shifts to the bare name (its name is derived),
	# but no new snapshot gets a name either of them had
	"$DRFS" forget "$L" 2026-04-01/000000 --no-encryption \
		--cache-dir "$LC" -q
	nw=$(lb "$T/w" 2026-04-01T00:00:00.7Z)
	[ "$nw" = 2026-04-01/000000.3 ] ||
		fail "after forgetting a version 1 snapshot: '$nw'"
	lsnaps 3 >"$T/l3"
	grep -q "^2026-04-01/000000 $idy\$" "$T/l3" &&
		[ "$(wc -l <"$T/l3")" = 3 ] ||
		fail "after the forget: $(cat "$T/l3")"
fi
info "ok"
