#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// Adapted for drfs from the project's testing notes; owned by tests/s3.
// Dependency-free fault-injecting HTTP reverse proxy for S3 tests (loopback only).
// Usage: node faultproxy.js LISTEN_PORT UPSTREAM_PORT   with env knobs:
//   FI_DELAY_MS=200     added latency before forwarding each request
//   FI_JITTER_MS=0      + uniform random jitter
//   FI_RESET=0.05       probability: TCP RST on the client socket instead of a response
//   FI_503=0.0          probability: 503 SlowDown XML error
//   FI_PUT_503=0.0      same, for PUT requests only (uploads fail, reads work)
//   FI_PUT_MATCH=/data/ FI_PUT_503 only for PUTs whose path contains this
//   FI_500=0.0          probability: 500 InternalError XML error
//   FI_STALL=0.0        probability: accept request, never answer (client timeout path)
//   FI_TRUNC=0.0        probability: send headers + half the body, then RST
//   FI_SEED=1           PRNG seed (deterministic fault sequence)
//   FI_PIDFILE=path     write the proxy's PID there (stop it by that PID, never by name)
//   FI_TLS_CERT=pem FI_TLS_KEY=pem  listen with TLS (HTTPS) with this certificate
//   FI_LOG=path         append one JSON line per request once answered: method "m",
//                       "bucket", "key" (decoded; "" for the bucket), query parameter
//                       names "q", "inm" (If-None-Match: * sent), "bypass"
//                       (x-amz-bypass-governance-retention), "status", a listing's
//                       "prefix", and for a DeleteObjects POST the keys it names, "deletes"
//                       (tests/integration/dr_requests.sh; path-style requests); the
//                       Range header "range" (null: none), the response body bytes sent
//                       "bytes", and "t0"/"t1", ms since the proxy started, when the
//                       request arrived and when its answer was sent (mount_s3read.sh)
// Stats are printed on SIGUSR1/exit; the proxy exits by itself after FI_LIFETIME_S (default 600).
'use strict';
const http = require('http');
const [listenPort, upPort] = process.argv.slice(2).map(Number);
const env = (k, d) => (process.env[k] !== undefined ? Number(process.env[k]) : d);
const cfg = {
  delay: env('FI_DELAY_MS', 0), jitter: env('FI_JITTER_MS', 0), reset: env('FI_RESET', 0),
  e503: env('FI_503', 0), put503: env('FI_PUT_503', 0), e500: env('FI_500', 0), stall: env('FI_STALL', 0), trunc: env('FI_TRUNC', 0),
};
let seed = env('FI_SEED', 1) >>> 0;
const rnd = () => { seed ^= seed << 13; seed >>>= 0; seed ^= seed >>> 17; seed ^= seed << 5; seed >>>= 0; return seed / 4294967296; };
const stats = { requests: 0, ok: 0, reset: 0, e503: 0, e500: 0, stall: 0, trunc: 0 };
const xmlErr = (code, msg) => `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${msg}</Message><RequestId>fi</RequestId></Error>`;

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const logFile = process.env.FI_LOG;
const fs = require('fs');
// record(req, body, status): one line of FI_LOG
const t00 = Date.now();
const record = (req, body, status, t0, bytes) => {
  if (!logFile) return;
  const [path, query] = req.url.split('?');
  const parts = path.split('/').slice(1).map(decodeURIComponent);
  const deletes = [];
  if (body && /(^|&)delete(=|&|$)/.test(query || '')) {
    for (const m of body.toString('utf8').matchAll(/<Key>([^<]*)<\/Key>/g)) deletes.push(m[1].replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'"));
  }
  fs.appendFileSync(logFile, JSON.stringify({
    m: req.method, bucket: parts[0] || '', key: parts.slice(1).join('/'),
    q: (query || '').split('&').filter(Boolean).map((kv) => decodeURIComponent(kv.split('=')[0])),
    inm: req.headers['if-none-match'] === '*',
    bypass: (req.headers['x-amz-bypass-governance-retention'] || '').toLowerCase() === 'true',
    status, prefix: new URLSearchParams(query || '').get('prefix'), deletes,
    range: req.headers.range || null, bytes, t0, t1: Date.now() - t00 }) + '\n');
};
const tls = process.env.FI_TLS_CERT && process.env.FI_TLS_KEY
  ? { cert: require('fs').readFileSync(process.env.FI_TLS_CERT), key: require('fs').readFileSync(process.env.FI_TLS_KEY) }
  : null;
const server = (tls ? (h) => require('https').createServer(tls, h) : http.createServer)((req, res) => {
  stats.requests++;
  const chunks = [];
  const t0 = Date.now() - t00;
  let sentBytes = 0;
  const write0 = res.write.bind(res);
  res.write = (c, ...a) => { if (c && c.length) sentBytes += c.length; return write0(c, ...a); };
  res.on('finish', () => record(req, Buffer.concat(chunks), res.statusCode, t0, sentBytes));
  const r = rnd();
  let fault = 'ok', acc = 0;
  const putHit = req.method === 'PUT' && (!process.env.FI_PUT_MATCH || req.url.includes(process.env.FI_PUT_MATCH));
  const e503 = putHit ? Math.max(cfg.e503, cfg.put503) : cfg.e503;
  for (const [name, p] of [['reset', cfg.reset], ['e503', e503], ['e500', cfg.e500], ['stall', cfg.stall], ['trunc', cfg.trunc]]) {
    acc += p; if (r < acc) { fault = name; break; }
  }
  const wait = cfg.delay + (cfg.jitter ? Math.floor(rnd() * cfg.jitter) : 0);
  setTimeout(() => {
    stats[fault]++;
    if (fault === 'reset') { req.socket.resetAndDestroy(); return; }
    if (fault === 'stall') { req.resume(); return; } // hold the socket open, answer nothing
    if (fault === 'e503' || fault === 'e500') {
      req.resume();
      const body = fault === 'e503' ? xmlErr('SlowDown', 'Please reduce your request rate.') : xmlErr('InternalError', 'We encountered an internal error. Please try again.');
      res.writeHead(fault === 'e503' ? 503 : 500, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body) });
      res.end(body); return;
    }
    const up = http.request({ host: '127.0.0.1', port: upPort, method: req.method, path: req.url, headers: req.headers, agent }, (ur) => {
      res.writeHead(ur.statusCode, ur.headers);
      if (fault === 'trunc') {
        const len = Number(ur.headers['content-length'] || 0);
        let sent = 0;
        ur.on('data', (c) => {
          if (sent >= len / 2) return;
          res.write(c.subarray(0, Math.max(0, Math.min(c.length, Math.ceil(len / 2) - sent)))); sent += c.length;
          if (sent >= len / 2) { ur.destroy(); req.socket.resetAndDestroy(); }
        });
        ur.on('end', () => req.socket.resetAndDestroy());
        return;
      }
      ur.pipe(res);
    });
    up.on('error', () => req.socket.destroy());
    // the body, for FI_LOG's DeleteObjects keys (tapped as it is piped)
    if (logFile) req.on('data', (c) => { if (chunks.length < 4096) chunks.push(c); });
    req.pipe(up);
  }, wait);
});
server.keepAliveTimeout = 30000;
const dump = () => process.stderr.write(`faultproxy stats ${JSON.stringify(stats)}\n`);
process.on('SIGUSR1', dump);
process.on('SIGTERM', () => { dump(); process.exit(0); });
server.listen(listenPort, '127.0.0.1', () => process.stderr.write(`faultproxy 127.0.0.1:${listenPort} -> 127.0.0.1:${upPort} ${JSON.stringify(cfg)}\n`));
setTimeout(() => { dump(); process.exit(0); }, env('FI_LIFETIME_S', 600) * 1000).unref();
if (process.env.FI_PIDFILE) require('fs').writeFileSync(process.env.FI_PIDFILE, `${process.pid}\n`);
