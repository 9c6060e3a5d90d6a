#!/bin/bash
# mount --metrics-listen (docs/monitoring.md): GET /metrics answers the
# Prometheus text of drfs metrics, parsed by prometheus_client; 404, 405,
# 400 for the rest; a client that sends nothing blocks neither other
# clients nor the unmount; garbage never crashes the daemon; a port in use
# fails the mount with a message; a bad address is a usage error.
source "$(dirname "$0")/lib.sh"
need_pyprom
make_repo
drfs init "$REPO" >/dev/null
src=$T/src
mkdir -p "$src"
seeded_bytes "$SEED" 123457 >"$src/a"
drfs backup "$REPO" "$src" --time 2026-04-01T10:00:00Z >/dev/null
M=$T/mnt
PORT=$(free_port)

# bad addresses: usage errors, nothing mounted
for bad in 0 70000 "x:1" "127.0.0.1:" "[::1]" "1.2.3.4:-1"; do
	rc=0
	"$DRFS" mount "$REPO" "$M" --cache-dir "$CACHE" --metrics-listen "$bad" \
		>/dev/null 2>"$T/err" || rc=$?
	[ "$rc" = 2 ] && grep -q "invalid --metrics-listen" "$T/err" ||
		fail "--metrics-listen '$bad': exit $rc: $(cat "$T/err")"
	mountpoint -q "$M" && fail "mounted with --metrics-listen '$bad'"
done

mount_repo "$M" --metrics-listen "127.0.0.1:$PORT"
pid=$(daemon_pid "$M")

# a port in use: the second mount fails, saying why
mkdir -p "$T/m2"
rc=0
"$DRFS" mount "$REPO" "$T/m2" --cache-dir "$(fresh_cache)" \
	--metrics-listen "$PORT" >/dev/null 2>"$T/err" || rc=$?
[ "$rc" != 0 ] && grep -q "metrics-listen.*$PORT" "$T/err" ||
	fail "a second mount on a used port: exit $rc: $(cat "$T/err")"
mountpoint -q "$T/m2" && fail "mounted although the port is in use"

# the scrape, with silent clients holding connections open meanwhile
$PYPROM - "$PORT" "$M" <<'PY' || fail "the HTTP endpoint: see above"
import json, os, socket, subprocess, sys, time
from prometheus_client.parser import text_string_to_metric_families
port, mnt = int(sys.argv[1]), sys.argv[2]

def ask(raw, timeout=10):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(raw)
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0].decode(), head.decode(), body

# silent clients: connected, sending nothing
silent = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]
slow = socket.create_connection(("127.0.0.1", port))
slow.sendall(b"GET /metr")   # half a request, never finished
t0 = time.monotonic()
status, head, body = ask(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
assert time.monotonic() - t0 < 5, "a scrape waited for the silent clients"
assert status == "HTTP/1.0 200 OK", status
assert "text/plain; version=0.0.4" in head, head
assert ("Content-Length: %d" % len(body)) in head, head
m = {}
for fam in text_string_to_metric_families(body.decode()):
    for s in fam.samples:
        m[s.name] = s.value
assert m["drfs_snapshots"] == 1, m
assert m["drfs_last_snapshot_bytes"] == 123457, m
assert m["drfs_endpoint_up"] == 1, m
assert m["drfs_daemon_resident_memory_bytes"] > 0, m
# the same families as drfs metrics MOUNTPOINT
out = subprocess.run([os.environ["DRFS"], "metrics", mnt], check=True,
                     capture_output=True, text=True).stdout
names = lambda t: sorted(f.name for f in text_string_to_metric_families(t))
assert names(out) == names(body.decode()), (names(out), names(body.decode()))
# HTTP/1.1 with a query, a bare-LF head
assert ask(b"GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\n\r\n")[0].endswith("200 OK")
assert ask(b"GET /metrics HTTP/1.0\n\n")[0].endswith("200 OK")
# other paths, methods, garbage
assert ask(b"GET / HTTP/1.0\r\n\r\n")[0].endswith("404 Not Found")
assert ask(b"GET /metricsx HTTP/1.0\r\n\r\n")[0].endswith("404 Not Found")
assert ask(b"POST /metrics HTTP/1.0\r\n\r\n")[0].endswith("405 Method Not Allowed")
assert ask(b"\x00\xff garbage\r\n\r\n")[0].endswith("400 Bad Request")
assert ask(b"GET /metrics HTTP/2.0\r\n\r\n")[0].endswith("400 Bad Request")
assert ask(b"GET /" + b"a" * 300 + b" HTTP/1.0\r\n\r\n")[0].endswith("400 Bad Request")
# a head that never ends: cut at its bound with a 400
# (the rest unread: the close may reset the connection before the answer)
try:
    st = ask(b"GET /metrics HTTP/1.0\r\n" + b"X: y\r\n" * 2000)[0]
    assert st.endswith("400 Bad Request"), st
except ConnectionResetError:
    pass
# random bytes, then closed at once
for i in range(50):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(os.urandom(1 + i * 37))
    s.close()
# many connections at once (more than served at once): all refused or
# answered, never hung
socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(40)]
for s in socks:
    s.close()
# the silent ones are dropped after their deadline (5 s)
time.sleep(6)
for s in silent + [slow]:
    s.settimeout(5)
    assert s.recv(100) == b"", "a silent client was not dropped"
assert ask(b"GET /metrics HTTP/1.0\r\n\r\n")[0].endswith("200 OK")
print("metrics endpoint: ok")
PY
kill -0 "$pid" || fail "the daemon died"

# a silent client connected during the unmount does not hold it up
python3 -c 'import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
time.sleep(30)' "$PORT" &
sleeper=$!
sleep 0.5
t0=$(date +%s)
umount_repo "$M"
kill "$sleeper" 2>/dev/null || true
wait "$sleeper" 2>/dev/null || true
[ $(($(date +%s) - t0)) -lt 4 ] || fail "the unmount waited for a silent client"
for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "the daemon is still running"
grep -q "AddressSanitizer\|runtime error" "$CACHE"/mount-*.log &&
	fail "sanitizer report in the daemon's log: $(cat "$CACHE"/mount-*.log)"
# the port is free again
# (SO_REUSEADDR: connections in TIME_WAIT do not count, a listener would)
python3 -c 'import socket, sys; s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen()' "$PORT" ||
	fail "the port is still bound after the unmount"
info "ok"
