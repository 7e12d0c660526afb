import type { BlockResponse } from './client-auth.js';

/** A response the edge answers itself (403 block page, 421, 502, …). */
export interface EdgeResponse {
  status: number;
  contentType: string;
  body: string;
}

const escapeHtml = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  );

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
