#!/bin/bash
# SPDX-License-Identifier: MIT
# run-all.sh — install what the tests need, build drfs with ASan+UBSan,
# start a private RadosGW, run every test, print a one-line summary.
#
# Usage: bash tests/run-all.sh [MESON TEST ARGS...]   e.g. --suite unit
#
# Meant for a fresh Debian bookworm machine as root, no terminal needed.
# Environment:
#   DRFS_BUILD_DIR   build directory (default: <source>/build/ci)
#   DRFS_TEST_NO_S3  1: do not start RadosGW; the s3 tests skip (not in CI)
#   DRFS_TEST_SEED   seed for generated data and fuzz mutations
#   DRFS_TEST_JOBS   tests run at a time (default 3)
#   CI               true: a server that does not come up is a failure
# The last line of output is always "N passed, N failed" (skipped tests are
# counted on the line before it).
# Exit status 0 only if nothing failed and at least one test ran.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${DRFS_BUILD_DIR:-$SRC/build/ci}
export CI=${CI:-}

say() { printf 'run-all: %s\n' "$*"; }
# die MSG — setup failed: explain, print a failing summary, exit 1.
die() {
	printf 'run-all: %s\n' "$*" >&2
	echo "0 passed, 1 failed"
	exit 1
}

# --- packages -------------------------------------------------------------
PACKAGES=(
	gcc libc6-dev meson ninja-build pkg-config	# build
	libfuse3-dev liblmdb-dev libzstd-dev libcurl4-openssl-dev libssl-dev
	libexpat1-dev
	clang libclang-rt-14-dev	# fuzz targets (tools/fuzz.sh)
	fuse3 util-linux procps	# fusermount3, mountpoint, findmnt; ps
	rsync acl attr openssl python3 coreutils findutils strace	# test tools
	nodejs	# tests/s3 fault proxy
	radosgw ceph-mon ceph-osd ceph-common uuid-runtime curl ca-certificates
	python3-boto3	# an independent S3 client: Object Lock buckets, retention
	python3-prometheus-client	# tests/integration/monitor.sh: a real text-format parser
	systemd	# systemd-analyze verify of the installed units (cli_install)
	zsh	# zsh -n and a run of the installed zsh completion (cli_install)
)
missing=()
for p in "${PACKAGES[@]}"; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
		grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -gt 0 ]; then
	[ "$(id -u)" = 0 ] ||
		die "missing packages and not root: ${missing[*]}"
	say "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/tmp/drfs-apt.$$.log 2>&1 ||
		{ tail -n 20 /tmp/drfs-apt.$$.log >&2; rm -f /tmp/drfs-apt.$$.log;
		  die "apt-get update failed"; }
	apt-get install -y -q --no-install-recommends "${missing[@]}" \
		>/tmp/drfs-apt.$$.log 2>&1 ||
		{ tail -n 30 /tmp/drfs-apt.$$.log >&2; rm -f /tmp/drfs-apt.$$.log;
		  die "apt-get install failed"; }
	rm -f /tmp/drfs-apt.$$.log
else
	say "all ${#PACKAGES[@]} packages already installed"
fi

# --- cleanup of everything this run starts ----------------------------------
ROOT=$(mktemp -d /tmp/drfs-run-all.XXXXXX)
RGW_DIR=$ROOT/rgw
STARTED_PIDS=()

