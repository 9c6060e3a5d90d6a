#!/bin/bash
# lib.sh — sourced by every integration test (tests/integration/*.sh).
#
# Environment (set by tests/meson.build):
#   DRFS               path of the drfs binary under test
#   DRFS_TEST_BACKEND  local | s3
#   DRFS_TEST_S3_ENDPOINT  http://127.0.0.1:PORT of the test S3 server (s3
#                      only; tests/run-all.sh starts RadosGW and sets it,
#                      with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)
#   CI                 "true": a missing S3 server is a failure, not a skip
#   DRFS_TEST_SEED     seed for generated data (default: fixed per test)
#   DRFS_TEST_RGW_CONF ceph.conf of the test RadosGW (tests/run-all.sh sets
#                      it): radosgw-admin creates users for the least-
#                      privilege tests; without it those parts skip
#
# Provides: $T (private temp root, noatime, removed on exit), $TOOLS,
# $CACHE, $REPO (after make_repo), skip, fail, info, drfs, make_repo,
# s3_req, obj_names, obj_sizes, obj_get, obj_put, obj_del, obj_edit,
# obj_corrupt, obj_truncate, fuse_ok, fresh_cache, repo_bytes, realtree,
# seeded_bytes, run_nocrash, with_cache, no_removal_reported,
# expect_clean_failure, restored_is, hold, hold_wait, mount_repo,
# umount_repo, daemon_pid, kill9, check_repo, free_port, start_proxy,
# stop_proxy, mkedge, edge_rsync, make_two_repos, treecmp, fsmodel, bg_start,
# wait_line, s3py,
# need_rgw_admin, rgw_admin, rgw_user.

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	echo "lib.sh is sourced by the integration tests, not run" >&2
	exit 77
fi

set -Eeuo pipefail
# an unchecked command that fails ends the test: say which one
trap 'echo "${TEST_NAME:-test}: FAIL: line $LINENO: exit $?: $BASH_COMMAND" >&2' ERR

LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOOLS=$(cd "$LIB_DIR/../tools" && pwd)
TEST_NAME=$(basename "$0" .sh)

info() { printf '%s: %s\n' "$TEST_NAME" "$*" >&2; }
skip() { trap - ERR; printf '%s: SKIP: %s\n' "$TEST_NAME" "$*" >&2; exit 77; }
fail() { trap - ERR; printf '%s: FAIL: %s\n' "$TEST_NAME" "$*" >&2; exit 1; }

[ -n "${DRFS:-}" ] || fail "DRFS (path of the drfs binary) is not set"
[ -x "$DRFS" ] || fail "DRFS='$DRFS' is not an executable"
case "${DRFS_TEST_BACKEND:-}" in
local | s3) ;;
*) fail "DRFS_TEST_BACKEND must be local or s3, not '${DRFS_TEST_BACKEND:-}'" ;;
esac

