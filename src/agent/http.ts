// The agent's HTTPS client for the control-plane API. It trusts only the org root when one is given
// (else the system's roots), presents the registration's certificate when it has one (mTLS, the
// handshake signed by the device key wherever it lives), and turns every failure into a
// GatehouseError with a stable code: the server's own code for API errors, `server_unreachable`,
// `server_untrusted` or `tls_handshake_failed` for the transport.
import type { SecureContext } from 'node:tls';
import { Agent, request } from 'undici';
import { type ErrorCode, GatehouseError } from '../errors/index.js';

/** An error the server answered with (envelope code and message, HTTP status). */
export class ServerError extends GatehouseError {
  /** `code` is the server's envelope code: one of the catalogue (ERROR_CODES) from this version. */
  constructor(code: string, message: string, status: number) {
    super(code as ErrorCode, message, status);
    this.name = 'ServerError';
  }
}

export const isServerError = (err: unknown, status?: number): err is ServerError =>
  err instanceof ServerError && (status === undefined || err.status === status);

/** Worth retrying later with the same request: the network, the server's own trouble. */
export const isTransient = (err: unknown): boolean =>
  (err instanceof GatehouseError && err.code === 'server_unreachable') ||
  (err instanceof ServerError && (err.status >= 500 || err.status === 429));

export interface ServerClientOptions {
  serverUrl: string;
  /** Trust only these CA certificates (PEM). Ignored with `secureContext`, which carries its own. */
  caPem?: string;
  /** mTLS: presents the registration's certificate (and trusts what the context trusts). */
  secureContext?: SecureContext;
  timeoutMs?: number;
}

const CERT_ERRORS = new Set([
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'HOSTNAME_MISMATCH',
  'INVALID_CA',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
]);

function transportError(err: unknown, url: string): GatehouseError {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const codes = [e.code, e.cause?.code].filter((c): c is string => typeof c === 'string');
  const detail = e.cause?.message ?? e.message ?? String(err);
  if (codes.some((c) => CERT_ERRORS.has(c)))
    return new GatehouseError(
      'server_untrusted',
      `the server at ${url} is not trusted (${detail}); check --ca-file (the organization's root CA)`,
    );
  if (codes.some((c) => /^ERR_(SSL|TLS)_/.test(c)))
    return new GatehouseError('tls_handshake_failed', `TLS with ${url} failed: ${detail}`);
  const message = `cannot reach the Gatehouse server at ${url}: ${detail}`;
  return new GatehouseError('server_unreachable', message, 503, { cause: err });
}

export function normalizeServerUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new GatehouseError('invalid_server_url', `${JSON.stringify(raw)} is not a URL`);
  }
  if (url.protocol !== 'https:')
    throw new GatehouseError('invalid_server_url', `the server URL must be https:// (got ${url.protocol})`);
  if (url.search || url.hash || url.username || url.password)
    throw new GatehouseError('invalid_server_url', 'the server URL takes no query, fragment or credentials');
  return url.href.replace(/\/+$/, '');
}

const MAX_BODY = 1024 * 1024;

export class ServerClient {
  readonly #agent: Agent;
  readonly #base: string;

  constructor(opts: ServerClientOptions) {
    this.#base = normalizeServerUrl(opts.serverUrl);
    const timeout = opts.timeoutMs ?? 30_000;
    this.#agent = new Agent({
      connect: {
        timeout,
        ...(opts.secureContext
          ? { secureContext: opts.secureContext }
          : opts.caPem
            ? { ca: opts.caPem }
            : {}),
      },
      headersTimeout: timeout,
      bodyTimeout: timeout,
    });
  }

  /** Calls `path` (below /api/v1) and returns the envelope's `result`; throws on any failure. */
  async call<T>(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    opts: { bearer?: string; headers?: Record<string, string>; body?: unknown } = {},
  ): Promise<T> {
    const url = `${this.#base}/api/v1${path}`;
    const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
    if (opts.bearer) headers.authorization = `Bearer ${opts.bearer}`;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    let status: number;
    let text = '';
    try {
      const res = await request(url, {
        method,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        dispatcher: this.#agent,
      });
      status = res.statusCode;
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > MAX_BODY) {
          res.body.destroy();
          throw new GatehouseError('bad_response', `the answer from ${url} is larger than 1 MiB`, 502);
        }
        chunks.push(chunk);
      }
      text = Buffer.concat(chunks).toString('utf8');
    } catch (err) {
      if (err instanceof GatehouseError) throw err;
      throw transportError(err, this.#base);
    }
    let envelope: { success?: boolean; result?: T; errors?: { code?: string; message?: string }[] };
    try {
      envelope = JSON.parse(text) as typeof envelope;
    } catch {
      throw new ServerError(
        'bad_response',
        `${method} ${url} answered HTTP ${status} without a Gatehouse JSON envelope (is this a Gatehouse server?)`,
        status >= 400 ? status : 502,
      );
    }
    if (status >= 400 || envelope.success === false) {
      const first = envelope.errors?.[0];
      throw new ServerError(
        first?.code ?? 'server_error',
        `the server refused ${method} ${path} (HTTP ${status}): ${first?.message ?? 'no reason given'}`,
        status,
      );
    }
    return envelope.result as T;
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }
}