cleanup() {
	local rc=$? pid m alive
	set +e
	# FUSE mounts left under the test temp root, deepest first
	awk '{ print $5 }' /proc/self/mountinfo |
		while IFS= read -r m; do
			m=$(printf '%b' "${m//\\/\\0}")
			case "$m" in "$ROOT"/*) printf '%s\n' "$m" ;; esac
		done | sort -r |
		while IFS= read -r m; do
			fusermount3 -u -z "$m" 2>/dev/null || umount -l "$m"
		done
	# exactly the daemons we started, by PID
	for pid in "${STARTED_PIDS[@]}"; do
		kill "$pid" 2>/dev/null
	done
	for _ in $(seq 1 40); do
		alive=0
		for pid in "${STARTED_PIDS[@]}"; do
			kill -0 "$pid" 2>/dev/null && alive=1
		done
		[ $alive = 0 ] && break
		sleep 0.25
	done
	for pid in "${STARTED_PIDS[@]}"; do
		kill -9 "$pid" 2>/dev/null
	done
	rm -rf --one-file-system "$ROOT"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# record_rgw_pids — remember the daemons start-rgw.sh wrote to its run dir
record_rgw_pids() {
	local f pid
	for f in "$RGW_DIR"/run/*.pid; do
		[ -f "$f" ] || continue
		pid=$(cat "$f" 2>/dev/null || true)
		case $pid in '' | *[!0-9]*) continue ;; esac
		case " ${STARTED_PIDS[*]} " in *" $pid "*) ;; *) STARTED_PIDS+=("$pid") ;; esac
	done
}

# --- build ------------------------------------------------------------------
# shellcheck disable=SC2054 # the commas belong to the option values
SETUP_OPTS=(-Db_sanitize=address,undefined -Dc_args=-fno-sanitize-recover=all
	--werror)
if [ -f "$BUILD/meson-private/coredata.dat" ]; then
	# reconfigure so new test scripts are picked up
	meson setup --reconfigure "${SETUP_OPTS[@]}" "$BUILD" "$SRC" \
		>"$ROOT/setup.log" 2>&1 ||
		meson setup --wipe "${SETUP_OPTS[@]}" "$BUILD" "$SRC" \
			>"$ROOT/setup.log" 2>&1 ||
		{ tail -n 40 "$ROOT/setup.log"; die "meson setup failed"; }
else
	meson setup "${SETUP_OPTS[@]}" "$BUILD" "$SRC" >"$ROOT/setup.log" 2>&1 ||
		{ tail -n 40 "$ROOT/setup.log"; die "meson setup failed"; }
fi
say "building in $BUILD"
ninja -C "$BUILD" >"$ROOT/build.log" 2>&1 ||
	{ grep -E -B2 -A8 'error|FAILED' "$ROOT/build.log" | tail -n 80;
	  die "build failed"; }

# --- RadosGW ----------------------------------------------------------------
port_free() {
	python3 - "$1" <<'PY'
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
PY
}

rgw_logs() {
	echo "--- start-rgw output"
	tail -n 30 "$ROOT/rgw.out" 2>/dev/null
	local f
	for f in "$RGW_DIR"/log/*.log; do
		[ -f "$f" ] || continue
		echo "--- $f"
		tail -n 20 "$f"
	done
}

if [ "${DRFS_TEST_NO_S3:-}" = 1 ] && [ "$CI" != true ]; then
	say "DRFS_TEST_NO_S3=1: no S3 server; the s3 tests will skip"
	unset DRFS_TEST_S3_ENDPOINT
else
	PORT=
	for _ in $(seq 1 100); do
		p=$((20000 + RANDOM % 20000))
		if port_free "$p" && port_free $((p + 1)); then
			PORT=$p
			break
		fi
	done
	[ -n "$PORT" ] || die "no free port pair in 20000-40000"
	AWS_ACCESS_KEY_ID="drfs$(tr -dc 'A-Z0-9' </dev/urandom | head -c 16 || true)"
	AWS_SECRET_ACCESS_KEY=$(tr -dc 'A-Za-z0-9' </dev/urandom | head -c 40 || true)
	export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
	export AWS_REGION=us-east-1
	say "starting RadosGW on 127.0.0.1:$PORT (monitor $((PORT + 1)))"
	rc=0
	timeout 300 bash "$SRC/tests/s3/start-rgw.sh" "$RGW_DIR" "$PORT" \
		"$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" \
		>"$ROOT/rgw.out" 2>&1 || rc=$?
	record_rgw_pids
	if [ $rc != 0 ] || ! grep -q 'rgw ready' "$ROOT/rgw.out"; then
		rgw_logs >&2
		die "RadosGW did not start (exit $rc); set DRFS_TEST_NO_S3=1 outside CI to run without it"
	fi
	export DRFS_TEST_S3_ENDPOINT=http://127.0.0.1:$PORT
	# radosgw-admin on it: users for the least-privilege tests
	export DRFS_TEST_RGW_CONF=$RGW_DIR/ceph.conf
	say "RadosGW ready at $DRFS_TEST_S3_ENDPOINT (pids ${STARTED_PIDS[*]})"
fi

# --- tests ------------------------------------------------------------------
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:malloc_context_size=10
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export TMPDIR=$ROOT/tmp
mkdir -p "$TMPDIR"
if [ -z "${DRFS_TEST_SEED:-}" ]; then
	DRFS_TEST_SEED=$(( (RANDOM << 15) | RANDOM ))
fi
export DRFS_TEST_SEED
say "DRFS_TEST_SEED=$DRFS_TEST_SEED"

rm -f "$BUILD/meson-logs/testlog.json"
rc=0
# three at a time on two cores: the tests wait on mounts, uploads and
# kills for much of their time (two at a time kept the cores half idle)
meson test -C "$BUILD" --num-processes "${DRFS_TEST_JOBS:-3}" \
	--print-errorlogs "$@" || rc=$?

summary=$(python3 - "$BUILD/meson-logs/testlog.json" <<'PY'
import json, sys
passed = failed = skipped = 0
try:
    lines = open(sys.argv[1]).read().splitlines()
except OSError:
    lines = []
for line in lines:
    if not line.strip():
        continue
    r = json.loads(line).get("result", "")
    if r in ("OK", "EXPECTEDFAIL"):
        passed += 1
    elif r == "SKIP":
        skipped += 1
    else:   # FAIL, TIMEOUT, ERROR, UNEXPECTEDPASS, ...
        failed += 1
s = "%d passed, %d failed" % (passed, failed)
if skipped:
    s += ", %d skipped" % skipped
print(s)
PY
) || summary="0 passed, 1 failed"

set -- $summary
passed=$1 failed=$3 skipped=${5:-0}
if [ "$failed" = 0 ] && [ "$passed" -gt 0 ]; then
	status=0
else
	status=1
	[ "$passed" = 0 ] && [ "$failed" = 0 ] && say "no test ran (meson test exit $rc)"
fi
# The summary is the very last line: cleanup prints nothing on success.
trap - EXIT
cleanup_out=$( (cleanup) 2>&1 ) || true
[ -n "$cleanup_out" ] && printf '%s\n' "$cleanup_out"
[ "$skipped" != 0 ] && say "$skipped skipped (backend-specific tests; see docs/testing.md)"
echo "$passed passed, $failed failed"
exit "$status"
