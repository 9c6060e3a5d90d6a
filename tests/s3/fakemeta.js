#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// fakemeta.js - a local stand-in for the places AWS hands out temporary
// credentials, for tests (loopback only, dependency-free):
//   the EC2 instance metadata service, IMDSv2 only:
//     PUT /latest/api/token                      (X-aws-ec2-metadata-token-ttl-seconds)
//     GET /latest/meta-data/iam/security-credentials/        (the role name)
//     GET /latest/meta-data/iam/security-credentials/ROLE    (JSON credentials)
//     every GET without the session token PUT handed out: 401
//   a container credentials endpoint:  GET /container-creds  (JSON)
//   STS: POST / with Action=AssumeRoleWithWebIdentity       (XML)
//
// Usage: node fakemeta.js PORT LOG   with env:
//   FM_KEYS="AK1:SK1,AK2:SK2"  the credentials handed out: the first set on
//                              the first fetch, the next on the next, the
//                              last one from then on
//   FM_TTL_S=3600              their Expiration, seconds from the fetch
//   FM_AUTH=token              the Authorization the container endpoint wants
//   FM_WEB_TOKEN=token         the WebIdentityToken STS wants
//   FM_ROLE_ARN=arn            the RoleArn STS wants
// LOG gets one JSON line per request: {"what", "ok", "fetch"} (never a key).
// The server exits by itself after FM_LIFETIME_S (default 900).
'use strict';
const http = require('http');
const fs = require('fs');
const crypto = require('crypto');
const [port, logf] = process.argv.slice(2);
const keys = (process.env.FM_KEYS || '').split(',').filter(Boolean).map((k) => k.split(':'));
const ttl = Number(process.env.FM_TTL_S || 3600);
const role = 'drfs-test-role';
const tokens = new Set();
let fetches = 0;

const log = (what, ok) => fs.appendFileSync(logf, JSON.stringify({ what, ok, fetch: fetches }) + '\n');
const next = () => {
  const k = keys[Math.min(fetches, keys.length - 1)];
  fetches++;
  return { ak: k[0], sk: k[1], token: 'session-' + crypto.randomBytes(8).toString('hex'),
    exp: new Date(Date.now() + ttl * 1000).toISOString().replace(/\.\d+Z$/, 'Z') };
};
const json = (c, extra) => JSON.stringify(Object.assign(extra, {
  AccessKeyId: c.ak, SecretAccessKey: c.sk, Token: c.token, Expiration: c.exp }));
const send = (res, status, body, type) => {
  res.writeHead(status, { 'Content-Type': type || 'text/plain', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
};

http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const url = req.url;
    const body = Buffer.concat(chunks).toString();
    if (url === '/latest/api/token' && req.method === 'PUT') {
      const ok = !!req.headers['x-aws-ec2-metadata-token-ttl-seconds'];
      log('imds-token', ok);
      if (!ok) return send(res, 400, 'missing ttl');
      const t = crypto.randomBytes(16).toString('base64');
      tokens.add(t);
      return send(res, 200, t);
    }
    if (url.startsWith('/latest/meta-data/iam/security-credentials/')) {
      const ok = tokens.has(req.headers['x-aws-ec2-metadata-token'] || '');
      const name = url.slice('/latest/meta-data/iam/security-credentials/'.length);
      log(name ? 'imds-creds' : 'imds-role', ok);
      if (!ok) return send(res, 401, 'IMDSv2 session token required');
      if (!name) return send(res, 200, role + '\n');
      if (name !== role) return send(res, 404, 'no such role');
      return send(res, 200, json(next(), { Code: 'Success', LastUpdated: new Date().toISOString(), Type: 'AWS-HMAC' }), 'application/json');
    }
    if (url === '/container-creds') {
      const ok = !process.env.FM_AUTH || req.headers.authorization === process.env.FM_AUTH;
      log('container', ok);
      if (!ok) return send(res, 401, '{"message":"bad authorization"}');
      return send(res, 200, json(next(), { RoleArn: 'arn:aws:iam::111122223333:role/' + role }), 'application/json');
    }
    if (req.method === 'POST' && /(^|&)Action=AssumeRoleWithWebIdentity(&|$)/.test(body)) {
      const f = new URLSearchParams(body);
      const ok = f.get('WebIdentityToken') === process.env.FM_WEB_TOKEN &&
        f.get('RoleArn') === process.env.FM_ROLE_ARN && !!f.get('RoleSessionName');
      log('sts', ok);
      if (!ok) {
        return send(res, 400, '<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code>' +
          '<Message>no</Message></Error></ErrorResponse>', 'text/xml');
      }
      const c = next();
      return send(res, 200, '<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>' +
        `<SessionToken>${c.token}</SessionToken><SecretAccessKey>${c.sk}</SecretAccessKey>` +
        `<Expiration>${c.exp}</Expiration><AccessKeyId>${c.ak}</AccessKeyId></Credentials>` +
        '</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>', 'text/xml');
    }
    log('unknown ' + req.method + ' ' + url, false);
    send(res, 404, 'not found');
  });
}).listen(Number(port), '127.0.0.1', () => fs.appendFileSync(logf, JSON.stringify({ what: 'ready', ok: true, fetch: 0 }) + '\n'));
setTimeout(() => process.exit(0), Number(process.env.FM_LIFETIME_S || 900) * 1000).unref();