# Mount points under $1, deepest first (mountinfo escapes space as \040).
_mounts_under() {
	local root=$1
	awk '{ print $5 }' /proc/self/mountinfo |
		while IFS= read -r m; do
			m=$(printf '%b' "${m//\\/\\0}")
			case "$m" in
			"$root" | "$root"/*) printf '%s\n' "$m" ;;
			esac
		done | sort -r
}

# _lib_cleanup [STATUS]: remove $T (unmounting what is under it) and exit
# with STATUS (default: $?). A test's own EXIT trap passes its saved status
# as the argument: restoring $? with `(exit $rc)` under set -e would end
# the trap right there, before the cleanup, whenever the test failed.
_lib_cleanup() {
	local rc=${1:-$?} m p i
	local -a mounts pids=()
	trap - ERR
	set +e
	stop_proxy
	# background helpers (proxies, fakes) started with bg_start, by PID
	for p in "${LIB_BG_PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${LIB_BG_PIDS[@]}"; do
		wait "$p" 2>/dev/null
	done
	# RadosGW users made by rgw_user
	for p in "${LIB_RGW_USERS[@]}"; do
		rgw_admin user rm --uid="$p" --purge-keys >/dev/null 2>&1
	done
	if [ -n "${T:-}" ] && [ -d "$T" ]; then
		mapfile -t mounts < <(_mounts_under "$T" | grep -vxF "$T")
		for m in "${mounts[@]}"; do
			# a drfs daemon still running (the test failed before
			# unmounting) goes on writing to its repository and cache
			# after a lazy unmount: wait for it before removing $T
			p=$(timeout 5 getfattr --only-values -n user.drfs.pid "$m" 2>/dev/null) &&
				[[ $p =~ ^[0-9]+$ ]] && pids+=("$p")
			fusermount3 -u -z "$m" 2>/dev/null || umount -l "$m"
		done
		for p in "${pids[@]}"; do
			for i in $(seq 1 300); do
				kill -0 "$p" 2>/dev/null || break
				[ "$i" = 200 ] && kill -TERM "$p" 2>/dev/null
				sleep 0.1
			done
			kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
		done
		[ "${DRFS_TEST_BACKEND:-}" = s3 ] && [ -s "$T/.tokens" ] &&
			[ -n "${DRFS_TEST_S3_ENDPOINT:-}" ] &&
			timeout 120 python3 "$TOOLS/s3purge.py" \
				"$DRFS_TEST_S3_ENDPOINT" "$T/.tokens" 2>/dev/null
		[ -n "${T_BOUND:-}" ] && umount -l "$T"
		if [ -n "$(_mounts_under "$T")" ]; then
			echo "$TEST_NAME: leaving $T: still mounted" >&2
		elif [ -n "${DRFS_TEST_KEEP:-}" ] && [ "$rc" != 0 ]; then
			echo "$TEST_NAME: kept $T (DRFS_TEST_KEEP)" >&2
		else
			rm -rf --one-file-system "$T"
		fi
	fi
	exit "$rc"
}

T=$(mktemp -d "${TMPDIR:-/tmp}/drfs-$TEST_NAME.XXXXXX")
trap _lib_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# A noatime mount over $T: reading a tree (backup, treecmp, readlink) must not
# change the atimes the test later compares. Needs root; harmless without.
# A tmpfs of its own where it can (user xattrs, ACLs, SEEK_DATA, O_DIRECT:
# kernel >= 6.6): creating and removing thousands of files costs a fraction
# of what it costs on the root file system (an ext4 without a journal here
# spends most of an `rm -rf` of a copied tree in its inode-reuse scan), and
# the cleanup is one unmount. size= is a cap, not a reservation; the
# sparse multi-GiB files of mkedge take only their data. DRFS_TEST_TMPFS=0
# keeps the bind mount (a test run on the disk file system).
T_BOUND=
if [ "$(id -u)" = 0 ] && [ "${DRFS_TEST_TMPFS:-1}" != 0 ] &&
	mount -t tmpfs -o noatime,mode=0700,size=8g drfs-test "$T" 2>/dev/null
then
	T_BOUND=1
elif [ "$(id -u)" = 0 ] && mount --bind "$T" "$T" 2>/dev/null; then
	T_BOUND=1
	mount -o remount,bind,noatime "$T" 2>/dev/null || true
fi

CACHE=$T/cache
export DRFS_PASSWORD="drfs test passphrase $$ 7e1f"
# new key files at scrypt N = 2^10, not 2^15 (testhook.h): every command
# opens its repository in milliseconds; cli_key checks the default
export DRFS_TEST_SCRYPT_LOG2N=${DRFS_TEST_SCRYPT_LOG2N-10}
unset DRFS_PASSWORD_FILE
# never ask a real instance metadata service for credentials; the tests
# of that provider point AWS_EC2_METADATA_SERVICE_ENDPOINT at a fake
export AWS_EC2_METADATA_DISABLED=true
LIB_BG_PIDS=()
LIB_RGW_USERS=()
export XDG_CACHE_HOME=$T/xdg-cache
# drfs records the repositories it meets in $XDG_CONFIG_HOME/drfs
export XDG_CONFIG_HOME=$T/xdg-config
SEED=${DRFS_TEST_SEED:-4242}

need_root() {
	[ "$(id -u)" = 0 ] || skip "needs root"
}

# fuse_ok — true when a mount can run here (root, /dev/fuse, fusermount3).
fuse_ok() {
	[ "$(id -u)" = 0 ] && [ -e /dev/fuse ] && command -v fusermount3 >/dev/null
}

# fresh_cache — a new, empty cache directory (under $T).
fresh_cache() { mktemp -d "$T/fresh.XXXXXX"; }

# drfs CMD ARGS... — the binary with this test's cache dir.
drfs() {
	local cmd=$1
	shift
	"$DRFS" "$cmd" --cache-dir "$CACHE" "$@"
}

# _rand_lower [N] — N random [a-z0-9]; remembered in $T/.tokens so that the
# cleanup deletes the test buckets named with it (tests/tools/s3purge.py)
_rand_lower() {
	local s
	s=$(tr -dc 'a-z0-9' </dev/urandom | head -c "${1:-10}" || true)
	printf '%s\n' "$s" >>"$T/.tokens"
	printf '%s' "$s"
}

# make_repo — sets REPO to a fresh, not yet initialised repository.
make_repo() {
	case "$DRFS_TEST_BACKEND" in
	local)
		REPO=$T/repo
		;;
	s3)
		if [ -z "${DRFS_TEST_S3_ENDPOINT:-}" ]; then
			[ "${CI:-}" = true ] &&
				fail "CI=true but DRFS_TEST_S3_ENDPOINT is not set"
			skip "DRFS_TEST_S3_ENDPOINT not set (run tests/run-all.sh)"
		fi
		export AWS_ENDPOINT_URL_S3=$DRFS_TEST_S3_ENDPOINT
		export AWS_REGION=${AWS_REGION:-us-east-1}
		REPO="s3://drfs-test-$(_rand_lower 12)/"
		;;
	esac
}

# ---- objects of $REPO behind drfs's back (an attacker, a lost object) ----
# s3_req METHOD URL [CURL ARGS...] — a request signed for the test S3 server
s3_req() {
	local m=$1 u=$2
	shift 2
	curl -sS -f --aws-sigv4 "aws:amz:${AWS_REGION:-us-east-1}:s3" \
		--user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
		-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -X "$m" "$u" "$@"
}
# _obj_url [NAME] — URL of the bucket (no NAME) or of object NAME of $REPO
_obj_url() {
	local b=${REPO#s3://} bucket prefix
	bucket=${b%%/*}
	prefix=${b#"$bucket"}
	prefix=${prefix#/}
	if [ $# = 0 ]; then
		printf '%s/%s' "$DRFS_TEST_S3_ENDPOINT" "$bucket"
	else
		printf '%s/%s/%s%s' "$DRFS_TEST_S3_ENDPOINT" "$bucket" "$prefix" "$1"
	fi
}
# obj_names PREFIX — names of $REPO's objects under PREFIX, one a line
obj_names() {
	case $REPO in
	s3://*)
		local b=${REPO#s3://} pre
		pre=${b#*/}
		[ "$pre" = "$b" ] && pre=
		s3_req GET "$(_obj_url)?list-type=2&prefix=$(printf %s "$pre$1" | sed 's|/|%2F|g')" >"$T/.list.xml"
		{ grep -o '<Key>[^<]*</Key>' "$T/.list.xml" || true; } |
			sed 's/<Key>//; s/<\/Key>//' | sed "s|^$pre||" | sort
		;;
	*)
		(cd "$REPO" && find . -type f ! -name '.tmp-*' | sed 's|^\./||' |
			grep "^$1" | sort) || true
		;;
	esac
}
# obj_get NAME FILE / obj_put NAME FILE / obj_del NAME — raw object access
obj_get() {
	case $REPO in
	s3://*) s3_req GET "$(_obj_url "$1")" -o "$2" ;;
	*) cp "$REPO/$1" "$2" ;;
	esac
}
obj_put() {
	case $REPO in
	s3://*) s3_req PUT "$(_obj_url "$1")" --data-binary @"$2" >/dev/null ;;
	*) mkdir -p "$(dirname "$REPO/$1")" && cp "$2" "$REPO/$1" ;;
	esac
}
obj_del() {
	case $REPO in
	s3://*) s3_req DELETE "$(_obj_url "$1")" >/dev/null ;;
	*) rm "$REPO/$1" ;;
	esac
}

