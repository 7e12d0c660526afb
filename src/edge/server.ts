import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import https, { request as httpsRequest } from 'node:https';
import { type IncomingMessage, request as httpRequest, STATUS_CODES, type ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { type AccessDecision, type AccessRequest, decideAccess } from '../access/index.js';
import { isGatehouseError } from '../errors/index.js';
import type { Logger } from '../observability/index.js';
import type { ClientCertVerdict } from './headers.js';
import { renderCertificateHeaders } from './headers.js';
import type { EdgeMetrics } from './metrics.js';
import { responseHeaders, type UpstreamPools, upstreamHeaders } from './proxy.js';
import { MAX_HEAD_BYTES, readRequestHead } from './request-head.js';
import { normaliseTarget } from './target.js';
import { blockResponse, type EdgeResponse, edgeError, wantsJson } from './responses.js';
import { EDGE_SECURE_OPTIONS, type EdgeSnapshot, type HostRuntime } from './snapshot.js';
import { type CachedVerdict, evaluateClientCertificate } from './verify-client.js';

export interface EdgeServerOptions {
  snapshot: () => EdgeSnapshot;
  pools: UpstreamPools;
  metrics: EdgeMetrics;
  logger: Logger;
  accessLog: boolean;
  /** Device posture rules the device behind a certificate (SHA-256 hex) passes now, from memory. */
  posture?: (certificateSha256: string, nowMs: number) => ReadonlySet<string>;
  /** Assurance level of the active registration a certificate (SHA-256 hex) belongs to, from memory. */
  deviceAssurance?: (certificateSha256: string) => string | undefined;
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

// host = IP-literal / reg-name, then an optional port of digits (RFC 9110 §7.2). Anything else
// (userinfo, a second colon, junk after "]") is refused, not cut short: origins build URLs from it.
const HOST_HEADER = /^(?:\[([0-9a-f:.]+)\]|([a-z0-9._-]+))(?::\d{0,5})?$/;

/** Host header → lower-case hostname without port ("[::1]:443" → "::1"); undefined if malformed. */
export function hostOf(hostHeader: string | undefined): string | undefined {
  if (!hostHeader) return undefined;
  const m = HOST_HEADER.exec(hostHeader.trim().toLowerCase());
  return m ? (m[1] ?? m[2]) : undefined;
}

/**
 * The request target in origin form ("/path?query"). An absolute-form target (RFC 9112 §3.2.2)
 * is accepted only when it names the same host as the Host header, and is forwarded as its path:
 * the origin must never see an authority the SNI/Host check did not. The path is then normalised
 * or refused as ambiguous (see target.ts): what the edge judges is what the origin receives.
 * Anything else: undefined.
 */
export function originFormTarget(
  target: string | undefined,
  hostHeader: string | undefined,
): string | undefined {
  if (!target) return undefined;
  if (target.startsWith('/')) return normaliseTarget(target);
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return undefined;
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username || url.password)
    return undefined;
  const authority = hostOf(url.host);
  if (!authority || authority !== hostOf(hostHeader)) return undefined;
  return normaliseTarget(`${url.pathname}${url.search}`);
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
    // Nothing is forwarded for a refused certificate: no headers to render (not even the peer
    // address, a system call), which matters in a flood.
    headers:
      mode === 'enforce' && cached.verdict.status !== 'valid'
        ? []
        : [
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
    // After a malformed request nothing later on the connection can be trusted to be framed right.
    ...(r.status === 400 ? { connection: 'close' } : {}),
  });
  res.end(r.body);
}

const HEADERS_TIMEOUT_MS = 20_000;
/** How long an origin may take to answer an upgrade (the pools' headers timeout). */
const UPGRADE_ANSWER_TIMEOUT_MS = 60_000;
/** How long a refused connection may take to send its whole request head (node:http: headersTimeout). */
const HEAD_TIMEOUT_MS = HEADERS_TIMEOUT_MS;

