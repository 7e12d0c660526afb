/**
 * Admission: which hostname a connection and each of its requests are for, and what the client
 * certificate is worth there. A request comes out either with the headers to forward (the
 * X-Forwarded-* and certificate headers) or with the response that ends it at the edge (400,
 * 421, the 403 block page). The verdict is computed once per connection and cached on the socket.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { type ClientCertVerdict, renderCertificateHeaders } from './headers.js';
import type { EdgeMetrics } from './metrics.js';
import { blockPage, type EdgeResponse, edgeError } from './responses.js';
import type { EdgeSnapshot, HostRuntime } from './snapshot.js';
import { hostOf, originFormTarget } from './target.js';
import { type CachedVerdict, evaluateClientCertificate } from './verify-client.js';

export type Admission =
  | { host?: HostRuntime; verdict?: ClientCertVerdict; response: EdgeResponse; headers?: undefined }
  | { host: HostRuntime; verdict: ClientCertVerdict; headers: [string, string][]; response?: undefined };

/** An admission that lets the request go on (to Access, then the origin). */
export type Admitted = Extract<Admission, { response?: undefined }>;

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

/**
 * A new TLS connection: counts its handshake, and tells whether anything on it can reach an origin
 * (false: enforce mode and no valid certificate, or no SNI / one not served here; such a
 * connection takes the refusal path).
 */
export function admitConnection(socket: TLSSocket, snapshot: EdgeSnapshot, metrics: EdgeMetrics): boolean {
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
  return !refused;
}

/**
 * A request node:http parsed (requests and upgrades alike): exactly one Host, a target the edge
 * can normalise (`req.url` is set to that form: what is forwarded, and what access applications
 * match on), then admitOn.
 */
export function admit(req: IncomingMessage, snapshot: EdgeSnapshot): Admission {
  // RFC 9112 §3.2: exactly one Host (node:http keeps the first of several; an origin may not).
  let hosts = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2)
    if ((req.rawHeaders[i] as string).length === 4 && (req.rawHeaders[i] as string).toLowerCase() === 'host')
      hosts++;
  if (hosts > 1)
    return {
      response: edgeError(400, 'missing_host', 'Bad Request: more than one Host header', req.headers.accept),
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
}

/**
 * The hostname (SNI and Host must agree, and be served here) and the certificate's worth on it.
 * Also used by the refusal path, on the head it reads itself.
 */
export function admitOn(
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
