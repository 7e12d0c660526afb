import type { ClientCertInfo } from './cert-info.js';
import type { CertificateField, ForwardConfig } from './client-auth.js';

/** What the edge concluded about the connection's client certificate. */
export type CertStatus = 'none' | 'valid' | 'invalid';

export interface ClientCertVerdict {
  status: CertStatus;
  /** Why it is invalid (`untrusted`, `expired`, `revoked`, …); undefined otherwise. */
  reason?: string;
  /** Details of a certificate that validated (status `valid`, or `invalid` only for revocation). */
  cert?: ClientCertInfo;
  /** Subject Key Identifier of an unverified certificate, for access logs only. */
  ski?: string;
}

const GATEHOUSE_PREFIX = 'gatehouse-client-cert-';

/**
 * Headers the edge owns: an inbound copy of any of these never reaches the origin. Names are
 * compared normalised (lower case, `_` as `-`: CGI, WSGI and PHP read `X_Forwarded_For` as
 * `X-Forwarded-For`), and whole namespaces are the edge's too (see isEdgeOwnedHeader).
 */
export const EDGE_OWNED_HEADERS: readonly string[] = [
  ...['status', 'reason', 'ski', 'sha256', 'serial', 'subject', 'issuer', 'not-before', 'not-after'].map(
    (h) => GATEHOUSE_PREFIX + h,
  ),
  'client-cert',
  'client-cert-chain',
  'x-forwarded-client-cert',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'gatehouse-jwt-assertion',
  // Other proxies' spellings of the client address: an origin may trust any of them.
  'forwarded',
  'x-real-ip',
  'x-client-ip',
  'true-client-ip',
];

/**
 * Whether an inbound header (its name normalised: lower case, `_` → `-`) is the edge's own:
 * the fixed list, the host's custom certificate headers, and every `gatehouse-*` (certificate
 * headers, the JWT assertion, the service token's `Gatehouse-Access-Client-Id`/`-Secret`) and
 * `x-forwarded-*` name.
 */
export function isEdgeOwnedHeader(normalised: string, stripped: ReadonlySet<string>): boolean {
  return (
    stripped.has(normalised) || normalised.startsWith('gatehouse-') || normalised.startsWith('x-forwarded-')
  );
}

/**
 * The Cookie header without the edge's own cookies (`Gatehouse_Authorization`, the session;
 * `Gatehouse_Login`, the login state; any `Gatehouse_*`, compared case-insensitively): the
 * origin gets the signed assertion instead, never the bearer credential. Undefined when nothing
 * is left.
 */
export function stripEdgeCookies(cookie: string): string | undefined {
  if (!/gatehouse_/i.test(cookie)) return cookie;
  const kept = cookie
    .split(';')
    .filter((pair) => !/^\s*gatehouse_/i.test(pair))
    .map((pair) => pair.trim())
    .filter((pair) => pair !== '');
  return kept.length > 0 ? kept.join('; ') : undefined;
}

/**
 * Header values must be visible ASCII: anything else (non-ASCII names, control characters) is
 * percent-encoded as UTF-8, as is '%' itself, so the origin can decode losslessly.
 */
export function headerSafe(value: string): string {
  // Fast path: most values are plain ASCII.
  if (/^[\x20-\x24\x26-\x7e]*$/.test(value)) return value;
  let out = '';
  for (const ch of value) {
    const code = ch.codePointAt(0) as number;
    if (code >= 0x20 && code <= 0x7e && ch !== '%') out += ch;
    else
      out += [...Buffer.from(ch, 'utf8')]
        .map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`)
        .join('');
  }
  return out;
}

const sfBinary = (der: Buffer) => `:${der.toString('base64')}:`;
const pem = (der: Buffer) =>
  `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`;
const quoted = (value: string) => `"${value.replace(/["\\]/g, '\\$&')}"`;

