/**
 * Cookies: the one `Set-Cookie` builder, reading `Cookie` headers, and the session cookie.
 *
 * The session cookie is **host-only**: no `Domain` attribute, so the browser sends it back to
 * exactly the app's hostname and never to its subdomains or siblings (a `Domain=app.example.com`
 * cookie would also reach `evil.app.example.com`). `Path=/` covers the whole app. The token's
 * `aud` binds it to the app anyway; host-only keeps it from being shown to anyone else.
 */

export const SESSION_COOKIE_NAME = 'Gatehouse_Authorization';

/** RFC 6265 cookie-octet: visible ASCII except DQUOTE, comma, semicolon and backslash. */
const COOKIE_VALUE = /^[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]*$/;

export interface CookieAttributes {
  /** Whole seconds; 0 deletes the cookie (and adds an `Expires` in the past for old clients). */
  maxAgeSeconds: number;
  path: string;
  /** Lax where a cross-site top-level navigation must carry it (an IdP's redirect back), else Strict. */
  sameSite: 'Lax' | 'Strict';
}

/**
 * The one `Set-Cookie` builder: every Gatehouse cookie is host-only (no `Domain`), `HttpOnly` and
 * `Secure`. Throws TypeError for a value that is not a cookie-octet string, RangeError for a
 * negative or fractional `Max-Age`.
 */
export function setCookie(name: string, value: string, attributes: CookieAttributes): string {
  const { maxAgeSeconds, path, sameSite } = attributes;
  if (!Number.isSafeInteger(maxAgeSeconds) || maxAgeSeconds < 0) {
    throw new RangeError(`maxAgeSeconds must be a non-negative integer, got ${maxAgeSeconds}`);
  }
  if (!COOKIE_VALUE.test(value))
    throw new TypeError(`the value of cookie ${name} is not a valid cookie value`);
  const expires = maxAgeSeconds === 0 ? ' Expires=Thu, 01 Jan 1970 00:00:00 GMT;' : '';
  return `${name}=${value}; Max-Age=${maxAgeSeconds};${expires} Path=${path}; HttpOnly; Secure; SameSite=${sameSite}`;
}

const SESSION_COOKIE = { path: '/', sameSite: 'Lax' } as const;

export interface SessionCookieOptions {
  /** The policy's session duration, in whole seconds (at least 1; "0s" sessions set no cookie). */
  maxAgeSeconds: number;
}

/** The `Set-Cookie` value that stores `token` for the session. */
export function sessionCookie(token: string, options: SessionCookieOptions): string {
  const { maxAgeSeconds } = options;
  if (!Number.isSafeInteger(maxAgeSeconds) || maxAgeSeconds < 1) {
    throw new RangeError(`maxAgeSeconds must be a positive integer, got ${maxAgeSeconds}`);
  }
  if (token.length === 0 || !COOKIE_VALUE.test(token))
    throw new TypeError('token is not a valid cookie value');
  return setCookie(SESSION_COOKIE_NAME, token, { maxAgeSeconds, ...SESSION_COOKIE });
}

/**
 * The `Set-Cookie` value that deletes the session cookie (same name, path and host-only scope as
 * `sessionCookie`, which a deletion has to match). `Expires` is for clients without `Max-Age`.
 */
export function clearSessionCookie(): string {
  return setCookie(SESSION_COOKIE_NAME, '', { maxAgeSeconds: 0, ...SESSION_COOKIE });
}

function* cookiePairs(header: string | readonly string[] | undefined): Generator<[string, string]> {
  if (header === undefined) return;
  for (const line of typeof header === 'string' ? [header] : header) {
    for (const pair of line.split(';')) {
      const eq = pair.indexOf('=');
      if (eq < 0) continue;
      const name = pair.slice(0, eq).trim();
      let value = pair.slice(eq + 1).trim();
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
      yield [name, value];
    }
  }
}

/**
 * Every value of cookie `name` in a `Cookie` header (a string, or the lines of repeated headers),
 * in order. Names are case-sensitive; surrounding whitespace and one pair of double quotes around
 * a value are removed; values are not percent-decoded; pairs without `=` are skipped.
 */
export function readCookies(header: string | readonly string[] | undefined, name: string): string[] {
  const values: string[] = [];
  for (const [n, v] of cookiePairs(header)) if (n === name) values.push(v);
  return values;
}

/**
 * The first value of cookie `name`, or undefined. Browsers send the most specific cookie first
 * (longest path, then oldest); a same-name cookie planted by a sibling subdomain with a `Domain`
 * attribute may still come first, so a caller can try every value of `readCookies` instead.
 */
export function readCookie(header: string | readonly string[] | undefined, name: string): string | undefined {
  for (const [n, v] of cookiePairs(header)) if (n === name) return v;
  return undefined;
}
