#!/bin/bash
# Secrets out of the environment, memory and core dumps (docs/security.md):
#  - the mount daemon's /proc/PID/environ (and cmdline) holds no passphrase
#    given in DRFS_PASSWORD, and neither does a running drfs backup's;
#  - no copy of the passphrase (given with --password-file) is anywhere in
#    the memory of a serving mount daemon, nor of a drfs backup that is past
#    opening the repository (read through /proc/PID/mem: tests/tools/
#    memscan.py); with a build without ASan, gcore of the daemon too;
#  - the daemon killed with SIGABRT, with core dumps enabled and
#    core_pattern pointing at a file, leaves no core (or none with the
#    passphrase). A control process shows that the setup does dump.
# The passphrase comes from a file where memory is searched: an ASan build
# keeps its own copy of the environment it started with (sanitizer
# runtime, not drfs).
source "$(dirname "$0")/lib.sh"
need_root
[ -c /dev/fuse ] && command -v fusermount3 >/dev/null || skip "no FUSE"
make_repo
PASS=$DRFS_PASSWORD
printf '%s\n' "$PASS" >"$T/pass"
chmod 600 "$T/pass"
scan() { MEMSCAN_NEEDLE=$PASS python3 "$TOOLS/memscan.py" "$1"; }
daemon_pid() { getfattr --only-values -n user.drfs.pid "$1" 2>/dev/null; }
# mount_repo with the passphrase from the file only
mount_pwfile() { (unset DRFS_PASSWORD; mount_repo "$@" --password-file "$T/pass") ||
	fail "mount with --password-file failed"; }

mkdir -p "$T/src"
seeded_bytes "$SEED" 2000000 >"$T/src/data"
drfs init "$REPO" >/dev/null
drfs backup "$REPO" "$T/src" >/dev/null

# ---- the daemon's environment and command line ----------------------------------
mount_repo "$T/mnt"
pid=$(daemon_pid "$T/mnt")
grep -qaF "$PASS" "/proc/$pid/environ" &&
	fail "the daemon's /proc/$pid/environ holds the passphrase"
grep -qaF "$PASS" "/proc/$pid/cmdline" && fail "the daemon's command line holds the passphrase"
umount_repo "$T/mnt"
info "DRFS_PASSWORD is not in the daemon's environment"

# ---- the daemon's memory ------------------------------------------------------------
mount_pwfile "$T/mnt"
pid=$(daemon_pid "$T/mnt")
cmp "$T/src/data" "$T/mnt/latest/data" || fail "the mount serves other bytes"
cp "$T/src/data" "$T/mnt/now/copy"
snap=$(drfs snapshot "$T/mnt") || fail "snapshot failed"
cmp "$T/src/data" "$snap/copy" || fail "the snapshot holds other bytes"
scan "$pid" || fail "the mount daemon's memory holds the passphrase (above)"
if ldd "$DRFS" | grep -q libasan; then
	info "gcore skipped: the core of an ASan process is tens of GB (its shadow); memscan read the same memory"
elif command -v gcore >/dev/null; then
	(ulimit -f $((4 << 20)); gcore -o "$T/gcore" "$pid" >/dev/null 2>&1) ||
		fail "gcore of the daemon failed"
	grep -qaF "$PASS" "$T/gcore.$pid" && fail "gcore of the daemon holds the passphrase"
	rm -f "$T/gcore.$pid"
	info "gcore of the daemon: no passphrase"
fi
umount_repo "$T/mnt"
info "no passphrase in the daemon's memory"

# ---- a drfs backup past opening the repository ------------------------------------
# DRFS_TEST_LOCK_SLEEP holds the backup for a while once it has its lock
has_lock() { [ -n "$(obj_names locks/)" ]; }
cli_held() { # ENV... : start a backup held after its open; sets pid
	env "$@" DRFS_TEST_LOCK_SLEEP=6 "$DRFS" backup "$REPO" "$T/src" \
		--cache-dir "$CACHE" >/dev/null 2>"$T/held.err" &
	pid=$!
	for _ in $(seq 1 100); do
		has_lock && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	cat "$T/held.err" >&2
	fail "the held backup did not get its lock"
}
cli_held -u DRFS_PASSWORD DRFS_PASSWORD_FILE="$T/pass"
scan "$pid" || fail "a running drfs backup keeps the passphrase (above)"
wait "$pid" || fail "the held backup failed: $(cat "$T/held.err")"
cli_held DRFS_PASSWORD="$PASS"
grep -qaF "$PASS" "/proc/$pid/environ" &&
	fail "a running drfs backup has the passphrase in /proc/$pid/environ"
wait "$pid" || fail "the held backup failed: $(cat "$T/held.err")"
info "no passphrase in a running backup's memory or environment"

# ---- a core dump of the daemon -----------------------------------------------------
# core_pattern is the machine's: one test at a time changes it (the local
# and s3 variants run in parallel), and it is put back on any exit
CP=/proc/sys/kernel/core_pattern
exec 9>/tmp/drfs-test-core_pattern.lock
flock 9
CORE_SAVED=$(cat "$CP")
CORE_LIMIT=$(ulimit -c)
restore_core() {
	[ -n "${CORE_SAVED:-}" ] && printf '%s\n' "$CORE_SAVED" >"$CP"
	CORE_SAVED=
	ulimit -c "$CORE_LIMIT" 2>/dev/null || true
}
trap 'rc=$?; restore_core; _lib_cleanup "$rc"' EXIT
mkdir -p "$T/cores"
printf '%s\n' "$T/cores/core.%p" >"$CP" 2>/dev/null ||
	{ CORE_SAVED=; skip "cannot set $CP"; }
ulimit -c $((1 << 20)) # KiB: a core that should not exist may not fill the disk
# the setup does dump: a control process killed the same way
{ bash -c 'kill -ABRT $$'; } 2>/dev/null || true
ls "$T/cores"/core.* >/dev/null 2>&1 ||
	{ restore_core; skip "no core dumps here ($CP, suid_dumpable $(cat /proc/sys/fs/suid_dumpable))"; }
rm -f "$T/cores"/core.*
# ASan turns core dumps off unless told otherwise
ASAN_OPTIONS="${ASAN_OPTIONS:-}:disable_coredump=0" mount_pwfile "$T/mnt" 9>&-
pid=$(daemon_pid "$T/mnt")
ls "$T/mnt/latest/" >/dev/null
kill -ABRT "$pid"
for _ in $(seq 1 100); do
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$pid" 2>/dev/null && fail "the daemon survived SIGABRT"
restore_core
"$DRFS" umount "$T/mnt" 2>/dev/null || true # the stale mount
for core in "$T/cores"/core.*; do
	[ -e "$core" ] || continue
	grep -qaF "$PASS" "$core" && fail "the daemon's core dump $core holds the passphrase"
	info "note: a core was written ($core), without the passphrase"
done
info "ok"
