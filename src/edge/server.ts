import { connect as netConnect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import https from 'node:https';
import { type IncomingMessage, STATUS_CODES, type ServerResponse } from 'node:http';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { type AccessDecision, type AccessRequest, decideAccess } from '../access/index.js';
import { isGatehouseError } from '../errors/index.js';
import type { Logger } from '../observability/index.js';
import type { ClientCertVerdict } from './headers.js';
import { renderCertificateHeaders } from './headers.js';
import { type EdgeMetrics, RequestCounter } from './metrics.js';
import { type UpstreamPools, upstreamHeaders } from './proxy.js';
import { blockResponse, type EdgeResponse, edgeError, wantsJson } from './responses.js';
import { EDGE_SECURE_OPTIONS, type EdgeSnapshot, type HostRuntime } from './snapshot.js';
import { type CachedVerdict, evaluateClientCertificate } from './verify-client.js';

export interface EdgeServerOptions {
  snapshot: () => EdgeSnapshot;
  pools: UpstreamPools;
  metrics: EdgeMetrics;
  logger: Logger;
  accessLog: boolean;
}

/**
 * Per-connection state, computed once per TLS socket: the verdict, and every header the edge adds
 * to the connection's forwarded requests (X-Forwarded-*, then the certificate headers).
 */
interface ConnectionState {
  host: HostRuntime;
  cached: CachedVerdict;
  headers: [string, string][];
}

const connections = new WeakMap<TLSSocket, ConnectionState>();

type AccessResult =
  | { kind: string; forward: { assertion?: string; setCookie?: string[] } }
  | { kind: string; reply: { status: number; headers: Record<string, string | string[]>; body: string } };

type Admission =
  | { host?: HostRuntime; verdict?: ClientCertVerdict; response: EdgeResponse; headers?: undefined }
  | { host: HostRuntime; verdict: ClientCertVerdict; headers: [string, string][]; response?: undefined };

/** Host header → lower-case hostname without port ("[::1]:443" → "::1"). */
export function hostOf(hostHeader: string | undefined): string | undefined {
  if (!hostHeader) return undefined;
  const h = hostHeader.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']'));
  const colon = h.indexOf(':');
  return colon === -1 ? h : h.slice(0, colon);
}

function peerChain(socket: TLSSocket): Buffer[] {
  // Only reached when the server-side chains cannot build a path: the detailed form is costly.
  const chain: Buffer[] = [];
  const seen = new Set<string>();
  let cert = socket.getPeerCertificate(true)?.issuerCertificate;
  while (cert?.raw && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    chain.push(cert.raw);
    cert = cert.issuerCertificate;
  }
  return chain;
}

/**
 * The verdict for this connection on `host`, recomputed only when the snapshot changed (a
 * revocation, a CA removed) or a certificate in the path expired since it was computed.
 */
function connectionState(
  socket: TLSSocket,
  snapshot: EdgeSnapshot,
  host: HostRuntime,
  mode: 'report' | 'enforce',
): ConnectionState {
  const now = Date.now();
  const state = connections.get(socket);
  if (
    state &&
    state.host === host &&
    state.cached.version === snapshot.version &&
    now <= state.cached.validUntilMs
  ) {
    return state;
  }
  const cached = evaluateClientCertificate(
    snapshot,
    host,
    socket.getPeerX509Certificate(),
    () => peerChain(socket),
    socket.authorized,
    new Date(now),
  );
  const fresh: ConnectionState = {
    host,
    cached,
    headers: [
      ...forwardedHeaders(socket, host),
      ...renderCertificateHeaders(host.forward, cached.verdict, mode),
    ],
  };
  connections.set(socket, fresh);
  return fresh;
}

const forwardedHeaders = (socket: Socket, host: HostRuntime): [string, string][] => [
  ['x-forwarded-for', socket.remoteAddress ?? ''],
  ['x-forwarded-proto', 'https'],
  ['x-forwarded-host', host.hostname],
];

function send(res: ServerResponse, r: EdgeResponse): void {
  res.writeHead(r.status, {
    'content-type': r.contentType,
    'content-length': Buffer.byteLength(r.body),
    'cache-control': 'no-store',
  });
  res.end(r.body);
}

/**
 * The block pages of a hostname, rendered once per (reason, JSON or not): a refused client
 * (a flood of them, in an attack) costs no rendering. Keyed by the host runtime, which a new
 * snapshot replaces along with its block settings.
 */
const blockPages = new WeakMap<HostRuntime, Map<string, EdgeResponse>>();

function blockPage(host: HostRuntime, reason: string, accept: string | undefined): EdgeResponse {
  let pages = blockPages.get(host);
  if (!pages) {
    pages = new Map();
    blockPages.set(host, pages);
  }
  const json = wantsJson(accept);
  const key = `${json ? 'j' : 'h'}${reason}`;
  let page = pages.get(key);
  if (!page) {
    page = blockResponse(host.block, reason, json ? 'application/json' : undefined);
    pages.set(key, page);
  }
  return page;
}

