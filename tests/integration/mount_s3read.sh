#!/bin/bash
# Copying out of a snapshot of a remote repository on an empty cache
# (issue 21; docs/mount.md, "Reading from S3"): `cp -a` out of the mount
# must fetch each byte of a pack once, in aligned segments, with the
# pack's next segment read ahead, and a corrupted object in a pack read
# that way must still be an I/O error on exactly the file whose data it
# holds, never wrong bytes, and never an error on its neighbours.
#
# s3: the mount talks to RadosGW through tests/s3/faultproxy.js, whose log
# (FI_LOG: method, key, Range, bytes sent) says what the daemon fetched.
# Checked: no two GETs of one pack overlap (the unaligned 4 MiB reads
# before this fetched the middle of a pack up to three times), the bytes
# fetched are at most the packs' size, `drfs status` reports segments read
# ahead and used, and the copy did not write the decoded chunks to the
# cache directory (the disk level takes a chunk at its second load, which
# reading a directory again after the kernel dropped it shows). local: the
# copy and the corrupted pack only (local reads do not go through segments
# and have no disk level).
source "$(dirname "$0")/lib.sh"
need_root
fuse_ok || skip "FUSE is not available"
make_repo
drfs init "$REPO" >/dev/null

# 600 incompressible files of 20-60 KiB in 6 directories (about 24 MiB:
# two packs, the first of four segments)
python3 - "$T/src" "$SEED" <<'EOF'
import os, random, sys
root, rnd = sys.argv[1], random.Random(int(sys.argv[2]))
for d in range(6):
    os.makedirs(f"{root}/d{d}")
    for i in range(100):
        with open(f"{root}/d{d}/f{i:03d}", "wb") as f:
            f.write(rnd.randbytes(rnd.randint(20 << 10, 60 << 10)))
EOF
drfs backup "$REPO" "$T/src" >/dev/null 2>"$T/backup.err" ||
	{ cat "$T/backup.err" >&2; fail "drfs backup failed"; }
mapfile -t PACKS < <(obj_names data/)
[ "${#PACKS[@]}" -ge 2 ] || fail "expected two packs or more, got ${#PACKS[@]}"
pack_bytes=$(obj_sizes data/ | awk '{ s += $1 } END { print s }')

