#!/usr/bin/env bash
# cli_mount_log: every line a mount daemon writes to its log file
# (CACHE/.../mount.log, shared by the mounts of one cache directory)
# starts with its time (RFC 3339, UTC, milliseconds) and the mountpoint.
. "$(dirname "$0")/lib.sh"
fuse_ok || skip "needs root and FUSE"

make_repo
drfs init "$REPO" >/dev/null 2>&1 || fail "init failed"
M=$T/mnt
before=$(date -u +%s)
mount_repo "$M"
echo x >"$M/now/x"
"$DRFS" snapshot "$M" >/dev/null || fail "snapshot failed"
umount_repo "$M"
log=$(find "$CACHE" -name mount.log | head -n 1)
[ -n "$log" ] && [ -s "$log" ] || fail "no mount.log under $CACHE"
grep -q . "$log" || fail "mount.log is empty"
bad=$(grep -vE "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z $M drfs: " "$log" || true)
[ -z "$bad" ] || { printf '%s\n' "$bad" >&2; fail "mount.log lines without time and mountpoint"; }
grep -q " $M drfs: mounted " "$log" || { cat "$log" >&2; fail "no \"mounted\" line"; }
first=$(head -1 "$log" | cut -c1-19)
t=$(date -u -d "${first/T/ }" +%s) || fail "the time \"$first\" does not parse"
[ "$t" -ge $((before - 1)) ] && [ "$t" -le $(($(date -u +%s) + 1)) ] ||
	fail "the first line's time $first is not when the mount ran"
info "$(wc -l <"$log") lines, e.g. \"$(head -1 "$log")\""
info "ok"