# obj_sizes PREFIX — "SIZE NAME" of each of $REPO's objects under PREFIX
obj_sizes() {
	case $REPO in
	s3://*)
		local b=${REPO#s3://} pre
		pre=${b#*/}
		[ "$pre" = "$b" ] && pre=
		s3_req GET "$(_obj_url)?list-type=2&prefix=$(printf %s "$pre$1" | sed 's|/|%2F|g')" |
			python3 -c 'import re, sys
for k, s in re.findall(r"<Key>([^<]*)</Key>.*?<Size>(\d+)</Size>", sys.stdin.read(), re.S):
    print(s, k[len(sys.argv[1]):])' "$pre" | sort -k 2
		;;
	*)
		(cd "$REPO" && find . -type f ! -name '.tmp-*' -printf '%s %P\n' |
			grep " $1" | sort -k 2) || true
		;;
	esac
}
# obj_edit NAME PYTHON — rewrite an object of $REPO in place: PYTHON is an
# expression of b (its bytes, a bytearray) giving the new bytes.
obj_edit() {
	local f=$T/.obj-edit
	obj_get "$1" "$f"
	python3 -c 'import sys
b = bytearray(open(sys.argv[1], "rb").read())
b = eval(sys.argv[2])
open(sys.argv[1], "wb").write(b)' "$f" "$2"
	obj_put "$1" "$f"
	rm -f "$f"
}
# obj_corrupt NAME [NUM DEN] — flip two bytes of an object of $REPO, at
# NUM/DEN of its length (default: the middle)
obj_corrupt() {
	local at="len(b) * ${2:-1} // ${3:-2}"
	obj_edit "$1" "b[:$at] + bytes([b[$at] ^ 0x5a, b[$at + 1] ^ 0xa5]) + b[$at + 2:]"
}
# obj_truncate NAME — keep the first half of an object of $REPO
obj_truncate() { obj_edit "$1" 'b[:len(b) // 2]'; }

# make_two_repos — two repositories, $RA and $RB: two buckets on S3, two
# directories on the local backend (make_repo gives one path there).
make_two_repos() {
	make_repo
	RA=$REPO
	make_repo
	RB=$REPO
	[ "$RA" != "$RB" ] || RB=$T/repo-b
	[ "$DRFS_TEST_BACKEND" != local ] || RA=$T/repo-a
}

# repo_bytes — total stored bytes of the repository.
repo_bytes() {
	case "$DRFS_TEST_BACKEND" in
	local)
		[ -d "$REPO" ] || fail "repository directory '$REPO' does not exist"
		find "$REPO" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'
		;;
	s3)
		drfs stats "$REPO" --json | json_field repo_bytes
		;;
	esac
}