export function createEdgeServer(options: EdgeServerOptions): https.Server {
  const { metrics, logger } = options;
  const requestCounter = new RequestCounter(metrics.requests);

  const server = https.createServer(
    {
      SNICallback: (servername, cb) => {
        const snapshot = options.snapshot();
        cb(null, snapshot.hosts.get(servername.toLowerCase())?.secureContext ?? snapshot.defaultContext);
      },
      // Ask every client for a certificate; the per-hostname decision is made after the handshake
      // so report mode can forward failures and enforce mode can answer with a 403 page.
      requestCert: true,
      rejectUnauthorized: false,
      secureOptions: EDGE_SECURE_OPTIONS,
      minVersion: 'TLSv1.2',
      // Clients without SNI (or with one the edge does not serve) get this certificate and a 421.
      cert: options.snapshot().defaultTls.cert,
      key: options.snapshot().defaultTls.key,
      maxHeaderSize: 16 * 1024,
      requestTimeout: 60_000,
      headersTimeout: 20_000,
      keepAliveTimeout: 30_000,
    },
    handle,
  );

  // Handshake counters by (hostname, certificate presented), looked up once per combination.
  const handshakeCounters = new Map<string, { inc(): void }>();
  server.on('secureConnection', (socket: TLSSocket) => {
    const snapshot = options.snapshot();
    const name = typeof socket.servername === 'string' ? socket.servername.toLowerCase() : '';
    const host = snapshot.hosts.get(name);
    // The verdict is needed by the first request anyway: computing it now reads the peer
    // certificate once for both.
    const presented =
      host && host.mode !== 'off'
        ? connectionState(socket, snapshot, host, host.mode).cached.verdict.status !== 'none'
        : socket.getPeerX509Certificate() !== undefined;
    const key = `${host ? name : ''}|${presented}`;
    let counter = handshakeCounters.get(key);
    if (!counter) {
      counter = metrics.handshakes.labels(host ? name : 'unknown', presented ? 'presented' : 'none');
      handshakeCounters.set(key, counter);
    }
    counter.inc();
  });

  // Malformed requests (smuggling attempts, obs-fold, bad chunking, oversized headers) are caught
  // by Node's strict parser before any handler runs: answer 400 and close, never forward.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (!socket.writable) return socket.destroy();
    const status =
      err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const text =
      status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request';
    socket.end(
      `HTTP/1.1 ${status} ${text}\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: ${text.length + 1}\r\n\r\n${text}\n`,
    );
  });

  /**
   * Shared by requests and upgrades: which hostname, what the certificate is worth, and either the
   * headers to forward or the response that ends the request here.
   */
  function admit(req: IncomingMessage, snapshot: EdgeSnapshot): Admission {
    const socket = req.socket as TLSSocket;
    const accept = req.headers.accept;
    const sni = typeof socket.servername === 'string' ? socket.servername.toLowerCase() : undefined;
    const authority = hostOf(req.headers.host);
    if (!authority)
      return { response: edgeError(400, 'missing_host', 'Bad Request: no Host header', accept) };
    // SNI and Host must name the same hostname: otherwise a certificate accepted for one
    // hostname's CAs could reach another hostname's origin.
    if (sni !== authority) {
      return {
        response: edgeError(
          421,
          'misdirected_request',
          'Misdirected Request: Host does not match TLS SNI',
          accept,
        ),
      };
    }
    const host = snapshot.hosts.get(sni);
    if (!host)
      return {
        response: edgeError(421, 'unknown_hostname', 'Misdirected Request: hostname not served here', accept),
      };
    if (host.mode === 'off')
      return { host, verdict: { status: 'none' }, headers: forwardedHeaders(socket, host) };
    const state = connectionState(socket, snapshot, host, host.mode);
    const verdict = state.cached.verdict;
    if (host.mode === 'enforce' && verdict.status !== 'valid') {
      const reason = verdict.status === 'none' ? 'no_certificate' : (verdict.reason ?? 'invalid');
      return { host, verdict, response: blockPage(host, reason, accept) };
    }
    return { host, verdict, headers: state.headers };
  }

  // Upstream latency histograms by hostname, looked up once per hostname.
  const upstreamHistograms = new Map<string, { observe(v: number): void }>();
  const upstreamHistogram = (hostname: string) => {
    let h = upstreamHistograms.get(hostname);
    if (!h) {
      h = metrics.upstreamSeconds.labels(hostname);
      upstreamHistograms.set(hostname, h);
    }
    return h;
  };

  /**
   * Proxies to the origin; answers 502/504 itself when the origin fails. Calls `done` with the
   * upstream time once the response is complete (callbacks, not promises: this is the hot path).
   */
  function forward(
    req: IncomingMessage,
    res: ServerResponse,
    host: HostRuntime,
    added: readonly (readonly [string, string])[],
    setCookie: readonly string[] | undefined,
    done: (upstreamMs: number) => void,
  ): void {
    const headers = upstreamHeaders(req, host.stripped, added);
    const t0 = performance.now();
    options.pools.forward(host.origin, req, res, headers, setCookie, (outcome) => {
      const upstreamMs = performance.now() - t0;
      upstreamHistogram(host.hostname).observe(upstreamMs / 1000);
      if (outcome.failure) {
        logger.warn(
          { hostname: host.hostname, origin: host.origin.origin, err: outcome.error.message },
          'origin request failed',
        );
        if (!res.headersSent) {
          const status = outcome.failure === 'gateway_timeout' ? 504 : 502;
          const message =
            status === 504
              ? 'Gateway Timeout: the origin did not answer in time'
              : 'Bad Gateway: the origin could not be reached';
          send(res, edgeError(status, outcome.failure, message, req.headers.accept));
        } else {
          res.destroy(outcome.error);
        }
      }
      done(upstreamMs);
    });
  }

  /**
   * Access applications on this hostname decide next: either what to add to the forwarded
   * request (the token, the session cookie), or the reply that ends the request here (denied,
   * login redirect, callback, JWKS).
   */
  async function runAccess(
    req: IncomingMessage,
    host: HostRuntime,
    verdict: ClientCertVerdict,
    snapshot: EdgeSnapshot,
  ): Promise<AccessResult> {
    const cert = verdict.status === 'valid' ? verdict.cert : undefined;
    const accept = req.headers.accept;
    const fromEdge = (kind: string, r: EdgeResponse): AccessResult => ({
      kind,
      reply: {
        status: r.status,
        headers: { 'content-type': r.contentType, 'cache-control': 'no-store' },
        body: r.body,
      },
    });
    const redirectTo = (
      kind: string,
      location: string,
      setCookie: readonly string[] | undefined,
    ): AccessResult => ({
      kind,
      reply: {
        status: 302,
        headers: {
          location,
          'cache-control': 'no-store',
          ...(setCookie?.length ? { 'set-cookie': [...setCookie] } : {}),
        },
        body: '',
      },
    });
    let decision: AccessDecision;
    try {
      decision = await decideAccess(
        snapshot.access,
        {
          hostname: host.hostname,
          authority: req.headers.host ?? host.hostname,
          url: req.url ?? '/',
          headers: req.headers as AccessRequest['headers'],
          ip: req.socket.remoteAddress ?? '',
          ...(cert
            ? {
                certificate: {
                  der: cert.der,
                  sha256: cert.sha256,
                  commonName: cert.subjectAttributes.get('CN')?.at(-1),
                },
              }
            : {}),
          browser: !/\bapplication\/json\b/i.test(accept ?? '') && /\btext\/html\b/i.test(accept ?? ''),
        },
        new Date(),
      );
    } catch (err) {
      const e = isGatehouseError(err) ? err : undefined;
      if (!e) logger.error({ err, hostname: host.hostname }, 'access decision failed');
      return fromEdge(
        'error',
        edgeError(
          e?.status ?? 500,
          e?.code ?? 'internal_error',
          e?.message ?? 'Access could not decide this request',
          accept,
        ),
      );
    }
    switch (decision.kind) {
      case 'none':
      case 'bypass':
        return { kind: decision.kind, forward: {} };
      case 'allow':
        if (decision.redirect) return redirectTo('login_complete', decision.redirect, decision.setCookie);
        return { kind: 'allow', forward: { assertion: decision.assertion, setCookie: decision.setCookie } };
      case 'deny':
        return fromEdge(
          'deny',
          edgeError(403, 'access_denied', `Forbidden: access denied (${decision.reason})`, accept),
        );
      case 'unauthenticated':
        return fromEdge(
          'unauthenticated',
          edgeError(
            401,
            decision.reason,
            'Unauthorized: sign in through the identity provider first',
            accept,
          ),
        );
      case 'login':
        return redirectTo('login', decision.redirect, decision.setCookie);
      case 'jwks':
        return {
          kind: 'jwks',
          reply: {
            status: 200,
            headers: { 'content-type': 'application/json', 'cache-control': 'public, max-age=300' },
            body: JSON.stringify(decision.body),
          },
        };
    }
  }

  /** Counts the request and writes its access log line, once it is answered. */
  function finish(
    req: IncomingMessage,
    res: ServerResponse,
    admitted: Admission,
    started: number,
    upstreamMs: number | undefined,
    access: string | undefined,
  ): void {
    const hostname = admitted.host?.hostname ?? 'unknown';
    const certStatus = admitted.verdict?.status ?? 'none';
    requestCounter.inc(hostname, admitted.host?.mode ?? 'none', certStatus, res.statusCode);
    if (options.accessLog) {
      logger.info(
        {
          type: 'access',
          hostname,
          method: req.method,
          path: req.url,
          status: res.statusCode,
          cert_status: certStatus,
          ski: admitted.verdict?.cert?.ski ?? admitted.verdict?.ski,
          access,
          client: req.socket.remoteAddress,
          duration_ms: performance.now() - started,
          upstream_ms: upstreamMs,
        },
        'request',
      );
    }
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const started = options.accessLog ? performance.now() : 0;
    const snapshot = options.snapshot();
    const admitted = admit(req, snapshot);
    if (admitted.response) {
      send(res, admitted.response);
      req.resume();
      return finish(req, res, admitted, started, undefined, undefined);
    }
    if (snapshot.access.apps.hasHostname(admitted.host.hostname)) {
      void handleWithAccess(req, res, admitted, snapshot, started);
      return;
    }
    forward(req, res, admitted.host, admitted.headers, undefined, (upstreamMs) =>
      finish(req, res, admitted, started, upstreamMs, undefined),
    );
  }

  /** A hostname with access applications: they decide before anything is forwarded. */
  async function handleWithAccess(
    req: IncomingMessage,
    res: ServerResponse,
    admitted: Admission & { host: HostRuntime; verdict: ClientCertVerdict; headers: [string, string][] },
    snapshot: EdgeSnapshot,
    started: number,
  ): Promise<void> {
    const result = await runAccess(req, admitted.host, admitted.verdict, snapshot);
    if ('reply' in result) {
      const { status, headers, body } = result.reply;
      res.writeHead(status, { ...headers, 'content-length': Buffer.byteLength(body) }).end(body);
      req.resume();
      return finish(req, res, admitted, started, undefined, result.kind);
    }
    const extra: [string, string][] = result.forward.assertion
      ? [...admitted.headers, ['gatehouse-jwt-assertion', result.forward.assertion]]
      : admitted.headers;
    forward(req, res, admitted.host, extra, result.forward.setCookie, (upstreamMs) =>
      finish(req, res, admitted, started, upstreamMs, result.kind),
    );
  }

  // WebSocket (and other) upgrades: same admission, then a raw tunnel to the origin.
  const rawReply = (
    client: Socket,
    status: number,
    headers: Record<string, string | string[]>,
    body: string,
  ) => {
    const lines = [
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`,
      'connection: close',
      `content-length: ${Buffer.byteLength(body)}`,
    ];
    for (const [name, value] of Object.entries(headers))
      for (const v of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${v}`);
    client.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
  };

  server.on(
    'upgrade',
    (req: IncomingMessage, client: Socket, head: Buffer) => void upgrade(req, client, head),
  );

  async function upgrade(req: IncomingMessage, client: Socket, head: Buffer): Promise<void> {
    const snapshot = options.snapshot();
    const admitted = admit(req, snapshot);
    if (admitted.response) {
      const r = admitted.response;
      return rawReply(client, r.status, { 'content-type': r.contentType }, r.body);
    }
    let extra = admitted.headers;
    // Upgrades go through Access like any request (no cookie can ride on a 101, the token can).
    if (snapshot.access.apps.hasHostname(admitted.host.hostname)) {
      const result = await runAccess(req, admitted.host, admitted.verdict, snapshot);
      if ('reply' in result)
        return rawReply(client, result.reply.status, result.reply.headers, result.reply.body);
      if (result.forward.assertion) extra = [...extra, ['gatehouse-jwt-assertion', result.forward.assertion]];
    }
    const origin = admitted.host.origin;
    const port = Number(origin.port) || (origin.protocol === 'https:' ? 443 : 80);
    const upstream =
      origin.protocol === 'https:'
        ? tlsConnect({ host: origin.hostname, port, servername: origin.hostname })
        : netConnect({ host: origin.hostname, port });
    const headers = upstreamHeaders(req, admitted.host.stripped, extra);
    upstream.once(origin.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
      const lines = [
        `${req.method} ${req.url} HTTP/1.1`,
        `connection: Upgrade`,
        `upgrade: ${req.headers.upgrade ?? ''}`,
      ];
      for (const [name, value] of Object.entries(headers)) {
        for (const v of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${v}`);
      }
      upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client).pipe(upstream);
    });
    const fail = () => {
      if (client.writable && !upstream.bytesRead)
        client.end('HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      else client.destroy();
      upstream.destroy();
    };
    upstream.on('error', fail);
    client.on('error', () => upstream.destroy());
  }

  return server;
}
