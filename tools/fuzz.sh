#!/bin/bash
# fuzz.sh — build the fuzz targets of tests/fuzz/ with libFuzzer and run each.
#
# Usage: tools/fuzz.sh [-t SECONDS] [-j JOBS] [-b BUILD_DIR] [TARGET...]
#   SECONDS   per target (default 60, or $DRFS_FUZZ_SECONDS)
#   TARGET    keyfile config seal pack tree snapshot indexobj s3xml lock
#             policy (default: every tests/fuzz/fuzz_*.c)
#
# The library is built with clang -fsanitize=fuzzer-no-link,address,undefined
# in BUILD_DIR (default /tmp/drfs-fuzz-build, separate from the normal
# build), each target with -fsanitize=fuzzer,address,undefined. New inputs go
# to BUILD_DIR/corpus/<target> (the checked-in tests/fuzz/corpus/<target> is
# read, never written); crashes to BUILD_DIR/crashes/<target>/. Exit 1 if
# any target crashed. DRFS_FUZZ_STRICT=1 makes the re-encoding properties
# strict about non-canonical (over-long) varints. DRFS_FUZZ_CFLAGS is added
# to every compile (e.g. -fno-sanitize=pointer-overflow to look past a known
# report); BUILD_DIR is reconfigured when it changes.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
SECONDS_PER=${DRFS_FUZZ_SECONDS:-60}
BUILD=/tmp/drfs-fuzz-build
JOBS=1
while getopts t:j:b: o; do
	case $o in
	t) SECONDS_PER=$OPTARG ;;
	j) JOBS=$OPTARG ;;
	b) BUILD=$OPTARG ;;
	*) sed -n '2,15p' "$0" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
if [ $# -eq 0 ]; then
	set -- $(cd "$SRC/tests/fuzz" && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//')
fi

command -v clang >/dev/null || { echo "fuzz.sh: clang not found" >&2; exit 2; }
SAN=address,undefined
EXTRA=${DRFS_FUZZ_CFLAGS:-}
FLAGS="-fsanitize=fuzzer-no-link,$SAN -fno-sanitize-recover=undefined -g $EXTRA"
mkdir -p "$BUILD"
if [ ! -f "$BUILD/lib/build.ninja" ] ||
	[ "$(cat "$BUILD/flags" 2>/dev/null)" != "$FLAGS" ]; then
	rm -rf "$BUILD/lib"
	CC=clang meson setup "$BUILD/lib" "$SRC" --buildtype=debugoptimized \
		-Db_lundef=false -Dc_args="$FLAGS" \
		-Dc_link_args="-fsanitize=$SAN" >/dev/null
	echo "$FLAGS" >"$BUILD/flags"
fi
# the tree may be mid-edit: one retry
ninja -C "$BUILD/lib" libdrfs.a >/dev/null || ninja -C "$BUILD/lib" libdrfs.a >/dev/null

LIBS="$(pkg-config --libs libcrypto libzstd lmdb libcurl expat fuse3) -lpthread"
mkdir -p "$BUILD/bin"
for t in "$@"; do
	clang -std=gnu11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 \
		-DFUSE_USE_VERSION=312 -g -O1 \
		-fsanitize=fuzzer,$SAN -fno-sanitize-recover=undefined $EXTRA \
		-I"$SRC/include" -I"$SRC/src/cli" "$SRC/tests/fuzz/fuzz_$t.c" \
		"$BUILD/lib/libdrfs.a" $LIBS -o "$BUILD/bin/fuzz_$t"
done

par=()
[ "$JOBS" -gt 1 ] && par=(-jobs="$JOBS" -workers="$JOBS")
cd "$BUILD" # libFuzzer writes fuzz-N.log here with -jobs
failed=
for t in "$@"; do
	mkdir -p "$BUILD/corpus/$t" "$BUILD/crashes/$t"
	echo "fuzz.sh: $t for ${SECONDS_PER}s" >&2
	if ! "$BUILD/bin/fuzz_$t" -max_total_time="$SECONDS_PER" \
		"${par[@]}" -timeout=10 -rss_limit_mb=4096 \
		-max_len=1048576 -print_final_stats=1 \
		-artifact_prefix="$BUILD/crashes/$t/" \
		"$BUILD/corpus/$t" "$SRC/tests/fuzz/corpus/$t" \
		>"$BUILD/$t.log" 2>&1; then
		echo "fuzz.sh: $t: CRASH, see $BUILD/$t.log and" \
			"$BUILD/crashes/$t/" >&2
		failed="$failed $t"
	else
		grep -E '^stat::number_of_executed_units|^stat::new_units_added' \
			"$BUILD/$t.log" | sed "s/^/fuzz.sh: $t: /" >&2 || true
	fi
done
if [ -n "$failed" ]; then
	echo "fuzz.sh: crashed:$failed" >&2
	exit 1
fi
echo "fuzz.sh: no crashes" >&2