# json_field KEY — read a JSON object on stdin, print KEY's value.
json_field() {
	python3 -c 'import json, sys
v = json.load(sys.stdin)[sys.argv[1]]
print(v if not isinstance(v, (dict, list)) else json.dumps(v))' "$1"
}

# realtree — a real tree from this machine (files, symlinks, many dirs).
realtree() {
	local d
	for d in /usr/share/doc /usr/share/common-licenses /etc; do
		[ -d "$d" ] && { echo "$d"; return 0; }
	done
	fail "no real tree found"
}

# seeded_bytes SEED COUNT — reproducible pseudo-random bytes on stdout.
seeded_bytes() {
	head -c "$2" /dev/zero |
		openssl enc -aes-128-ctr -nosalt -K "$(printf '%032x' "$1")" \
			-iv 00000000000000000000000000000000
}

mkedge() { bash "$TOOLS/mkedge.sh" "$@"; }

# edge_rsync RSYNC-OPTIONS... SRC/ DST/ — rsync a tree made by mkedge (SRC
# its root) into DST, except mkedge's two multi-GiB sparse files, sparse/2g
# and sparse/5g: rsync reads every byte of a hole (7 GiB, most of a minute
# under the sanitizers), so they go with `cp -a --sparse=always`, which
# reads only the data (SEEK_DATA), and only when size or mtime differ
# (rsync's quick check: a no-change run copies nothing); after such a copy
# rsync runs once more so that the directories' times are rsync's. The rest,
# holes of the smaller sparse files included, goes through rsync; --delete
# does not remove the two excluded files.
edge_rsync() {
	local n=$# f copied=
	local src=${*: -2:1} dst=${*: -1}
	local opts=("${@:1:n-2}" --exclude=/sparse/2g --exclude=/sparse/5g)
	rsync "${opts[@]}" "$src" "$dst"
	for f in sparse/2g sparse/5g; do
		[ -f "$src/$f" ] || continue
		[ "$(stat -c '%s %Y' "$src/$f")" = \
		  "$(stat -c '%s %Y' "$dst/$f" 2>/dev/null)" ] && continue
		cp -a --sparse=always "$src/$f" "$dst/$f"
		copied=1
	done
	[ -z "$copied" ] || rsync "${opts[@]}" "$src" "$dst"
}
treecmp() { python3 "$TOOLS/treecmp.py" "$@"; }
fsmodel() { python3 "$TOOLS/fsmodel.py" "$@"; }

