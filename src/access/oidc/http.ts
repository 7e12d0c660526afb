import { type ErrorCode, GatehouseError } from '../../errors/index.js';

/** How the relying party reaches an IdP. Every field is optional; tests inject `fetch`. */
export interface OidcHttpOptions {
  /** A WHATWG fetch; defaults to the global one (Node's bundled undici). */
  fetch?: typeof fetch;
  /** Per request, covering the body too. Default 10 s. */
  timeoutMs?: number;
}

export const DEFAULT_TIMEOUT_MS = 10_000;
/** Discovery documents, token and UserInfo responses are small; anything larger is refused. */
const MAX_RESPONSE_BYTES = 1024 * 1024;

export interface JsonResponse {
  status: number;
  headers: Headers;
  /** The parsed body, or `undefined` when it was not JSON. */
  json: unknown;
}

/**
 * One request to an IdP: no redirects followed (a redirect is reported as such), a timeout over
 * the whole exchange, a size cap on the body. Network failures and timeouts throw GatehouseError
 * `code` (502); HTTP errors are returned for the caller to interpret.
 */
export async function requestJson(
  url: string,
  init: { method: 'GET' | 'POST'; headers?: Record<string, string>; body?: string },
  opts: OidcHttpOptions & { code: ErrorCode; what: string },
): Promise<JsonResponse> {
  const doFetch = opts.fetch ?? globalThis.fetch;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const fail = (message: string, cause?: unknown) =>
    new GatehouseError(opts.code, `${opts.what}: ${message}`, 502, { cause });
  let res: Response;
  let text: string;
  try {
    res = await doFetch(url, {
      method: init.method,
      headers: { accept: 'application/json', ...init.headers },
      body: init.body,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel().catch(() => undefined);
      throw fail(`${url} answered with a redirect (${res.status}); not followed`);
    }
    text = await readCapped(res, (detail) => fail(`cannot reach ${url}: ${detail}`));
  } catch (err) {
    if (err instanceof GatehouseError) throw err;
    const e = err as Error;
    if (e.name === 'TimeoutError' || e.name === 'AbortError') {
      throw fail(`${url} did not answer within ${timeoutMs} ms`, err);
    }
    const cause = (e.cause as Error | undefined)?.message;
    throw fail(`cannot reach ${url}: ${e.message}${cause ? ` (${cause})` : ''}`, err);
  }
  let json: unknown;
  const type = res.headers.get('content-type') ?? '';
  if (/^application\/([a-z0-9.+-]*\+)?json\b/i.test(type) || /^\s*[{[]/.test(text)) {
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
  }
  return { status: res.status, headers: res.headers, json };
}

/** The body, or `tooLarge` thrown when it exceeds MAX_RESPONSE_BYTES. */
async function readCapped(res: Response, tooLarge: (detail: string) => GatehouseError): Promise<string> {
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > MAX_RESPONSE_BYTES) {
    await res.body?.cancel().catch(() => undefined);
    throw tooLarge(`response too large (${declared} bytes)`);
  }
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_RESPONSE_BYTES) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(`response larger than ${MAX_RESPONSE_BYTES} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
