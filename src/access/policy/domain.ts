import { badRequest } from '../../errors/index.js';

/**
 * Application domains (`app.example.com`, `app.example.com/admin`) and choosing the application
 * for a request: the longest path prefix on the request's hostname, on path-segment boundaries,
 * compared against a canonical form of the request path so that encodings and dot segments
 * cannot route a request around a more specific application.
 */

export interface AppDomain {
  /** Lower-case DNS name, no trailing dot. */
  hostname: string;
  /** `/` for the whole hostname, else `/seg[/seg…]` without a trailing slash. */
  pathPrefix: string;
}

export interface AppLocation {
  readonly hostname: string;
  readonly pathPrefix: string;
}

const DNS_NAME =
  /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const IPV4_LITERAL = /^\d+(\.\d+){3}$/;
/** RFC 3986 pchar (unreserved, sub-delims, ':', '@') plus '%' (checked separately) and '/'. */
const PATH_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,;=:@%/]*$/;
const MAX_DOMAIN_LENGTH = 1280;

const isUnreserved = (c: number) =>
  (c >= 65 && c <= 90) ||
  (c >= 97 && c <= 122) ||
  (c >= 48 && c <= 57) ||
  c === 45 ||
  c === 46 ||
  c === 95 ||
  c === 126;

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * Splits and normalises an application domain: lower-case hostname (one trailing dot dropped),
 * path prefix without a trailing slash (root is `/`), percent-encoded unreserved characters
 * decoded and other percent-encodings upper-cased. Rejected with GatehouseError 400
 * `invalid_domain`: a scheme, port, query, fragment, whitespace, IP address, wildcard, empty or
 * dot segments (`//`, `/./`, `/../`), `;`, encoded slashes or backslashes, and malformed `%`
 * escapes.
 */
export function parseDomain(domain: string): AppDomain {
  const invalid = (why: string) =>
    badRequest('invalid_domain', `domain "${String(domain).slice(0, 100)}" is invalid: ${why}`);
  if (typeof domain !== 'string' || domain.length === 0 || domain.length > MAX_DOMAIN_LENGTH) {
    throw invalid(`expected 1 to ${MAX_DOMAIN_LENGTH} characters`);
  }
  if (domain.includes('://')) throw invalid('give a hostname and optional path, without a scheme');
  if (/[?#]/.test(domain)) throw invalid('no query or fragment');
  const slash = domain.indexOf('/');
  const rawHost = slash < 0 ? domain : domain.slice(0, slash);
  const rawPath = slash < 0 ? '' : domain.slice(slash);

  const hostname = rawHost.toLowerCase().replace(/\.$/, '');
  if (hostname.includes(':')) throw invalid('no port (the edge serves every hostname on its listener)');
  if (!DNS_NAME.test(hostname) || IPV4_LITERAL.test(hostname)) {
    throw invalid('the hostname must be a DNS name (letters, digits, hyphens, dots; no wildcard, no IP)');
  }
  return { hostname, pathPrefix: parsePathPrefix(rawPath, invalid) };
}

function parsePathPrefix(rawPath: string, invalid: (why: string) => Error): string {
  if (rawPath === '' || rawPath === '/') return '/';
  if (!PATH_CHARS.test(rawPath)) {
    throw invalid("the path may contain only letters, digits, -._~!$&'()*+,;=:@/ and %-escapes");
  }
  // Requests are matched with ";params" dropped from their segments (see canonicalPath).
  if (rawPath.includes(';')) throw invalid('no ";" (path parameters are ignored when matching requests)');
  let decoded = '';
  for (let i = 0; i < rawPath.length; i++) {
    const ch = rawPath[i] as string;
    if (ch !== '%') {
      decoded += ch;
      continue;
    }
    const hi = hexValue(rawPath.charCodeAt(i + 1));
    const lo = hexValue(rawPath.charCodeAt(i + 2));
    if (hi < 0 || lo < 0) throw invalid('"%" must start a two-digit hex escape');
    const byte = hi * 16 + lo;
    if (byte === 0x2f || byte === 0x5c) throw invalid('no encoded "/" or "\\"');
    if (byte < 0x20 || byte === 0x7f) throw invalid('no encoded control characters');
    decoded += isUnreserved(byte)
      ? String.fromCharCode(byte)
      : `%${rawPath.slice(i + 1, i + 3).toUpperCase()}`;
    i += 2;
  }
  const path = decoded.endsWith('/') ? decoded.slice(0, -1) : decoded;
  const segments = path.split('/').slice(1);
  for (const segment of segments) {
    if (segment === '') throw invalid('no empty path segments ("//")');
    if (segment === '.' || segment === '..') throw invalid('no "." or ".." path segments');
  }
  return path;
}

/** The normalised domain string for a parsed domain: `host` or `host/prefix`. */
export function formatDomain({ hostname, pathPrefix }: AppDomain): string {
  return pathPrefix === '/' ? hostname : `${hostname}${pathPrefix}`;
}

/**
 * The path an application is chosen by, from a request target as Node gives it (`req.url`):
 * query and fragment removed; an absolute-form target (`http://host/p`) reduced to its path and
 * anything else that does not start with `/` (`*`) taken as `/`; then, only when the path has
 * something to normalise, backslashes and encoded `/` or `\` treated as `/`, percent-encoded
 * unreserved characters decoded (other escapes upper-cased), `;params` dropped from segments,
 * empty segments collapsed, and `.`/`..` resolved (never above the root). Case is kept.
 *
 * This only decides which application's policies apply: the edge still forwards the original
 * target. The normalisation errs towards the more specific application, so `/admin;x`,
 * `//admin`, `/x/../admin` and `/%61dmin` are all judged by the `/admin` application.
 */
export function canonicalPath(target: string): string {
  let path = target;
  if (path.charCodeAt(0) !== 47) {
    const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/.exec(path);
    if (!m) return '/';
    path = path.slice(m[0].length);
    if (path.charCodeAt(0) !== 47) return '/';
  }
  let end = path.length;
  let simple = true;
  let prev = 0;
  for (let i = 0; i < end; i++) {
    const c = path.charCodeAt(i);
    if (c === 63 || c === 35) {
      end = i;
      break;
    }
    // '%', '\', ';' anywhere, or '/' followed by '/' or '.', need the slow path.
    if (c === 37 || c === 92 || c === 59 || (prev === 47 && (c === 47 || c === 46))) simple = false;
    prev = c;
  }
  if (end !== path.length) path = path.slice(0, end);
  return simple ? path : normalizePath(path);
}

function normalizePath(path: string): string {
  let decoded = '';
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === 92) {
      decoded += '/';
      continue;
    }
    if (c === 37) {
      const hi = hexValue(path.charCodeAt(i + 1));
      const lo = hexValue(path.charCodeAt(i + 2));
      if (hi >= 0 && lo >= 0) {
        const byte = hi * 16 + lo;
        if (byte === 0x2f || byte === 0x5c) decoded += '/';
        else if (isUnreserved(byte)) decoded += String.fromCharCode(byte);
        else decoded += `%${path.slice(i + 1, i + 3).toUpperCase()}`;
        i += 2;
        continue;
      }
    }
    decoded += path[i];
  }
  const out: string[] = [];
  const parts = decoded.split('/');
  for (let k = 1; k < parts.length; k++) {
    const part = parts[k] as string;
    const semi = part.indexOf(';');
    const segment = semi < 0 ? part : part.slice(0, semi);
    if (segment === '' || segment === '.') continue;
    if (segment === '..') out.pop();
    else out.push(segment);
  }
  return `/${out.join('/')}`;
}