# sanitizer_report FILE — true if FILE holds a sanitizer or crash report.
sanitizer_report() {
	grep -E -q 'ERROR: (Address|Leak|Memory|Thread)Sanitizer|runtime error:|SUMMARY: [A-Za-z]+Sanitizer|Segmentation fault|core dumped' "$1"
}

# run_nocrash WHAT CMD... — run CMD; fail the test if it crashed (signal,
# exit >= 128, sanitizer report). Sets RC; output in $T/last.out, last.err.
run_nocrash() {
	local what=$1
	shift
	RC=0
	"$@" >"$T/last.out" 2>"$T/last.err" || RC=$?
	if sanitizer_report "$T/last.err" || [ "$RC" -ge 128 ]; then
		cat "$T/last.err" >&2
		fail "$what: crashed (exit $RC)"
	fi
	if [ "$RC" != 0 ] && [ ! -s "$T/last.err" ]; then
		fail "$what: failed (exit $RC) without a message on stderr"
	fi
	return 0
}

# with_cache CACHEDIR CMD ARGS... — run_nocrash "drfs CMD $REPO ARGS" with
# that cache directory (another host's view, or an empty cache)
with_cache() {
	local c=$1 cmd=$2
	shift 2
	run_nocrash "$cmd (cache $(basename "$c"))" "$DRFS" "$cmd" "$REPO" \
		--cache-dir "$c" "$@"
}

# no_removal_reported WHAT — the last run_nocrash succeeded and said nothing
# about snapshots gone without a forget record (docs/rollback.md)
no_removal_reported() {
	[ "$RC" = 0 ] || { cat "$T/last.err" >&2; fail "$1: exit $RC"; }
	if grep -E "vanished|missing without|refused|rolled back|forget record" \
		"$T/last.err" >&2; then
		fail "$1: reported a removal drfs made itself"
	fi
	return 0
}

# expect_clean_failure WHAT CMD... — CMD must fail (exit 1..127) with a
# message on stderr, without a crash or sanitizer report.
expect_clean_failure() {
	local what=$1
	shift
	run_nocrash "$what" "$@"
	[ "$RC" != 0 ] || fail "$what: succeeded, expected a failure"
	info "$what: exit $RC: $(head -n 3 "$T/last.err" | tr '\n' ' ')"
}

# restored_is SNAPSHOT DIR [CACHE] — restoring SNAPSHOT of $REPO (with the
# cache directory CACHE, default $CACHE) gives the contents of DIR.
restored_is() {
	local out
	out=$(mktemp -d "$T/restore.XXXXXX")
	rmdir "$out"
	"$DRFS" restore "$REPO" "$1" "$out" --cache-dir "${3:-$CACHE}" -q ||
		fail "restore of $1 failed"
	diff -r "$2" "$out" >&2 || fail "$1 does not restore $2"
	rm -rf "$out"
}

