// Bare Node mTLS reverse proxy: the floor for any Node edge on the same path as Gatehouse.
//
//   node bench/servers/bare-proxy.mjs --port P --origin http://127.0.0.1:O \
//     --cert server.pem --key server.key --ca client-ca.pem [--workers 2]
//
// node:https verifies the client certificate in the handshake's aftermath (requestCert +
// rejectUnauthorized against the client CA), an undici Pool per worker keeps connections to
// the origin, and a cluster of --workers processes shares the port with SCHED_NONE (the kernel
// balances accepts; the round-robin primary costs ~20% more per handshake, shared notes).
// TLS 1.3 session tickets are turned off by the OpenSSL config the harness passes in
// OPENSSL_CONF (Node has no option for it; see lib/openssl-conf.mjs).
// Prints "bare node proxy listening on https://127.0.0.1:P" once every worker listens.

import cluster from 'node:cluster';
import { constants } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { createSecureContext } from 'node:tls';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';

const { values: opts } = parseArgs({
  options: {
    port: { type: 'string' },
    origin: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
    ca: { type: 'string' },
    workers: { type: 'string', default: '2' },
    // close: node:https destroys the connection of a refused client (rejectUnauthorized);
    // 403: it completes the handshake and node:http answers each request with a small 403 page,
    // the naive way for an edge that must answer (bench/edge-cpu.mjs's "bare403" stack).
    refuse: { type: 'string', default: 'close' },
    // With --sni-callback the server picks its (one) context in an SNICallback, as an edge with
    // a context per hostname must (bench/edge-cpu.mjs's "baresni" stack): what that costs.
    'sni-callback': { type: 'boolean', default: false },
  },
});

// Request headers that are about this hop only (RFC 9110 §7.6.1), plus the ones we set.
const DROP_REQUEST = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
]);
const DROP_RESPONSE = new Set(['connection', 'keep-alive', 'transfer-encoding', 'trailer', 'upgrade']);

const certHeaders = new WeakMap(); // TLS socket -> client-certificate headers, built once

/** Client-certificate headers, computed once per connection: the certificate cannot change. */
function clientCertHeaders(socket) {
  let h = certHeaders.get(socket);
  if (!h) {
    const c = socket.getPeerCertificate();
    const dn = (o) =>
      Object.entries(o ?? {})
        .map(([k, v]) => `${k}=${v}`)
        .join(',');
    h = {
      'gatehouse-client-cert-status': 'valid',
      'gatehouse-client-cert-serial': c.serialNumber,
      'gatehouse-client-cert-subject': dn(c.subject),
      'gatehouse-client-cert-issuer': dn(c.issuer),
      'gatehouse-client-cert-not-before': c.valid_from,
      'gatehouse-client-cert-not-after': c.valid_to,
      'gatehouse-client-cert-sha256': c.fingerprint256,
      'x-forwarded-for': socket.remoteAddress,
      'x-forwarded-proto': 'https',
    };
    certHeaders.set(socket, h);
  }
  return h;
}

function upstreamHeaders(req) {
  const out = {};
  for (const [name, value] of Object.entries(req.headers)) if (!DROP_REQUEST.has(name)) out[name] = value;
  if (req.headers.host) out['x-forwarded-host'] = req.headers.host;
  return Object.assign(out, clientCertHeaders(req.socket));
}

function downstreamHeaders(headers) {
  const out = {};
  for (const [name, value] of Object.entries(headers)) if (!DROP_RESPONSE.has(name)) out[name] = value;
  return out;
}

function runWorker() {
  const pool = new Pool(opts.origin, { connections: 128, keepAliveTimeout: 60_000 });

  const refusedPage = Buffer.from('<!doctype html><title>403</title><p>client certificate required</p>\n');
  function handle(req, res) {
    if (!req.socket.authorized) {
      res.writeHead(403, { 'content-type': 'text/html', 'content-length': refusedPage.length });
      res.end(refusedPage);
      return;
    }
    const hasBody =
      req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    pool.stream(
      {
        path: req.url,
        method: req.method,
        headers: upstreamHeaders(req),
        body: hasBody ? req : null,
        opaque: res,
      },
      ({ statusCode, headers, opaque }) => {
        opaque.writeHead(statusCode, downstreamHeaders(headers));
        return opaque;
      },
      (err) => {
        if (!err) return;
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' }).end('bad gateway\n');
        else res.destroy(err);
      },
    );
  }

  const tlsOptions = {
    cert: readFileSync(opts.cert),
    key: readFileSync(opts.key),
    ca: readFileSync(opts.ca),
    minVersion: 'TLSv1.2',
    secureOptions: constants.SSL_OP_NO_TICKET,
  };
  const sniContext = opts['sni-callback'] ? createSecureContext(tlsOptions) : undefined;
  const server = createServer(
    {
      ...(sniContext ? { SNICallback: (_name, cb) => cb(null, sniContext) } : {}),
      cert: readFileSync(opts.cert),
      key: readFileSync(opts.key),
      ca: readFileSync(opts.ca),
      requestCert: true,
      rejectUnauthorized: opts.refuse !== '403',
      minVersion: 'TLSv1.2',
      // TLS 1.2 tickets off too (TLS 1.3 ones: OPENSSL_CONF, see above).
      secureOptions: constants.SSL_OP_NO_TICKET,
      keepAliveTimeout: 300_000, // wrk never idles, but a 5 s default would cut slow warm-ups
    },
    handle,
  );
  server.on('tlsClientError', () => {}); // refused certificates are the flood's expected outcome
  server.listen(Number(opts.port), '127.0.0.1', () => process.send?.('listening'));
  process.on('SIGTERM', () => process.exit(0)); // a clean exit writes --cpu-prof profiles
}

function runPrimary() {
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  const n = Number(opts.workers);
  let listening = 0;
  let stopping = false;
  for (let i = 0; i < n; i++) {
    const w = cluster.fork();
    w.on('message', (m) => {
      if (m === 'listening' && ++listening === n) {
        console.log(`bare node proxy listening on https://127.0.0.1:${opts.port}`);
      }
    });
  }
  // A dead worker would silently halve capacity: fail loudly instead.
  cluster.on('exit', (w, code, signal) => {
    if (stopping) return;
    console.error(`worker ${w.process.pid} died (${signal ?? code})`);
    process.exit(1);
  });
  for (const sig of ['SIGTERM', 'SIGINT']) {
    process.on(sig, () => {
      stopping = true;
      for (const w of Object.values(cluster.workers)) w.kill();
      process.exit(0);
    });
  }
}

if (cluster.isPrimary) runPrimary();
else runWorker();
