#!/usr/bin/env bash
# cli_notify: drfs mount -f speaks systemd's readiness protocol itself
# (Type=notify without libsystemd): with $NOTIFY_SOCKET set it sends
# READY=1 only once the mountpoint is mounted (checked the moment the
# datagram arrives), and STOPPING=1 when it is unmounted; the abstract
# namespace ("@name") works as a path does.
. "$(dirname "$0")/lib.sh"
fuse_ok || skip "needs root and FUSE"

make_repo
drfs init "$REPO" >/dev/null 2>&1 || fail "init failed"
M=$T/mnt
mkdir -p "$M"

# listen SOCKET — receive datagrams on SOCKET; on READY=1 note whether $M
# is mounted at that moment; stop after STOPPING=1 (or 60 s)
listen() {
	python3 - "$1" "$M" >"$T/notify.log" 2>&1 <<'PY' &
import os, socket, subprocess, sys
path, mnt = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind('\0' + path[1:] if path.startswith('@') else path)
s.settimeout(60)
print('listening', flush=True)
while True:
    try:
        d = s.recv(4096).decode()
    except socket.timeout:
        print('timeout', flush=True)
        break
    lines = d.split('\n')
    if 'READY=1' in lines:
        m = subprocess.run(['mountpoint', '-q', mnt]).returncode == 0
        print('READY mounted=%s' % m, flush=True)
    if 'STOPPING=1' in lines:
        print('STOPPING', flush=True)
        break
PY
	LPID=$!
	for _ in $(seq 50); do grep -q listening "$T/notify.log" && return; sleep 0.1; done
	fail "the listener did not start"
}

for sock in "$T/notify.sock" "@drfs-test-notify-$$"; do
	: >"$T/notify.log"
	listen "$sock"
	NOTIFY_SOCKET=$sock "$DRFS" mount "$REPO" "$M" -f --cache-dir "$CACHE" \
		>"$T/mount.out" 2>"$T/mount.err" &
	MPID=$!
	for _ in $(seq 100); do grep -q READY "$T/notify.log" && break; sleep 0.1; done
	grep -qx "READY mounted=True" "$T/notify.log" ||
		{ cat "$T/notify.log" "$T/mount.err" >&2; fail "$sock: no READY=1, or it came before the mount"; }
	echo hello >"$M/now/x" || fail "the mount does not work"
	umount_repo "$M"
	wait "$MPID" || true
	wait "$LPID" || true
	grep -qx STOPPING "$T/notify.log" ||
		{ cat "$T/notify.log" >&2; fail "$sock: no STOPPING=1 at the unmount"; }
	info "$sock: READY=1 once mounted, STOPPING=1 at the unmount"
done
info "ok"