# hold SYSCALLS CMD ARGS... — run CMD in the background under strace, its
# first call of each of SYSCALLS (comma-separated) held 3 s on entry, and
# return once one is held: the test acts at exactly that moment (a writer
# racing drfs, made deterministic). With HOLD_PATH set, only calls on that
# path count; with HOLD_AT=exit they are held on exit, once done. Then
# hold_wait. Skips without strace.
hold() {
	local sys=$1 i
	local -a only=()
	shift
	command -v strace >/dev/null || skip "strace is not installed"
	[ -z "${HOLD_PATH:-}" ] || only=(-P "$HOLD_PATH")
	: >"$T/hold.log"
	# LeakSanitizer cannot run under ptrace
	ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 \
	strace -f -qq -o "$T/hold.log" "${only[@]}" -e trace="$sys" \
		-e inject="$sys":delay_"${HOLD_AT:-enter}"=3000000:when=1 \
		"$@" >"$T/last.out" 2>"$T/last.err" &
	HOLD_PID=$!
	for i in $(seq 1 600); do
		grep -qE "^[0-9]+ +(${sys//,/|})\(" "$T/hold.log" && return 0
		kill -0 "$HOLD_PID" 2>/dev/null || break
		sleep 0.05
	done
	cat "$T/last.err" >&2
	fail "$1 $2: no ${sys//,/ or } call was held"
}
# hold_wait WHAT — wait for the command hold started; then as run_nocrash.
hold_wait() {
	RC=0
	wait "$HOLD_PID" || RC=$?
	if sanitizer_report "$T/last.err" || [ "$RC" -ge 128 ]; then
		cat "$T/last.err" >&2
		fail "$1: crashed (exit $RC)"
	fi
	return 0
}

# mount_repo MNT [OPTS...] — mount $REPO on MNT, wait until it is mounted.
mount_repo() {
	local mnt=$1 pid rc
	shift
	mkdir -p "$mnt"
	"$DRFS" mount "$REPO" "$mnt" --cache-dir "$CACHE" "$@" \
		>"$T/mount.out" 2>"$T/mount.err" &
	pid=$!
	for _ in $(seq 1 100); do
		mountpoint -q "$mnt" && return 0
		if ! kill -0 "$pid" 2>/dev/null; then
			rc=0
			wait "$pid" || rc=$?
			if [ "$rc" != 0 ]; then
				cat "$T/mount.err" >&2
				fail "drfs mount exited $rc"
			fi
			pid=0	# daemonized: keep polling the mount
		fi
		sleep 0.1
	done
	cat "$T/mount.err" >&2
	fail "'$mnt' not mounted after 10 s"
}

# umount_repo MNT — drfs umount, falling back to a lazy fusermount3.
umount_repo() {
	local mnt=$1
	"$DRFS" umount "$mnt" ||
		{ info "drfs umount failed; fusermount3 -u -z"; fusermount3 -u -z "$mnt"; }
	for _ in $(seq 1 50); do
		mountpoint -q "$mnt" || return 0
		sleep 0.1
	done
	fail "'$mnt' still mounted"
}

# daemon_pid MNT — the pid of the daemon serving MNT.
daemon_pid() {
	getfattr --only-values -n user.drfs.pid "$1" 2>/dev/null
}

# kill9 MNT — kill -9 the daemon serving MNT, wait until it is gone,
# detach its mount.
kill9() {
	local mnt=$1 pid
	pid=$(daemon_pid "$mnt") || fail "cannot read the daemon's pid"
	kill -9 "$pid"
	for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$pid" 2>/dev/null && fail "the daemon survived kill -9"
	fusermount3 -u -z "$mnt" 2>/dev/null || umount -l "$mnt"
}

# check_repo [WHY] — drfs check --read-data of $REPO must be clean.
check_repo() {
	drfs check "$REPO" --read-data >"$T/check" 2>&1 ||
		{ cat "$T/check" >&2; fail "drfs check --read-data${1:+ ($1)}"; }
}

