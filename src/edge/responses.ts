/**
 * What the edge answers itself: the bodies (block pages, errors), and how they are written, on a
 * node:http response (send) or as raw HTTP/1.1 on a socket node:http does not parse (the refusal
 * path: rawResponse, clientErrorResponse; upgrades: rawReply).
 */
import type { Socket } from 'node:net';
import { type ServerResponse, STATUS_CODES } from 'node:http';
import type { BlockResponse } from './client-auth.js';
import { escapeHtml } from '../errors/index.js';
import type { UpstreamFailure } from './proxy.js';
import type { HostRuntime } from './snapshot.js';

/** A response the edge answers itself (403 block page, 421, 502, …). */
export interface EdgeResponse {
  status: number;
  contentType: string;
  body: string;
}

export const wantsJson = (accept: string | undefined): boolean =>
  Boolean(accept && /\bapplication\/(?:[\w.+-]*\+)?json\b/i.test(accept));

const REASON_TEXT: Record<string, string> = {
  no_certificate: 'This site requires a client certificate, and none was presented.',
  untrusted: 'The client certificate is not issued by a CA this site trusts.',
  expired: 'The client certificate (or a certificate in its chain) has expired.',
  not_yet_valid: 'The client certificate is not valid yet.',
  revoked: 'The client certificate has been revoked.',
  crl_expired: 'The revocation status of the client certificate cannot be established.',
  eku_mismatch: 'The client certificate is not allowed for client authentication.',
};

/**
 * The enforce-mode 403. The hostname's own JSON or HTML when set; otherwise a built-in body that
 * states the reason code and nothing else (no subject, no CA names, no internals).
 */
export function blockResponse(
  block: BlockResponse,
  reason: string,
  accept: string | undefined,
): EdgeResponse {
  if (wantsJson(accept)) {
    const body = block.json !== undefined ? block.json : { error: 'client_certificate_required', reason };
    return { status: 403, contentType: 'application/json', body: JSON.stringify(body) };
  }
  if (block.html !== undefined)
    return { status: 403, contentType: 'text/html; charset=utf-8', body: block.html };
  const text = REASON_TEXT[reason] ?? 'The client certificate was not accepted.';
  return {
    status: 403,
    contentType: 'text/html; charset=utf-8',
    body:
      '<!doctype html><html><head><meta charset="utf-8"><title>403 Forbidden</title></head><body>' +
      `<h1>403 Forbidden</h1><p>${escapeHtml(text)}</p><p>Reason: <code>${escapeHtml(reason)}</code></p></body></html>\n`,
  };
}

/** Errors the edge produces itself, as small JSON or text bodies depending on Accept. */
export function edgeError(
  status: number,
  code: string,
  message: string,
  accept: string | undefined,
): EdgeResponse {
  if (wantsJson(accept))
    return { status, contentType: 'application/json', body: JSON.stringify({ error: code, message }) };
  return { status, contentType: 'text/plain; charset=utf-8', body: `${status} ${message} (${code})\n` };
}

/** The origin could not be reached (502) or did not answer in time (504). */
export const originFailure = (failure: UpstreamFailure, accept: string | undefined): EdgeResponse =>
  failure === 'gateway_timeout'
    ? edgeError(504, failure, 'Gateway Timeout: the origin did not answer in time', accept)
    : edgeError(502, failure, 'Bad Gateway: the origin could not be reached', accept);

/**
 * The block pages of a hostname, rendered once per (reason, JSON or not): a refused client
 * (a flood of them, in an attack) costs no rendering. Keyed by the host runtime, which a new
 * snapshot replaces along with its block settings.
 */
const blockPages = new WeakMap<HostRuntime, Map<string, EdgeResponse>>();

export function blockPage(host: HostRuntime, reason: string, accept: string | undefined): EdgeResponse {
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

/** Writes an edge response on a node:http response. */
export function send(res: ServerResponse, r: EdgeResponse): void {
  res.writeHead(r.status, {
    'content-type': r.contentType,
    'content-length': Buffer.byteLength(r.body),
    'cache-control': 'no-store',
    // After a malformed request nothing later on the connection can be trusted to be framed right.
    ...(r.status === 400 ? { connection: 'close' } : {}),
  });
  res.end(r.body);
}

/** The plain answers to requests that cannot be parsed (node:http's clientError and ours). */
export function clientErrorResponse(status: number): string {
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
export function rawResponse(r: EdgeResponse, headOnly: boolean): string {
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

/** Answers on a socket node:http let go of (an upgrade request) and closes it. */
export function rawReply(
  client: Socket,
  status: number,
  headers: Record<string, string | string[]>,
  body: string,
): void {
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`,
    'connection: close',
    `content-length: ${Buffer.byteLength(body)}`,
  ];
  for (const [name, value] of Object.entries(headers))
    for (const v of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${v}`);
  client.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
}
