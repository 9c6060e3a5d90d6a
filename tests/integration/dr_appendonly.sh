#!/bin/bash
# Least privilege: with credentials that may not delete (an S3 proxy in
# front of the server answers every DELETE and multi-object delete with
# 403 AccessDenied, as a backup-only IAM role does), a full backup cycle
# (init, two backups, snapshots, restore, check, drill) succeeds and sends
# no DELETE outside locks/ and no overwriting PUT; prune fails with a clear
# message. With read-only credentials (the proxy also refuses PUT and POST)
# a mount on an empty cache directory browses and reads every snapshot.
#
# local: skipped (a directory has no delete-only permission to take away);
# the s3 variant runs it.
source "$(dirname "$0")/lib.sh"
[ "$DRFS_TEST_BACKEND" = s3 ] ||
	skip "the delete-refusing proxy needs S3 (see the s3 variant)"
make_repo
command -v node >/dev/null || skip "node is not installed"

cat >"$T/deny.js" <<'JS'
// deny.js LISTEN UPSTREAM LOG [ro] — forward S3 requests, refuse deletes
// (403); with "ro" refuse every request but GET and HEAD
const http = require('http');
const fs = require('fs');
const [listen, upstream, logf, mode] = process.argv.slice(2);
const up = new URL(upstream);
const agent = new http.Agent({ keepAlive: true });
const server = http.createServer((req, res) => {
  const q = req.url.split('?')[1] || '';
  const isDelete = req.method === 'DELETE' ||
    (req.method === 'POST' && /(^|&)delete(=|&|$)/.test(q)) ||
    (mode === 'ro' && req.method !== 'GET' && req.method !== 'HEAD');
  fs.appendFileSync(logf, `${req.method} ${req.url}${isDelete ? ' DENIED' : ''}\n`);
  if (isDelete) {
    req.resume();
    const body = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>';
    res.writeHead(403, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
    return;
  }
  const u = http.request({ host: up.hostname, port: up.port, method: req.method,
    path: req.url, headers: req.headers, agent }, (ur) => {
    res.writeHead(ur.statusCode, ur.headers);
    ur.pipe(res);
  });
  u.on('error', () => req.socket.destroy());
  req.pipe(u);
});
server.listen(Number(listen), '127.0.0.1', () => fs.writeFileSync(logf + '.ready', 'ok'));
setTimeout(() => process.exit(0), 600 * 1000).unref();
JS
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
node "$T/deny.js" "$PORT" "$DRFS_TEST_S3_ENDPOINT" "$T/requests.log" 2>"$T/deny.err" &
PROXY=$!
_dr_cleanup() {
	local rc=$?
	trap - ERR
	kill "$PROXY" ${PROXY2:-} 2>/dev/null || true
	wait "$PROXY" ${PROXY2:-} 2>/dev/null || true
	_lib_cleanup "$rc"
}
trap _dr_cleanup EXIT
# wait_ready LOG ERRFILE WHAT: until the proxy writing LOG listens
wait_ready() {
	for _ in $(seq 1 50); do
		[ -f "$1.ready" ] && return 0
		sleep 0.1
	done
	fail "$3 did not start: $(cat "$2")"
}
wait_ready "$T/requests.log" "$T/deny.err" "deny proxy"
export AWS_ENDPOINT_URL_S3=http://127.0.0.1:$PORT

SRC=$T/src
mkdir -p "$SRC/d"
seeded_bytes "$SEED" $((2 << 20)) >"$SRC/big"
echo one >"$SRC/d/small"

# ---- a full backup cycle with no delete permission ---------------------------
drfs init "$REPO" >/dev/null
drfs backup "$REPO" "$SRC" >/dev/null 2>"$T/b1.err" || { cat "$T/b1.err" >&2; fail "backup 1 failed"; }
echo two >"$SRC/d/small"
drfs backup "$REPO" "$SRC" >/dev/null 2>"$T/b2.err" || { cat "$T/b2.err" >&2; fail "backup 2 failed"; }
drfs snapshots "$REPO" >/dev/null
drfs restore "$REPO" latest "$T/out" -q
treecmp "$SRC" "$T/out" >/dev/null || fail "restore differs"
drfs check "$REPO" --read-data -q || fail "check failed"
drfs drill "$REPO" -q >/dev/null || fail "drill failed"

denied=$(grep -c ' DENIED$' "$T/requests.log" || true)
# tolerated: releasing a lock object and the S3 backend's If-None-Match
# probe object (written create-only, never deleted)
bad=$(grep ' DENIED$' "$T/requests.log" |
	grep -v -E '/locks(/|%2F)|/\.drfs-inm-probe' || true)
[ -z "$bad" ] || fail "the backup path tried to delete: $bad"
info "backup cycle ok; refused deletes: $denied ($(grep ' DENIED$' "$T/requests.log" | grep -c '/locks/' || true) lock releases, $(grep ' DENIED$' "$T/requests.log" | grep -c 'inm-probe' || true) If-None-Match probes)"
# nothing overwritten: every object PUT at most once
dups=$(grep -E '^PUT /[^?]+/[^?]+' "$T/requests.log" |
	grep -v -E '/locks/|/\.drfs-inm-probe' |
	awk '{ print $2 }' | sort | uniq -d)
[ -z "$dups" ] || fail "objects written twice: $dups"

# ---- prune needs the delete permission and says so ---------------------------
run_nocrash "prune without delete permission" drfs prune "$REPO" --keep-last 1
[ "$RC" != 0 ] || fail "prune succeeded although deletes are refused"
grep -qiE 'delet|permission|denied|refused' "$T/last.err" ||
	fail "prune's refusal is not explained: $(cat "$T/last.err")"
info "prune: exit $RC: $(head -n 3 "$T/last.err" | tr '\n' ' ')"
# ---- read-only credentials: the mount browses and reads ----------------------
PORT2=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
node "$T/deny.js" "$PORT2" "$DRFS_TEST_S3_ENDPOINT" "$T/ro.log" ro 2>"$T/deny2.err" &
PROXY2=$!
wait_ready "$T/ro.log" "$T/deny2.err" "read-only proxy"
export AWS_ENDPOINT_URL_S3=http://127.0.0.1:$PORT2
CACHE=$T/ro-cache mount_repo "$T/mnt" --no-snapshot-on-unmount
[ "$(ls -d "$T/mnt"/snapshots/*/* | wc -l)" = 2 ] ||
	fail "read-only mount does not show the 2 snapshots"
treecmp --no-atime --ignore-root-times "$SRC" "$T/mnt/latest/" >&2 ||
	fail "read-only mount: latest differs from the source"
cmp "$SRC/big" "$(ls -d "$T/mnt"/snapshots/*/* | head -1)/big" ||
	fail "read-only mount: the first snapshot's big file differs"
umount_repo "$T/mnt"
grep -q ' DENIED$' "$T/ro.log" && info "read-only mount ok; refused: $(grep ' DENIED$' "$T/ro.log" | cut -d" " -f1,2 | tr "\n" " ")"
grep -qE '^GET ' "$T/ro.log" || fail "the read-only mount never went through the read-only proxy"
kill "$PROXY2" 2>/dev/null || true
echo "dr_appendonly: ok"