# need_pyprom — PYPROM: Debian's python (the package's, whatever python3 is
# first in PATH) with prometheus_client, or fail.
need_pyprom() {
	PYPROM=/usr/bin/python3
	$PYPROM -c 'import prometheus_client.parser' 2>/dev/null ||
		fail "python3-prometheus-client is not installed (tests/run-all.sh installs it)"
}

# free_port — a TCP port on 127.0.0.1 nothing listens on now.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_proxy LOG ENV... — tests/s3/faultproxy.js between drfs and the S3
# server, with the FI_* settings in ENV; sets PROXY_PORT and PROXY_PID.
# stop_proxy stops it (by its pid; also done on exit).
PROXY_PID=
start_proxy() {
	local log=$1 up=${DRFS_TEST_S3_ENDPOINT##*:}
	shift
	up=${up%%/*}
	command -v node >/dev/null || fail "node is needed for the fault proxy"
	PROXY_PORT=$(free_port)
	env "$@" FI_LIFETIME_S=600 node "$LIB_DIR/../s3/faultproxy.js" \
		"$PROXY_PORT" "$up" 2>"$log" &
	PROXY_PID=$!
	for _ in $(seq 1 50); do
		grep -q faultproxy "$log" 2>/dev/null && return 0
		sleep 0.1
	done
	fail "fault proxy did not start: $(cat "$log")"
}
stop_proxy() {
	[ -n "${PROXY_PID:-}" ] || return 0
	kill -TERM "$PROXY_PID" 2>/dev/null || true
	wait "$PROXY_PID" 2>/dev/null || true
	PROXY_PID=
}

# bg_start CMD... — run CMD in the background, stopped by its PID when the
# test ends (_lib_cleanup); sets BG_PID.
bg_start() {
	"$@" &
	BG_PID=$!
	LIB_BG_PIDS+=("$BG_PID")
}

# wait_line FILE PATTERN WHAT — until FILE has a line matching PATTERN
# (10 s), else fail naming WHAT.
wait_line() {
	for _ in $(seq 1 100); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	fail "$3 did not start: $(tail -n 5 "$1" 2>/dev/null)"
}

# s3py CODE [ARGS...] — python with s3 = a boto3 client of the test server
# (the current AWS_* credentials), datetime, json, sys imported.
s3py() {
	python3 -c "
import boto3, datetime, json, sys
from botocore.config import Config
s3 = boto3.client('s3', endpoint_url='$DRFS_TEST_S3_ENDPOINT',
    region_name='${AWS_REGION:-us-east-1}',
    config=Config(retries={'max_attempts': 3}))
$1" "${@:2}"
}

# need_rgw_admin — skip (fail in CI) unless radosgw-admin can manage the
# test server's users.
need_rgw_admin() {
	if [ -z "${DRFS_TEST_RGW_CONF:-}" ] || ! command -v radosgw-admin >/dev/null ||
		! rgw_admin user list >/dev/null 2>&1; then
		[ "${CI:-}" = true ] &&
			fail "CI=true but radosgw-admin cannot reach the test server (DRFS_TEST_RGW_CONF)"
		skip "DRFS_TEST_RGW_CONF not set or radosgw-admin unusable (run tests/run-all.sh)"
	fi
}

rgw_admin() { timeout 60 radosgw-admin -c "$DRFS_TEST_RGW_CONF" "$@"; }

# rgw_user NAME — create RadosGW user drfs-t-<rand>-NAME (removed at the
# end); sets RGW_UID, RGW_AK, RGW_SK. Users cannot create buckets.
rgw_user() {
	RGW_UID="drfs-t-$(_rand_lower 8)-$1"
	RGW_AK="AK$(_rand_lower 16 | tr a-z A-Z)"
	RGW_SK="$(_rand_lower 40)"
	rgw_admin user create --uid="$RGW_UID" --display-name="$RGW_UID" \
		--access-key="$RGW_AK" --secret="$RGW_SK" --max-buckets=-1 \
		>/dev/null || fail "radosgw-admin user create $RGW_UID failed"
	LIB_RGW_USERS+=("$RGW_UID")
}
