#!/bin/bash
# mkedge.sh DIR — build the edge-case tree drfs must round-trip exactly.
#
# Must run as root (device nodes, foreign owners, trusted.* xattrs). DIR must
# not exist or be empty. The tree is reproducible: the same script gives the
# same names, bytes, modes, owners, xattrs and timestamps (DIR's own included)
# on every run, so two runs compare identical with tests/tools/treecmp.py.
# Random data comes from AES-CTR over zeros with a fixed key, not /dev/urandom.
#
# Contents (see docs/testing.md):
#   links/      hard links (3 names, 2 directories), symlinks of every kind
#   sparse/     2 GiB file with two data extents, 5 GiB file with data at the
#               4 GiB boundary and at the end, an allocated all-zero file
#   special/    FIFO, char and block device, unix socket
#   modes/      setuid, setgid, sticky, 0000, foreign uid/gid
#   xattr/      user.* (binary with NUL, empty, ~4 KiB), trusted.*, ACLs
#   names/      newline, invalid UTF-8, 255-byte name, spaces, dashes, ...
#   deep/       a 40-level directory chain
#   sizes/      0, 1, 4095, 4096, 4097, 1 MiB-1, 1 MiB, 1 MiB+1, 5 MiB
#   times/      nanosecond mtimes/atimes before 1970-01-02 and after 2100
set -euo pipefail

D=${1:?usage: mkedge.sh DIR}
[ "$(id -u)" = 0 ] || { echo "mkedge.sh: must run as root" >&2; exit 1; }
mkdir -p "$D"
if [ -n "$(ls -A "$D")" ]; then
	echo "mkedge.sh: '$D' is not empty" >&2
	exit 1
fi
D=$(cd "$D" && pwd)
chmod 0755 "$D"

# rnd SEED BYTES: reproducible pseudo-random bytes on stdout.
rnd() {
	head -c "$2" /dev/zero |
		openssl enc -aes-128-ctr -nosalt \
			-K "$(printf '%032x' "$1")" \
			-iv 00000000000000000000000000000000
}

# put FILE OFFSET SEED BYTES: write random bytes at OFFSET, keep the rest.
put() {
	rnd "$3" "$4" | dd of="$1" bs=4096 seek="$2" oflag=seek_bytes \
		conv=notrunc status=none
}

# stamp PATH MTIME ATIME: set times (no dereference) to the nanosecond.
stamp() {
	touch -h -m -d "$2" "$1"
	touch -h -a -d "$3" "$1"
}

T1='2021-03-04 05:06:07.123456789 UTC'
T2='2022-12-31 23:59:59.999999999 UTC'

# --- links --------------------------------------------------------------
mkdir -p "$D/links/a" "$D/links/b"
rnd 1 10000 >"$D/links/a/hard"
ln "$D/links/a/hard" "$D/links/b/hard-2"
ln "$D/links/a/hard" "$D/links/hard-3"
rnd 2 100 >"$D/links/target"
ln -s target "$D/links/rel"
ln -s ../sizes/1 "$D/links/rel-up"
ln -s /etc/passwd "$D/links/abs"
ln -s does/not/exist "$D/links/dangling"
ln -s ../deep "$D/links/to-dir"
ln -s "$(printf 'x%.0s' $(seq 1 200))/$(printf 'y%.0s' $(seq 1 200))" \
	"$D/links/long-target"
# hard-linked symlink pair and hard-linked empty file
ln -P "$D/links/rel" "$D/links/a/rel-hardlink"
: >"$D/links/empty-1"
ln "$D/links/empty-1" "$D/links/b/empty-2"

# --- sparse -------------------------------------------------------------
mkdir "$D/sparse"
truncate -s 2G "$D/sparse/2g"
put "$D/sparse/2g" $((1 << 20)) 3 4096
put "$D/sparse/2g" $((3 << 29)) 4 8192
truncate -s 5G "$D/sparse/5g"
put "$D/sparse/5g" $(((4 << 30) - 50)) 5 100
put "$D/sparse/5g" $(((5 << 30) - 4096)) 6 4096
truncate -s 100M "$D/sparse/hole-only"
# leading data then a trailing hole
put "$D/sparse/tail-hole" 0 7 4096
truncate -s 10M "$D/sparse/tail-hole"
# allocated zeros (not sparse in the source)
head -c $((2 << 20)) /dev/zero >"$D/sparse/zeros"

# --- special ------------------------------------------------------------
mkdir "$D/special"
mkfifo -m 0640 "$D/special/fifo"
mknod -m 0620 "$D/special/chr" c 1 3
mknod -m 0660 "$D/special/blk" b 7 200
python3 -c 'import os, socket, sys
os.chdir(sys.argv[1])
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind("sock")
s.close()' "$D/special"
chmod 0755 "$D/special/sock"

# --- modes and owners ---------------------------------------------------
mkdir "$D/modes"
for m in 4755 2755 6711 1777 0000 0444 0777 0600 4000; do
	rnd "$((100 + 10#$m))" 33 >"$D/modes/f$m"