MNT=$T/mnt
# mount_fresh LOG: a mount with a new, empty cache directory (through the
# proxy on s3, its requests in LOG)
mount_fresh() {
	local env=()
	if [ "$DRFS_TEST_BACKEND" = s3 ]; then
		stop_proxy
		start_proxy "$1.err" FI_LOG="$1"
		env=(AWS_ENDPOINT_URL_S3=http://127.0.0.1:$PROXY_PORT)
	fi
	MCACHE=$(fresh_cache)
	mkdir -p "$MNT"
	env "${env[@]}" "$DRFS" mount "$REPO" "$MNT" --cache-dir "$MCACHE" \
		>"$T/mount.out" 2>"$T/mount.err" ||
		{ cat "$T/mount.err" >&2; fail "drfs mount failed"; }
	SNAP=$(echo "$MNT"/snapshots/*/*)
	[ -d "$SNAP/d0" ] || fail "no snapshot in the mount"
}

# ---- a whole copy: every byte of a pack fetched once -----------------------
mount_fresh "$T/fi1.log"
: >"$T/fi1.log" # what the copy alone asks for
cp -a "$SNAP/." "$T/out1/"
cp "$T/fi1.log" "$T/fi1.cp.log" 2>/dev/null || true
treecmp --no-atime "$T/src" "$T/out1" || fail "the copy differs from the source"
status=$(getfattr --only-values -n user.drfs.status "$MNT")
if [ "$DRFS_TEST_BACKEND" = s3 ]; then
	# the disk level takes a chunk at its second load, not its first: the
	# copy wrote (almost) nothing there; reading d0 again once the kernel
	# and the daemon's memory (12 MiB) have dropped it fills it
	c1=$(du -sb "$MCACHE/chunks" | cut -f1)
	[ "$c1" -lt $((2 << 20)) ] ||
		fail "the copy wrote $c1 bytes of chunks to the cache directory"
	python3 -c 'import os, sys
for n in os.listdir(sys.argv[1]):
    fd = os.open(os.path.join(sys.argv[1], n), os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)' "$SNAP/d0"
	cat "$SNAP"/d0/* | cmp - <(cat "$T"/src/d0/*) ||
		fail "d0 read again differs"
	c2=$(du -sb "$MCACHE/chunks" | cut -f1)
	[ "$c2" -gt $((c1 + (2 << 20))) ] ||
		fail "reading d0 again did not fill the disk cache ($c1 -> $c2 bytes)"
fi
umount_repo "$MNT"
if [ "$DRFS_TEST_BACKEND" = s3 ]; then
	info "$(grep '^reads:' <<<"$status")"
	python3 - "$T/fi1.cp.log" "$pack_bytes" <<'EOF' || fail "GETs (above)"
import collections, json, sys
gets = [json.loads(l) for l in open(sys.argv[1])]
data = [g for g in gets if g["m"] == "GET" and g["key"].startswith("data/")]
got = sum(g["bytes"] for g in data)
print(f"{len(data)} GETs of data/, {got} bytes; the packs: {sys.argv[2]}",
      file=sys.stderr)
bad = False
if not data:
    print("no GET of data/ at all", file=sys.stderr)
    bad = True
ranges = collections.defaultdict(list)
for g in data:
    r = g["range"] or ""
    if not r.startswith("bytes=") or g["status"] != 206:
        print(f"not a range GET: {g}", file=sys.stderr)
        bad = True
        continue
    a = int(r[6:].split("-")[0])
    ranges[g["key"]].append((a, a + g["bytes"]))
for key, v in ranges.items():
    v.sort()
    for (a0, e0), (a1, e1) in zip(v, v[1:]):
        if a1 < e0:
            print(f"{key}: [{a0},{e0}) and [{a1},{e1}) overlap",
                  file=sys.stderr)
            bad = True
if got > int(sys.argv[2]):
    print(f"fetched {got} bytes, more than the packs hold", file=sys.stderr)
    bad = True
sys.exit(1 if bad else 0)
EOF
	[[ $status =~ read\ ahead\ \(([0-9]+)\ used\) ]] ||
		fail "drfs status has no read-ahead figures: $status"
	[ "${BASH_REMATCH[1]}" -ge 1 ] ||
		fail "no segment read ahead was used: $status"
else
	grep -q 'segment GETs' <<<"$status" &&
		fail "a local repository reports segment reads: $status"
fi

# ---- a corrupted pack: an error on exactly one file -----------------------
# the biggest pack, two bytes flipped at 5/8 of it (its third segment,
# which the copy reads ahead). Not its middle: a backup writes each
# directory's tree after its files, so d1's tree (100 files of ~40 KiB
# after d0's) sits near 8 MiB, the middle of a 16 MiB pack; a flip there
# made every file of d1 unreadable (seen once, 2026-12-07)
big=$(obj_sizes data/ | sort -n | tail -n 1 | cut -d' ' -f2)
obj_corrupt "$big" 5 8
mount_fresh "$T/fi2.log"
cp -a "$SNAP/." "$T/out2/" 2>"$T/cp2.err" &&
	fail "cp -a of a corrupted pack succeeded"
bad=()
while IFS= read -r f; do
	cmp -s "$T/src/$f" "$SNAP/$f" 2>/dev/null || bad+=("$f")
done < <(cd "$T/src" && find . -type f | sed 's|^\./||' | sort)
[ "${#bad[@]}" = 1 ] ||
	fail "expected one file that cannot be read, got ${#bad[@]}: ${bad[*]}"
info "the damaged file: ${bad[0]}"
if cat "$SNAP/${bad[0]}" >/dev/null 2>"$T/cat.err"; then
	fail "reading ${bad[0]} succeeded"
fi
grep -q 'Input/output error' "$T/cat.err" ||
	fail "reading ${bad[0]}: not an I/O error: $(cat "$T/cat.err")"
grep -q "${bad[0]}" "$T/cp2.err" ||
	fail "cp did not name ${bad[0]}: $(cat "$T/cp2.err")"
n=$(grep -c 'Input/output error' "$T/cp2.err" || true)
[ "$n" = 1 ] || fail "cp met $n I/O errors: $(cat "$T/cp2.err")"
# everything but that file was copied exactly (cp leaves a partial copy)
diff -r -q "$T/src" "$T/out2" >"$T/diff2" || true
[ "$(wc -l <"$T/diff2")" = 1 ] && grep -q "${bad[0]} differ" "$T/diff2" ||
	fail "the copy differs beyond the damaged file: $(cat "$T/diff2")"
grep -q "${bad[0]}" "$MCACHE"/mount-*.log ||
	fail "the daemon's log does not name ${bad[0]}"
umount_repo "$MNT"
info "ok"