/** Whether `path` (canonical, no query) is under `prefix` on a segment boundary. */
export function pathHasPrefix(path: string, prefix: string): boolean {
  if (prefix === '/') return true;
  return path.startsWith(prefix) && (path.length === prefix.length || path.charCodeAt(prefix.length) === 47);
}

const requestHost = (hostname: string) => {
  const h = hostname.toLowerCase();
  return h.endsWith('.') ? h.slice(0, -1) : h;
};

/**
 * The application for a request: among `apps` on `hostname` (case-insensitive, trailing dot
 * ignored), the one whose path prefix is the longest that matches the canonical request path on
 * a segment boundary (`/admin` matches `/admin`, `/admin/x`, `/admin?q`, not `/administrator`).
 * Undefined when none does. For the edge's per-request path, build an `AppIndex` once instead.
 */
export function selectApp<A extends AppLocation>(
  apps: readonly A[],
  hostname: string,
  path: string,
): A | undefined {
  const host = requestHost(hostname);
  const canonical = canonicalPath(path);
  let best: A | undefined;
  for (const app of apps) {
    if (app.hostname !== host || !pathHasPrefix(canonical, app.pathPrefix)) continue;
    if (!best || app.pathPrefix.length > best.pathPrefix.length) best = app;
  }
  return best;
}

/**
 * `selectApp` precomputed: applications grouped by hostname, longest prefix first. With only a
 * whole-hostname application on a hostname, the path is not even looked at.
 */
export class AppIndex<A extends AppLocation> {
  readonly #byHost = new Map<string, A[]>();

  constructor(apps: readonly A[]) {
    for (const app of apps) {
      const list = this.#byHost.get(app.hostname);
      if (list) list.push(app);
      else this.#byHost.set(app.hostname, [app]);
    }
    // Stable sort: among equal prefixes the first in `apps` wins, as in selectApp.
    for (const list of this.#byHost.values()) list.sort((a, b) => b.pathPrefix.length - a.pathPrefix.length);
  }

  /** Whether any application is on this hostname. */
  hasHostname(hostname: string): boolean {
    return this.#byHost.has(requestHost(hostname));
  }

  select(hostname: string, path: string): A | undefined {
    const list = this.#byHost.get(hostname) ?? this.#byHost.get(requestHost(hostname));
    if (!list) return undefined;
    const only = list[0] as A;
    if (list.length === 1 && only.pathPrefix === '/') return only;
    const canonical = canonicalPath(path);
    for (const app of list) if (pathHasPrefix(canonical, app.pathPrefix)) return app;
    return undefined;
  }
}