/** The plain answers to requests that cannot be parsed (node:http's clientError and ours). */
function clientErrorResponse(status: number): string {
  const text =
    status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request';
  return `HTTP/1.1 ${status} ${text}\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: ${text.length + 1}\r\n\r\n${text}\n`;
}

let dateSecond = -1;
let dateText = '';
/** The Date header value, formatted once per second (as node:http does). */
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(now).toUTCString();
  }
  return dateText;
}

/** Everything after the Date line of a raw answer, per (cached) response: headers, then the body. */
const rawTails = new WeakMap<EdgeResponse, { headers: string; body: string }>();

/** A complete HTTP/1.1 response closing the connection, as one string (write it as UTF-8). */
function rawResponse(r: EdgeResponse, headOnly: boolean): string {
  let tail = rawTails.get(r);
  if (!tail) {
    tail = {
      headers:
        `content-type: ${r.contentType}\r\ncontent-length: ${Buffer.byteLength(r.body)}\r\n` +
        'cache-control: no-store\r\nconnection: close\r\n\r\n',
      body: r.body,
    };
    rawTails.set(r, tail);
  }
  return `HTTP/1.1 ${r.status} ${STATUS_CODES[r.status] ?? ''}\r\ndate: ${httpDate()}\r\n${tail.headers}${headOnly ? '' : tail.body}`;
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
      headersTimeout: HEADERS_TIMEOUT_MS,
      keepAliveTimeout: 30_000,
    },
    handle,
  );

  // node:https attaches its HTTP machinery to each connection in one 'secureConnection' listener;
  // connections refused whatever they ask skip it (see refuseConnection).
  const [listener, ...unexpected] = server.listeners('secureConnection');
  if (typeof listener !== 'function' || unexpected.length > 0)
    throw new Error('node:https no longer has exactly one secureConnection listener');
  const httpConnection = listener as (this: https.Server, socket: TLSSocket) => void;
  server.removeListener('secureConnection', httpConnection);

  server.on('secureConnection', (socket: TLSSocket) => {
    const snapshot = options.snapshot();
    const name = typeof socket.servername === 'string' ? socket.servername.toLowerCase() : '';
    const host = snapshot.hosts.get(name);
    let presented: boolean;
    let refused: boolean;
    if (host && host.mode !== 'off') {
      // The first request needs the verdict anyway: computing it now reads the peer certificate
      // once for both, and tells whether anything on this connection can reach the origin.
      const verdict = connectionState(socket, snapshot, host, host.mode).cached.verdict;
      presented = verdict.status !== 'none';
      refused = host.mode === 'enforce' && verdict.status !== 'valid';
    } else {
      presented = socket.getPeerX509Certificate() !== undefined;
      refused = host === undefined; // no SNI or one not served here: every request gets 400/421
    }
    metrics.handshake(host ? name : 'unknown', presented);
    if (refused) refuseConnection(socket);
    else httpConnection.call(server, socket);
  });

  // Malformed requests (smuggling attempts, obs-fold, bad chunking, oversized headers) are caught
  // by Node's strict parser before any handler runs: answer 400 and close, never forward.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (!socket.writable) return socket.destroy();
    const status =
      err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    socket.end(clientErrorResponse(status));
  });

  /**
   * Shared by requests and upgrades: which hostname, what the certificate is worth, and either the
   * headers to forward or the response that ends the request here.
   */
  const admit = (req: IncomingMessage, snapshot: EdgeSnapshot): Admission => {
    // RFC 9112 §3.2: exactly one Host (node:http keeps the first of several; an origin may not).
    let hosts = 0;
    for (let i = 0; i < req.rawHeaders.length; i += 2)
      if (
        (req.rawHeaders[i] as string).length === 4 &&
        (req.rawHeaders[i] as string).toLowerCase() === 'host'
      )
        hosts++;
    if (hosts > 1)
      return {
        response: edgeError(
          400,
          'missing_host',
          'Bad Request: more than one Host header',
          req.headers.accept,
        ),
      };
    const target = originFormTarget(req.url, req.headers.host);
    if (target === undefined)
      return {
        response: edgeError(
          400,
          'invalid_target',
          'Bad Request: the request target must be a path (without empty, "." or ".." segments, ";", ' +
            'encoded "/" or "\\", control characters or a fragment), or an absolute URL naming this host',
          req.headers.accept,
        ),
      };
    req.url = target; // what is forwarded, and what access applications match on
    return admitOn(req.socket as TLSSocket, req.headers.host, req.headers.accept, snapshot);
  };

  function admitOn(
    socket: TLSSocket,
    hostHeader: string | undefined,
    accept: string | undefined,
    snapshot: EdgeSnapshot,
  ): Admission {
    const sni = typeof socket.servername === 'string' ? socket.servername.toLowerCase() : undefined;
    const authority = hostOf(hostHeader);
    if (!authority)
      return {
        response: edgeError(400, 'missing_host', 'Bad Request: no Host header, or a malformed one', accept),
      };
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
      metrics.upstreamSeconds.observe(host.hostname, upstreamMs / 1000);
      if (outcome.failure) {
        logger.warn(
          { hostname: host.hostname, origin: host.origin.origin, err: outcome.error.message },
          'origin request failed',
        );
        if (res.destroyed) {
          // The client left (mid-body, or before the answer): nothing to answer.
        } else if (!res.headersSent) {
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
    client: string | undefined,
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
    const now = new Date();
    try {
      decision = await decideAccess(
        snapshot.access,
        {
          hostname: host.hostname,
          authority: req.headers.host ?? host.hostname,
          url: req.url ?? '/',
          headers: req.headers as AccessRequest['headers'],
          ip: client ?? '',
          ...(cert
            ? {
                certificate: {
                  der: cert.der,
                  sha256: cert.sha256,
                  commonName: cert.subjectAttributes.get('CN')?.at(-1),
                  policies: cert.policies,
                  deviceAssurance: options.deviceAssurance?.(cert.sha256),
                },
                ...(options.posture ? { passingPosture: options.posture(cert.sha256, now.getTime()) } : {}),
              }
            : {}),
          browser: !/\bapplication\/json\b/i.test(accept ?? '') && /\btext\/html\b/i.test(accept ?? ''),
        },
        now,
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

  /**
   * Counts the request and writes its access log line, once it is answered. `client` is read when
   * the request arrives: by now `req.socket` may be null (undici consumed the body, the client left).
   */
  const finish = (
    req: IncomingMessage,
    res: ServerResponse,
    client: string | undefined,
    admitted: Admission,
    started: number,
    upstreamMs: number | undefined,
    access: string | undefined,
  ): void => record(req.method, req.url, client, admitted, res.statusCode, started, upstreamMs, access);

  function record(
    method: string | undefined,
    path: string | undefined,
    client: string | undefined,
    admitted: Admission,
    status: number,
    started: number,
    upstreamMs: number | undefined,
    access: string | undefined,
  ): void {
    const hostname = admitted.host?.hostname ?? 'unknown';
    const certStatus = admitted.verdict?.status ?? 'none';
    metrics.request(hostname, admitted.host?.mode ?? 'none', certStatus, status);
    if (options.accessLog) {
      logger.info(
        {
          type: 'access',
          hostname,
          method,
          path,
          status,
          cert_status: certStatus,
          cert_reason: admitted.verdict?.reason,
          ski: admitted.verdict?.cert?.ski ?? admitted.verdict?.ski,
          access,
          client,
          duration_ms: performance.now() - started,
          upstream_ms: upstreamMs,
        },
        'request',
      );
    }
  }

  /**
   * A connection nothing on which can reach an origin (enforce mode and no valid certificate, or
   * no SNI / one not served here): node:https's per-connection HTTP machinery (parser, request
   * and response objects, keep-alive bookkeeping) is most of what such a connection costs beyond
   * its handshake, and in a flood of refused clients it is the edge's main cost. Read the first
   * request head, answer it exactly as a request on the normal path would be answered (400, 421
   * or the 403 page), with `connection: close`, and close. Never forwards anything: a request the
   * strict reader finds unusual gets 400, one too large 431.
   */
  const refusing = new Set<TLSSocket>();
  function refuseConnection(socket: TLSSocket): void {
    refusing.add(socket);
    const started = options.accessLog ? performance.now() : 0;
    // Usually the head comes in one record and is read in place. Otherwise the bytes are copied
    // once into one buffer, and each read looks only at what is new (no quadratic rescans).
    let first: Buffer | undefined;
    let gathered: Buffer | undefined;
    let length = 0;
    const onData = (chunk: Buffer) => {
      const searchFrom = length;
      let received: Buffer;
      if (!first) {
        first = chunk;
        received = chunk;
        length = chunk.length;
      } else {
        if (!gathered) {
          gathered = Buffer.allocUnsafe(MAX_HEAD_BYTES + 4);
          length = first.copy(gathered, 0, 0, Math.min(first.length, gathered.length));
        }
        length += chunk.copy(gathered, length, 0, Math.min(chunk.length, gathered.length - length));
        received = gathered.subarray(0, length);
      }
      const head = readRequestHead(received, searchFrom);
      if (head.kind === 'incomplete') return;
      socket.removeListener('data', onData); // later bytes (a body, pipelined requests) are dropped
      clearTimeout(deadline);
      let reply: string;
      if (head.kind !== 'request') {
        reply = clientErrorResponse(head.kind === 'too_large' ? 431 : 400);
      } else {
        const admitted = admitOn(socket, head.host, head.accept, options.snapshot());
        // Forwarding here would mean the configuration changed since the handshake (a CA added,
        // the hostname created): 421 invites the client to retry on a new connection.
        const response =
          admitted.response ??
          edgeError(
            421,
            'configuration_changed',
            'Misdirected Request: retry on a new connection',
            head.accept,
          );
        reply = rawResponse(response, head.method === 'HEAD');
        record(
          head.method,
          head.target,
          socket.remoteAddress,
          admitted.response ? admitted : { host: admitted.host, verdict: admitted.verdict, response },
          response.status,
          started,
          undefined,
          undefined,
        );
      }
      socket.end(reply, 'utf8');
      // As node:http does after a `connection: close` response: destroy once written.
      socket.once('finish', () => socket.destroy());
    };
    socket.on('data', onData);
    socket.on('error', () => socket.destroy());
    // A fixed deadline for the whole head, like node:http's headersTimeout (an idle timeout would
    // let a client trickle one byte at a time for days).
    const deadline = setTimeout(() => socket.destroy(), HEAD_TIMEOUT_MS);
    socket.once('close', () => {
      clearTimeout(deadline);
      refusing.delete(socket);
    });
  }
  // A refused connection waiting for its request is idle: close it with the HTTP ones.
  const closeIdleConnections = server.closeIdleConnections.bind(server);
  server.closeIdleConnections = () => {
    closeIdleConnections();
    for (const socket of refusing) socket.destroy();
  };

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const started = options.accessLog ? performance.now() : 0;
    const client = req.socket.remoteAddress;
    const snapshot = options.snapshot();
    const admitted = admit(req, snapshot);
    if (admitted.response) {
      send(res, admitted.response);
      req.resume();
      return finish(req, res, client, admitted, started, undefined, undefined);
    }
    if (snapshot.access.apps.hasHostname(admitted.host.hostname)) {
      handleWithAccess(req, res, client, admitted, snapshot, started).catch((err: unknown) => {
        // Never an unhandled rejection (it would end the worker and every connection on it).
        logger.error({ err, hostname: admitted.host.hostname }, 'request failed');
        res.destroy();
      });
      return;
    }
    forward(req, res, admitted.host, admitted.headers, undefined, (upstreamMs) =>
      finish(req, res, client, admitted, started, upstreamMs, undefined),
    );
  }

  /** A hostname with access applications: they decide before anything is forwarded. */
  async function handleWithAccess(
    req: IncomingMessage,
    res: ServerResponse,
    client: string | undefined,
    admitted: Admission & { host: HostRuntime; verdict: ClientCertVerdict; headers: [string, string][] },
    snapshot: EdgeSnapshot,
    started: number,
  ): Promise<void> {
    const result = await runAccess(req, client, admitted.host, admitted.verdict, snapshot);
    if ('reply' in result) {
      const { status, headers, body } = result.reply;
      res.writeHead(status, { ...headers, 'content-length': Buffer.byteLength(body) }).end(body);
      req.resume();
      return finish(req, res, client, admitted, started, undefined, result.kind);
    }
    const extra: [string, string][] = result.forward.assertion
      ? [...admitted.headers, ['gatehouse-jwt-assertion', result.forward.assertion]]
      : admitted.headers;
    forward(req, res, admitted.host, extra, result.forward.setCookie, (upstreamMs) =>
      finish(req, res, client, admitted, started, upstreamMs, result.kind),
    );
  }

  /**
   * Upgrades (WebSocket): admitted and judged like any request, then sent to the origin on a
   * connection of their own. A tunnel opens only on the origin's 101 Switching Protocols; any
   * other answer is relayed as a normal response and the client's connection goes back to the
   * HTTP parser, so every later request on it is admitted and sanitised on its own.
   */
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

  server.on('upgrade', (req: IncomingMessage, client: Socket, head: Buffer) => {
    // node:http no longer watches this socket: an error without a listener would end the worker.
    const onClientError = () => client.destroy();
    client.on('error', onClientError);
    upgrade(req, client, head, onClientError).catch((err: unknown) => {
      logger.error({ err }, 'upgrade failed');
      client.destroy();
    });
  });

  async function upgrade(
    req: IncomingMessage,
    client: Socket,
    head: Buffer,
    onClientError: () => void,
  ): Promise<void> {
    const started = options.accessLog ? performance.now() : 0;
    const address = client.remoteAddress;
    const snapshot = options.snapshot();
    const admitted = admit(req, snapshot);
    const log = (status: number, access: string | undefined, upstreamMs?: number) =>
      record(req.method, req.url, address, admitted, status, started, upstreamMs, access);
    if (admitted.response) {
      const r = admitted.response;
      rawReply(client, r.status, { 'content-type': r.contentType }, r.body);
      return log(r.status, undefined);
    }
    let extra = admitted.headers;
    let access: string | undefined;
    // Upgrades go through Access like any request (no cookie can ride on a 101, the token can).
    if (snapshot.access.apps.hasHostname(admitted.host.hostname)) {
      const result = await runAccess(req, address, admitted.host, admitted.verdict, snapshot);
      access = result.kind;
      if ('reply' in result) {
        rawReply(client, result.reply.status, result.reply.headers, result.reply.body);
        return log(result.reply.status, access);
      }
      if (result.forward.assertion) extra = [...extra, ['gatehouse-jwt-assertion', result.forward.assertion]];
    }
    if (client.destroyed) return;
    const origin = admitted.host.origin;
    const headers = upstreamHeaders(req, admitted.host.stripped, extra);
    headers.connection = 'Upgrade';
    headers.upgrade = req.headers.upgrade ?? '';
    const t0 = performance.now();
    const upstream = (origin.protocol === 'https:' ? httpsRequest : httpRequest)({
      host: origin.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: Number(origin.port) || (origin.protocol === 'https:' ? 443 : 80),
      ...(origin.protocol === 'https:' ? { servername: origin.hostname } : {}),
      method: req.method,
      path: req.url,
      headers,
      agent: false,
    });
    upstream.setTimeout(UPGRADE_ANSWER_TIMEOUT_MS, () =>
      upstream.destroy(new Error('the origin did not answer')),
    );
    let answered = false;
    const onClientClose = () => upstream.destroy();
    client.once('close', onClientClose);

    upstream.on('upgrade', (res: IncomingMessage, tunnel: Socket, tunnelHead: Buffer) => {
      answered = true;
      upstream.setTimeout(0);
      tunnel.setTimeout(0);
      if (client.destroyed) return tunnel.destroy();
      const lines = [`HTTP/1.1 101 ${STATUS_CODES[101]}`];
      for (let i = 0; i < res.rawHeaders.length; i += 2)
        lines.push(`${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}`);
      client.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (tunnelHead.length > 0) client.write(tunnelHead);
      if (head.length > 0) tunnel.write(head);
      tunnel.on('error', () => client.destroy());
      tunnel.once('close', () => client.destroy());
      client.once('close', () => tunnel.destroy());
      tunnel.pipe(client).pipe(tunnel);
      log(101, access, performance.now() - t0);
    });

    upstream.on('response', (res: IncomingMessage) => {
      answered = true;
      upstream.setTimeout(0);
      relayResponse(req, client, res, () => {
        log(res.statusCode ?? 0, access, performance.now() - t0);
        client.off('close', onClientClose);
        if (client.destroyed) return;
        if (/\bclose\b/i.test(req.headers.connection ?? '')) return void client.end();
        // Back to HTTP: what the client sent after the head is the next request.
        client.off('error', onClientError);
        if (head.length > 0) client.unshift(head);
        httpConnection.call(server, client as TLSSocket);
      });
    });

    upstream.on('error', (err: Error) => {
      if (answered) return void client.destroy();
      logger.warn(
        { hostname: admitted.host.hostname, origin: origin.origin, err: err.message },
        'origin upgrade failed',
      );
      if (client.destroyed) return;
      const timeout = err.message === 'the origin did not answer';
      const r = edgeError(
        timeout ? 504 : 502,
        timeout ? 'gateway_timeout' : 'bad_gateway',
        timeout
          ? 'Gateway Timeout: the origin did not answer in time'
          : 'Bad Gateway: the origin could not be reached',
        req.headers.accept,
      );
      rawReply(client, r.status, { 'content-type': r.contentType }, r.body);
      log(r.status, access);
    });
    upstream.end();
  }

  /**
   * Relays an origin's answer to an upgrade it did not accept as a normal HTTP/1.1 response on the
   * raw client socket (node:http let go of it): hop-by-hop headers dropped, the body framed by
   * its Content-Length or chunked. `done` runs once it is all written.
   */
  function relayResponse(req: IncomingMessage, client: Socket, res: IncomingMessage, done: () => void): void {
    const status = res.statusCode ?? 502;
    const out = responseHeaders(res.headers as Record<string, string | string[] | undefined>);
    const noBody = req.method === 'HEAD' || status === 204 || status === 304;
    const chunked = !noBody && out['content-length'] === undefined;
    const lines = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`];
    for (const [name, value] of Object.entries(out))
      for (const v of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${String(v)}`);
    if (chunked) lines.push('transfer-encoding: chunked');
    client.write(`${lines.join('\r\n')}\r\n\r\n`);
    res.on('data', (d: Buffer) => {
      if (noBody || client.destroyed) return;
      const ok = chunked
        ? client.write(`${d.length.toString(16)}\r\n${d.toString('latin1')}\r\n`, 'latin1')
        : client.write(d);
      if (!ok) {
        res.pause();
        client.once('drain', () => res.resume());
      }
    });
    res.on('error', () => client.destroy());
    res.on('aborted', () => client.destroy());
    res.on('end', () => {
      if (chunked && !client.destroyed) client.write('0\r\n\r\n');
      done();
    });
  }

  return server;
}