done
mkdir "$D/modes/sticky" "$D/modes/setgid-dir" "$D/modes/d0000"
chown 12345:54321 "$D/modes/f4755" "$D/modes/f0000"
chown 65534:65534 "$D/modes/f2755"
chown 1234567:7654321 "$D/modes/f6711" "$D/modes/setgid-dir"
chown -h 4242:4343 "$D/links/rel"
chown 4294967294:4294967294 "$D/modes/f0444"
# chown clears set-id bits: chmod after chown
for m in 4755 2755 6711 1777 0000 0444 0777 0600 4000; do
	chmod "$m" "$D/modes/f$m"
done
chmod 1777 "$D/modes/sticky"
chmod 2775 "$D/modes/setgid-dir"
chmod 0000 "$D/modes/d0000"

# --- xattrs and ACLs ----------------------------------------------------
mkdir "$D/xattr"
rnd 8 500 >"$D/xattr/file"
setfattr -n user.plain -v "hello world" "$D/xattr/file"
setfattr -n user.binary -v 0x00ff0001020300feff00 "$D/xattr/file"
setfattr -n user.empty "$D/xattr/file"
setfattr -n trusted.drfs-test -v "root only" "$D/xattr/file"
big="0x$(rnd 9 4096 | od -An -tx1 -v | tr -d ' \n')"
# ext4 without ea_inode caps one value near 4 KiB: fall back to 4000 bytes
setfattr -n user.big -v "$big" "$D/xattr/big" 2>/dev/null ||
	{ : >"$D/xattr/big"; setfattr -n user.big -v "${big:0:8002}" "$D/xattr/big"; }
mkdir "$D/xattr/dir"
setfattr -n user.on-dir -v "dir value" "$D/xattr/dir"
rnd 10 64 >"$D/xattr/acl-file"
setfacl -m u:12345:rwx,g:54321:r-x,u:65534:r--,m::rwx "$D/xattr/acl-file"
mkdir "$D/xattr/acl-dir"
setfacl -m u:12345:rwx,m::rwx "$D/xattr/acl-dir"
setfacl -d -m u:12345:rwx,g:54321:rx,o::- "$D/xattr/acl-dir"
rnd 11 64 >"$D/xattr/acl-dir/inherited"
mkdir "$D/xattr/acl-dir/sub"

# --- names --------------------------------------------------------------
mkdir "$D/names"
for n in $'new\nline' $'\xff\xfe' $'caf\xc3\xa9' $'tab\there' ' lead space' \
	'trail space ' 'in between' '-leading-dash' '--' '-' '*' '?' '\back' \
	"quote'\"" '.hidden' '..dots' $'\x01ctrl' 'ünïcödé-日本'; do
	printf '%s' "$n" >"$D/names/$n"
done
long=$(printf 'L%.0s' $(seq 1 255))
printf 'long' >"$D/names/$long"
mkdir "$D/names/$(printf 'd%.0s' $(seq 1 255))"
mkdir "$D/names/"$'dir\nwith\nnewlines'

# --- deep ---------------------------------------------------------------
p="$D/deep"
for i in $(seq -w 1 40); do
	p="$p/level-$i"
done
mkdir -p "$p"
printf 'bottom\n' >"$p/bottom.txt"

# --- sizes --------------------------------------------------------------
mkdir "$D/sizes" "$D/empty-dir"
for s in 0 1 4095 4096 4097 $(((1 << 20) - 1)) $((1 << 20)) \
	$(((1 << 20) + 1)) $((5 << 20)); do
	rnd "$((1000 + s % 100000))" "$s" >"$D/sizes/$s"
done
# compressible text and a file that repeats one chunk-sized block
(set +o pipefail; yes 'drfs compressible line of text' | head -c $((3 << 20))) \
	>"$D/sizes/text"
{ rnd 12 $((1 << 20)); rnd 12 $((1 << 20)); rnd 12 $((1 << 20)); } \
	>"$D/sizes/repeated"

# --- times --------------------------------------------------------------
mkdir "$D/times"
for f in pre-epoch half-second post-2100 plain; do
	printf '%s\n' "$f" >"$D/times/$f"
done
stamp "$D/times/pre-epoch" '1969-12-31 23:59:59.123456789 UTC' \
	'1969-06-01 12:00:00.000000001 UTC'
stamp "$D/times/half-second" '1970-01-01 00:00:00.5 UTC' \
	'1970-01-01 00:00:01.999999999 UTC'
stamp "$D/times/post-2100" '2150-01-01 00:00:00.987654321 UTC' \
	'2199-12-31 23:59:59.000000001 UTC'
stamp "$D/times/plain" "$T1" "$T2"
ln -s plain "$D/times/link"
stamp "$D/times/link" '2001-02-03 04:05:06.070809101 UTC' \
	'2002-03-04 05:06:07.080910111 UTC'

# Every other non-directory gets fixed times; set-id bits survive touch.
# Then directories bottom-up, so a directory's times are set after its
# children stopped changing it.
find "$D" ! -type d ! -path "$D/times/*" -print0 |
	while IFS= read -r -d '' f; do
		stamp "$f" "$T1" "$T2"
	done
stamp "$D/times" '2150-06-01 00:00:00.000000007 UTC' "$T2"
find "$D" -depth -type d ! -path "$D/times" -print0 |
	while IFS= read -r -d '' f; do
		stamp "$f" '2020-02-29 12:34:56.789012345 UTC' "$T2"
	done
