#!/usr/bin/env bash
# cli_mount_log: each mount logs to its own file in the cache directory,
# mount-NAME.log, NAME the mountpoint as systemd-escape --path writes it;
# every line starts with its time (RFC 3339, UTC, milliseconds) and the
# mountpoint. Two mounts at different mountpoints with one cache directory
# (one after the other) write two files, each only its own lines.
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
log=$CACHE/mount-$(systemd-escape --path "$M").log
[ -s "$log" ] || { ls -l "$CACHE" >&2; fail "no $log"; }
[ -z "$(find "$CACHE" -name mount.log)" ] || fail "a shared mount.log was written"
bad=$(grep -vE "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z $M drfs: " "$log" || true)
[ -z "$bad" ] || { printf '%s\n' "$bad" >&2; fail "mount.log lines without time and mountpoint"; }
grep -q " $M drfs: mounted " "$log" || { cat "$log" >&2; fail "no \"mounted\" line"; }
first=$(head -1 "$log" | cut -c1-19)
t=$(date -u -d "${first/T/ }" +%s) || fail "the time \"$first\" does not parse"
[ "$t" -ge $((before - 1)) ] && [ "$t" -le $(($(date -u +%s) + 1)) ] ||
	fail "the first line's time $first is not when the mount ran"
info "$(wc -l <"$log") lines, e.g. \"$(head -1 "$log")\""

# another mountpoint (with a '-' to escape), the same cache: its own file
M2=$T/mnt-2.x
mount_repo "$M2"
umount_repo "$M2"
log2=$CACHE/mount-$(systemd-escape --path "$M2").log
[ -s "$log2" ] || { ls -l "$CACHE" >&2; fail "no $log2"; }
case $log2 in *'\x2d'*) ;; *) fail "\"$log2\": the '-' not escaped" ;; esac
grep -q " $M2 drfs: mounted " "$log2" || fail "no \"mounted\" line in $log2"
grep -v " $M2 drfs: " "$log2" && fail "$log2 has lines of another mount"
grep -v " $M drfs: " "$log" && fail "$log has lines of another mount"
[ "$(find "$CACHE" -maxdepth 1 -name 'mount-*.log' | wc -l)" = 2 ] ||
	fail "want 2 log files: $(ls "$CACHE")"
info "ok"
