import {
  certificateNameDers,
  formatDistinguishedName,
  type ParsedCertificate,
  serialNumberText,
  validPolicies,
} from '../pki/index.js';

/**
 * Everything the edge may tell an origin about a client certificate, computed once per
 * certificate (then cached) so that requests only copy strings.
 */
export interface ClientCertInfo {
  subject: string;
  issuer: string;
  /** Attribute values by short name (CN, O, OU, …), most specific last, for `subject.CN`-style fields. */
  subjectAttributes: ReadonlyMap<string, readonly string[]>;
  issuerAttributes: ReadonlyMap<string, readonly string[]>;
  serial: string;
  ski: string;
  sha256: string;
  notBefore: string;
  notAfter: string;
  notAfterMs: number;
  sans: { dns: string[]; uri: string[]; email: string[]; ip: string[] };
  der: Buffer;
  /** The validated chain above the leaf, without the trust anchor (RFC 9440 Client-Cert-Chain). */
  chainDer: Buffer[];
  /**
   * The certificate policies the validated path is good for (RFC 5280 §6.1, in the anchor's
   * policy domain; anyPolicy when an anyPolicy branch reaches the leaf): the certificate_policy
   * access rule tests these.
   */
  policies: ReadonlySet<string>;
}

/** Node prints names one `KEY=value` per line; multi-valued RDNs come out as separate lines too. */
function attributes(multiline: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const line of multiline.split('\n')) {
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const key = line.slice(0, eq);
    map.set(key, [...(map.get(key) ?? []), line.slice(eq + 1)]);
  }
  return map;
}

function ipText(bytes: Buffer): string {
  if (bytes.length === 4) return [...bytes].join('.');
  const groups: string[] = [];
  for (let i = 0; i + 1 < bytes.length; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  return groups.join(':');
}

/**
 * Built from the leaf as path validation parsed it (no second decode: for a fleet of devices
 * each new to the edge, that second parse was most of the cost of a connection).
 */
export function clientCertInfo(leaf: ParsedCertificate, chain: readonly ParsedCertificate[]): ClientCertInfo {
  const names = certificateNameDers(leaf.der);
  const sans = { dns: [] as string[], uri: [] as string[], email: [] as string[], ip: [] as string[] };
  for (const name of leaf.subjectAltNames ?? []) {
    if (name.type === 'dns') sans.dns.push(name.value);
    else if (name.type === 'uri') sans.uri.push(name.value);
    else if (name.type === 'email') sans.email.push(name.value);
    else if (name.type === 'ip') sans.ip.push(ipText(name.bytes));
  }
  return {
    subject: formatDistinguishedName(names.subject),
    issuer: formatDistinguishedName(names.issuer),
    subjectAttributes: attributes(leaf.x509.subject),
    issuerAttributes: attributes(leaf.x509.issuer),
    serial: serialNumberText(leaf.serial),
    ski: leaf.subjectKeyId?.toLowerCase() ?? '',
    sha256: leaf.fingerprint,
    notBefore: leaf.notBefore.toISOString(),
    notAfter: leaf.notAfter.toISOString(),
    notAfterMs: leaf.notAfter.getTime(),
    sans,
    der: leaf.der,
    chainDer: chain.slice(1, -1).map((c) => c.der),
    policies: validPolicies(chain),
  };
}
