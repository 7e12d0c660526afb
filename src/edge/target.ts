/**
 * The request target and the Host header, as the edge reads them (pure functions).
 *
 * The request path the edge judges is the path the origin receives. Origins read paths in many
 * ways (WHATWG `new URL(url, base)` takes `//x/admin` as host `x`, CGI decodes `%2F`, IIS accepts
 * `\`, Java drops `;params` and resolves `..;`), so the edge normalises the one thing every
 * reading agrees on and refuses every target whose reading differs between origins:
 *
 * - percent-encoded unreserved characters are decoded (`%61` → `a`, RFC 3986 §6.2.2.2) and the
 *   other escapes upper-cased (`%c3%a9` → `%C3%A9`); that form is forwarded;
 * - refused (400 `invalid_target`): empty segments (`//`), `.` and `..` segments (also encoded),
 *   `;` (path parameters: Java origins drop them and resolve `..;`, others do not) raw or encoded,
 *   encoded `/` or `\`, `\`, `#`, escapes of control characters, malformed escapes or ones that
 *   are not UTF-8, and bytes outside visible ASCII anywhere in the target.
 *
 * The query is forwarded as sent (after the same byte check): no application is chosen by it.
 */

const HEX = /^[0-9A-Fa-f]{2}$/;

/** RFC 3986 unreserved characters: their escapes mean the character itself. */
const UNRESERVED = /^[A-Za-z0-9._~-]$/;

/** The normalised form of an origin-form target ("/path?query"), or undefined when ambiguous. */
export function normaliseTarget(target: string): string | undefined {
  if (target.charCodeAt(0) !== 0x2f) return undefined;
  const q = target.indexOf('?');
  const rawPath = q === -1 ? target : target.slice(0, q);
  const query = q === -1 ? '' : target.slice(q);
  // Visible ASCII only (node's parser already refuses spaces and most controls), no fragment.
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || c === 0x23) return undefined;
  }
  let path = rawPath;
  if (rawPath.includes('%')) {
    path = '';
    for (let i = 0; i < rawPath.length; i++) {
      const ch = rawPath[i] as string;
      if (ch !== '%') {
        path += ch;
        continue;
      }
      const hex = rawPath.slice(i + 1, i + 3);
      if (!HEX.test(hex)) return undefined;
      const byte = parseInt(hex, 16);
      // Encoded separators and controls: origins disagree on whether they separate or end paths.
      if (byte === 0x2f || byte === 0x5c || byte === 0x3b || byte < 0x20 || byte === 0x7f) return undefined;
      const decoded = String.fromCharCode(byte);
      path += UNRESERVED.test(decoded) ? decoded : `%${hex.toUpperCase()}`;
      i += 2;
    }
    // An origin decoding leniently (overlong UTF-8 for '.', '/') must not read a different path.
    try {
      decodeURIComponent(path);
    } catch {
      return undefined;
    }
  }
  if (path.includes('\\') || path.includes(';')) return undefined;
  const segments = path.split('/');
  for (let k = 1; k < segments.length; k++) {
    const segment = segments[k] as string;
    // An empty last segment is a trailing slash ("/a/"); anywhere else it is "//".
    if ((segment === '' && k < segments.length - 1) || segment === '.' || segment === '..') return undefined;
  }
  return path === rawPath ? target : path + query;
}

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
 * or refused as ambiguous (normaliseTarget): what the edge judges is what the origin receives.
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
