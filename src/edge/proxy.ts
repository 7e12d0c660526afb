import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { errors, Pool } from 'undici';
import { isEdgeOwnedHeader, stripEdgeCookies } from './headers.js';

/** Hop-by-hop headers (RFC 9110 §7.6.1): they describe one connection and are never forwarded. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

export interface ProxyTimeouts {
  connectMs: number;
  headersMs: number;
  bodyMs: number;
}

export const DEFAULT_TIMEOUTS: ProxyTimeouts = { connectMs: 5_000, headersMs: 60_000, bodyMs: 300_000 };

export type UpstreamFailure = 'bad_gateway' | 'gateway_timeout';

export type UpstreamOutcome =
  { status: number; failure?: undefined } | { failure: UpstreamFailure; error: Error };

/**
 * Builds the request headers for the origin: inbound headers minus hop-by-hop ones (and those
 * the Connection header names) minus everything the edge owns, then the edge's own. Names are
 * judged normalised (lower case, `_` as `-`), as CGI/WSGI/PHP origins read them; a name with
 * `_` that normalises to another inbound header's name is dropped too, so that it can neither
 * pose as nor merge into that header. The edge's cookies are removed from Cookie.
 */
export function upstreamHeaders(
  req: IncomingMessage,
  stripped: ReadonlySet<string>,
  added: readonly (readonly [string, string])[],
): Record<string, string | string[]> {
  const connectionTokens = req.headers.connection
    ? new Set(req.headers.connection.split(',').map((t) => t.trim().toLowerCase().replaceAll('_', '-')))
    : undefined;
  const out: Record<string, string | string[]> = {};
  const inbound = req.headers;
  let underscored: Set<string> | undefined; // normalised names of `_` headers already forwarded
  for (const name in inbound) {
    const value = inbound[name];
    if (value === undefined) continue;
    const underscore = name.includes('_');
    const normalised = underscore ? name.replaceAll('_', '-') : name;
    if (
      HOP_BY_HOP.has(normalised) ||
      isEdgeOwnedHeader(normalised, stripped) ||
      connectionTokens?.has(normalised) ||
      (underscore && (normalised in inbound || underscored?.has(normalised)))
    )
      continue;
    if (underscore) (underscored ??= new Set()).add(normalised);
    if (normalised === 'cookie' && typeof value === 'string') {
      const kept = stripEdgeCookies(value);
      if (kept !== undefined) out[name] = kept;
      continue;
    }
    out[name] = value;
  }
  for (const [name, value] of added) out[name] = value;
  return out;
}

export function responseHeaders(headers: Record<string, string | string[] | undefined>): OutgoingHttpHeaders {
  // Connection usually says only keep-alive or close: then it names no other header to drop.
  const connection = headers.connection;
  const connectionTokens =
    typeof connection === 'string' && connection !== 'keep-alive' && connection !== 'close'
      ? connection.split(',').map((t) => t.trim().toLowerCase())
      : undefined;
  const out: OutgoingHttpHeaders = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || HOP_BY_HOP.has(name) || connectionTokens?.includes(name)) continue;
    out[name] = value;
  }
  return out;
}

/** Keep-alive connection pools to origins, one per origin URL, reused across requests. */
export class UpstreamPools {
  readonly #pools = new Map<string, Pool>();
  /** By URL object too: host runtimes keep theirs, and `URL#origin` is not free per request. */
  readonly #byUrl = new WeakMap<URL, Pool>();
  readonly #timeouts: ProxyTimeouts;

  constructor(timeouts: ProxyTimeouts = DEFAULT_TIMEOUTS) {
    this.#timeouts = timeouts;
  }

  pool(origin: URL): Pool {
    const known = this.#byUrl.get(origin);
    if (known && !known.closed) return known;
    let pool = this.#pools.get(origin.origin);
    if (!pool) {
      pool = new Pool(origin.origin, {
        connections: 128,
        pipelining: 1,
        connect: { timeout: this.#timeouts.connectMs },
        headersTimeout: this.#timeouts.headersMs,
        bodyTimeout: this.#timeouts.bodyMs,
        keepAliveTimeout: 30_000,
      });
      this.#pools.set(origin.origin, pool);
    }
    this.#byUrl.set(origin, pool);
    return pool;
  }

  /**
   * Streams the request to the origin and the response back, then calls `done` with the upstream
   * status, or with the failure class when the origin could not be reached or timed out (the
   * caller answers 502/504 if nothing was sent yet).
   */
  forward(
    origin: URL,
    req: IncomingMessage,
    res: ServerResponse,
    headers: Record<string, string | string[]>,
    setCookies: readonly string[] | undefined,
    done: (outcome: UpstreamOutcome) => void,
  ): void {
    const hasBody =
      req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    this.pool(origin).stream(
      {
        path: req.url ?? '/',
        method: req.method as 'GET',
        headers,
        body: hasBody ? req : null,
      },
      ({ statusCode, headers: upstream }) => {
        const out = responseHeaders(upstream as Record<string, string | string[] | undefined>);
        if (setCookies?.length) {
          // The origin's cookies and the edge's session cookie both reach the client.
          const theirs = out['set-cookie'];
          const list = theirs === undefined ? [] : Array.isArray(theirs) ? theirs : [String(theirs)];
          out['set-cookie'] = [...list, ...setCookies];
        }
        res.writeHead(statusCode, out);
        return res;
      },
      (error) => {
        if (!error) return done({ status: res.statusCode });
        done({
          failure:
            error instanceof errors.HeadersTimeoutError ||
            error instanceof errors.BodyTimeoutError ||
            error instanceof errors.ConnectTimeoutError
              ? 'gateway_timeout'
              : 'bad_gateway',
          error,
        });
      },
    );
  }

  async close(): Promise<void> {
    await Promise.all([...this.#pools.values()].map((p) => p.close()));
    this.#pools.clear();
  }
}