export function certificateField(field: CertificateField, verdict: ClientCertVerdict): string | undefined {
  if (field === 'status') return verdict.status;
  if (field === 'reason') return verdict.reason;
  const cert = verdict.cert;
  if (!cert) return undefined;
  switch (field) {
    case 'subject':
      return cert.subject;
    case 'issuer':
      return cert.issuer;
    case 'serial':
      return cert.serial;
    case 'ski':
      return cert.ski || undefined;
    case 'sha256':
      return cert.sha256;
    case 'not_before':
      return cert.notBefore;
    case 'not_after':
      return cert.notAfter;
    case 'san.dns':
      return cert.sans.dns.join(', ') || undefined;
    case 'san.uri':
      return cert.sans.uri.join(', ') || undefined;
    case 'san.email':
      return cert.sans.email.join(', ') || undefined;
    case 'san.ip':
      return cert.sans.ip.join(', ') || undefined;
    default: {
      const [scope, attr] = field.split('.') as ['subject' | 'issuer', string];
      const values = (scope === 'subject' ? cert.subjectAttributes : cert.issuerAttributes).get(attr);
      return values?.join(', ') || undefined;
    }
  }
}

/**
 * The headers to send to the origin for this verdict, as [lower-case name, value] pairs. Details
 * (everything but status and reason) go out only for a valid certificate: an origin must never
 * mistake an unverified certificate's fields for an identity.
 */
export function renderCertificateHeaders(
  forward: ForwardConfig,
  verdict: ClientCertVerdict,
  mode: 'report' | 'enforce',
): [string, string][] {
  const out: [string, string][] = [];
  const styles = new Set(forward.styles);
  // Report mode exists to tell the origin the status, whatever styles are chosen.
  if (styles.has('gatehouse') || mode === 'report') {
    out.push([`${GATEHOUSE_PREFIX}status`, verdict.status]);
    if (verdict.reason) out.push([`${GATEHOUSE_PREFIX}reason`, verdict.reason]);
  }
  const cert = verdict.status === 'valid' ? verdict.cert : undefined;
  if (cert && styles.has('gatehouse')) {
    out.push(
      [`${GATEHOUSE_PREFIX}ski`, cert.ski],
      [`${GATEHOUSE_PREFIX}sha256`, cert.sha256],
      [`${GATEHOUSE_PREFIX}serial`, cert.serial],
      [`${GATEHOUSE_PREFIX}subject`, headerSafe(cert.subject)],
      [`${GATEHOUSE_PREFIX}issuer`, headerSafe(cert.issuer)],
      [`${GATEHOUSE_PREFIX}not-before`, cert.notBefore],
      [`${GATEHOUSE_PREFIX}not-after`, cert.notAfter],
    );
  }
  if (cert && styles.has('rfc9440')) {
    out.push(['client-cert', sfBinary(cert.der)]);
    if (cert.chainDer.length > 0) out.push(['client-cert-chain', cert.chainDer.map(sfBinary).join(', ')]);
  }
  if (cert && styles.has('xfcc')) {
    const parts = [
      `Hash=${cert.sha256}`,
      `Cert=${quoted(encodeURIComponent(pem(cert.der)))}`,
      `Chain=${quoted(encodeURIComponent([cert.der, ...cert.chainDer].map(pem).join('')))}`,
      `Subject=${quoted(headerSafe(cert.subject))}`,
      ...cert.sans.uri.map((u) => `URI=${headerSafe(u)}`),
      ...cert.sans.dns.map((d) => `DNS=${headerSafe(d)}`),
    ];
    out.push(['x-forwarded-client-cert', parts.join(';')]);
  }
  for (const { header, field } of forward.custom) {
    const detailField = field !== 'status' && field !== 'reason';
    const value = certificateField(field, detailField && !cert ? { status: verdict.status } : verdict);
    if (value !== undefined) out.push([header.toLowerCase(), headerSafe(value)]);
  }
  return out;
}

/** Lower-case names to strip from inbound requests: the fixed set plus the host's custom headers. */
export function strippedHeaders(forward: ForwardConfig): ReadonlySet<string> {
  return new Set([
    ...EDGE_OWNED_HEADERS,
    ...forward.custom.map((c) => c.header.toLowerCase().replaceAll('_', '-')),
  ]);
}
