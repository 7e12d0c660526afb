import { createHash, X509Certificate as NodeX509Certificate } from 'node:crypto';
import type { KeyUsageFlags, X509Certificate } from '@peculiar/x509';
import { badRequest } from '../errors/index.js';
import { type DerElement, readDerElements } from './der.js';
import { x509 } from './keys.js';
import { parsePem } from './pem.js';

export interface CertificateDescription {
  /** RFC 4514 string (most specific RDN first, e.g. "CN=alice,OU=eng,O=Acme"). */
  subject: string;
  /** RFC 4514 string of the issuer name. */
  issuer: string;
  /** The last (most specific) CN of the subject, if any. */
  commonName?: string;
  /** Lowercase hex of the serial number's DER INTEGER content, without a 0x00 sign pad. */
  serialNumber: string;
  /** Lowercase hex SHA-256 of the certificate DER, no colons. */
  fingerprintSha256: string;
  /** Subject key identifier, lowercase hex. */
  ski?: string;
  /** Authority key identifier (keyIdentifier field), lowercase hex. */
  aki?: string;
  notBefore: Date;
  notAfter: Date;
  isCa: boolean;
  pathLength?: number;
  /** RFC 5280 names: digitalSignature, keyEncipherment, keyCertSign, cRLSign, … */
  keyUsage?: string[];
  /** serverAuth, clientAuth, … or the dotted OID for purposes without a well-known name. */
  extendedKeyUsage?: string[];
}

/**
 * Describes a certificate given as PEM (exactly one CERTIFICATE block) or DER. Node's OpenSSL-backed
 * parser is the gatekeeper (anything it rejects is `invalid_certificate`); extension details come
 * from @peculiar/x509, since node does not expose them.
 */
export function describeCertificate(pemOrDer: string | Uint8Array): CertificateDescription {
  const der = certificateDer(pemOrDer);
  let node: NodeX509Certificate;
  let cert: X509Certificate;
  try {
    node = new NodeX509Certificate(der);
    cert = new x509.X509Certificate(der);
  } catch (err) {
    throw badRequest('invalid_certificate', 'certificate does not parse as X.509 (DER)', err);
  }
  const names = certificateNameDers(der, () => cert);
  const subjectDer = names.subject;
  const description: CertificateDescription = {
    subject: formatDistinguishedName(subjectDer),
    issuer: formatDistinguishedName(names.issuer),
    serialNumber: cert.serialNumber.toLowerCase(),
    fingerprintSha256: createHash('sha256').update(der).digest('hex'),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    isCa: node.ca,
  };
  const commonName = lastCommonName(subjectDer);
  if (commonName !== undefined) description.commonName = commonName;

  const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension);
  if (ski) description.ski = ski.keyId.toLowerCase();
  const aki = cert.getExtension(x509.AuthorityKeyIdentifierExtension);
  if (aki?.keyId) description.aki = aki.keyId.toLowerCase();
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  if (bc?.ca && bc.pathLength !== undefined) description.pathLength = bc.pathLength;
  const ku = cert.getExtension(x509.KeyUsagesExtension);
  if (ku) description.keyUsage = keyUsageNames(ku.usages);
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
  if (eku) description.extendedKeyUsage = Array.from(eku.usages, (u) => EKU_NAMES[String(u)] ?? String(u));
  return description;
}

function certificateDer(pemOrDer: string | Uint8Array): Buffer {
  if (typeof pemOrDer !== 'string') return Buffer.from(pemOrDer);
  const ders = parsePem(pemOrDer, 'CERTIFICATE');
  const der = ders[0];
  if (ders.length !== 1 || !der) {
    throw badRequest('invalid_pem', `expected exactly one CERTIFICATE block, found ${ders.length}`);
  }
  return der;
}

const KEY_USAGE_BITS: [KeyUsageFlags, string][] = [
  [x509.KeyUsageFlags.digitalSignature, 'digitalSignature'],
  [x509.KeyUsageFlags.nonRepudiation, 'nonRepudiation'],
  [x509.KeyUsageFlags.keyEncipherment, 'keyEncipherment'],
  [x509.KeyUsageFlags.dataEncipherment, 'dataEncipherment'],
  [x509.KeyUsageFlags.keyAgreement, 'keyAgreement'],
  [x509.KeyUsageFlags.keyCertSign, 'keyCertSign'],
  [x509.KeyUsageFlags.cRLSign, 'cRLSign'],
  [x509.KeyUsageFlags.encipherOnly, 'encipherOnly'],
  [x509.KeyUsageFlags.decipherOnly, 'decipherOnly'],
];

function keyUsageNames(flags: number): string[] {
  return KEY_USAGE_BITS.filter(([bit]) => (flags & bit) !== 0).map(([, name]) => name);
}

const EKU_NAMES: Record<string, string> = {
  '1.3.6.1.5.5.7.3.1': 'serverAuth',
  '1.3.6.1.5.5.7.3.2': 'clientAuth',
  '1.3.6.1.5.5.7.3.3': 'codeSigning',
  '1.3.6.1.5.5.7.3.4': 'emailProtection',
  '1.3.6.1.5.5.7.3.8': 'timeStamping',
  '1.3.6.1.5.5.7.3.9': 'ocspSigning',
  '2.5.29.37.0': 'anyExtendedKeyUsage',
};

// ---------------------------------------------------------------------------------------------
// Distinguished names. @peculiar/x509's Name#toString is RFC 2253-like but in forward order and
// with ", " separators; node gives newline-separated forward order. We format RFC 4514 ourselves
// from the DER so that CSR subjects and certificate subjects read the same everywhere.
// ---------------------------------------------------------------------------------------------

const ATTRIBUTE_NAMES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.6': 'C',
  '2.5.4.9': 'STREET',
  '0.9.2342.19200300.100.1.25': 'DC',
  '0.9.2342.19200300.100.1.1': 'UID',
  // Not in RFC 4514's table, but widely understood (OpenSSL spells them this way).
  '2.5.4.4': 'SN',
  '2.5.4.5': 'serialNumber',
  '2.5.4.12': 'title',
  '2.5.4.42': 'GN',
  '1.2.840.113549.1.9.1': 'emailAddress',
};

const COMMON_NAME_OID = '2.5.4.3';

type Tlv = DerElement;

function invalidName(): Error {
  return badRequest('invalid_certificate', 'distinguished name is not valid DER');
}

function readElements(bytes: Uint8Array): Tlv[] {
  const elements = readDerElements(bytes);
  if (!elements) throw invalidName();
  return elements;
}

function decodeOid(content: Uint8Array): string {
  const parts: number[] = [];
  let value = 0;
  for (const byte of content) {
    value = value * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      if (parts.length === 0) {
        const first = value < 80 ? Math.floor(value / 40) : 2;
        parts.push(first, value - first * 40);
      } else {
        parts.push(value);
      }
      value = 0;
    }
  }
  return parts.join('.');
}

/** Decodes a DirectoryString-ish value; undefined when it is not a string type we know. */
function decodeString(tlv: Tlv): string | undefined {
  const c = Buffer.from(tlv.content);
  switch (tlv.tag) {
    case 0x0c: // UTF8String
      return new TextDecoder('utf-8', { fatal: true }).decode(c);
    case 0x12: // NumericString
    case 0x13: // PrintableString
    case 0x16: // IA5String
    case 0x1a: // VisibleString
      return c.toString('latin1');
    case 0x14: // TeletexString (treated as Latin-1, as most software does)
      return c.toString('latin1');
    case 0x1e: {
      // BMPString, UTF-16BE
      if (c.length % 2) return undefined;
      const swapped = Buffer.from(c);
      swapped.swap16();
      return swapped.toString('utf16le');
    }
    case 0x1c: {
      // UniversalString, UTF-32BE
      if (c.length % 4) return undefined;
      let s = '';
      for (let i = 0; i < c.length; i += 4) s += String.fromCodePoint(c.readUInt32BE(i));
      return s;
    }
    default:
      return undefined;
  }
}

function escapeValue(value: string): string {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const ch = value[i] as string;
    const code = ch.charCodeAt(0);
    if (
      '"+,;<>\\'.includes(ch) ||
      (i === 0 && (ch === '#' || ch === ' ')) ||
      (i === value.length - 1 && ch === ' ')
    ) {
      out += `\\${ch}`;
    } else if (code < 0x20 || code === 0x7f) {
      // Control characters (including NUL and newlines) as hex pairs, so names are log-safe.
      out += `\\${code.toString(16).padStart(2, '0')}`;
    } else {
      out += ch;
    }
  }
  return out;
}

interface NameAttribute {
  oid: string;
  value?: string;
  raw: Uint8Array;
}

/** Parses a DER Name into RDNs (forward order, as encoded). */
function parseName(nameDer: Uint8Array): NameAttribute[][] {
  const [seq] = readElements(nameDer);
  if (seq?.tag !== 0x30) throw invalidName();
  return readElements(seq.content).map((set) => {
    if (set.tag !== 0x31) throw invalidName();
    return readElements(set.content).map((atv) => {
      const [type, value] = atv.tag === 0x30 ? readElements(atv.content) : [];
      if (type?.tag !== 0x06 || !value) throw invalidName();
      let text: string | undefined;
      try {
        text = decodeString(value);
      } catch {
        text = undefined;
      }
      return { oid: decodeOid(type.content), value: text, raw: value.raw };
    });
  });
}

/**
 * The issuer and subject Names of a certificate as DER. Found by walking the TBSCertificate's
 * outer elements without decoding anything else (the edge formats them for every certificate new
 * to it, where a full decode cost more than the TLS handshake); a certificate in BER that OpenSSL
 * accepts (indefinite lengths) is decoded by `decoded`, whose names re-encode as DER.
 */
export function certificateNameDers(
  certDer: Uint8Array,
  decoded: () => X509Certificate = () => new x509.X509Certificate(certDer),
): { issuer: Uint8Array; subject: Uint8Array } {
  const walked = walkNames(certDer);
  if (walked) return walked;
  const cert = decoded();
  return {
    issuer: new Uint8Array(cert.issuerName.toArrayBuffer()),
    subject: new Uint8Array(cert.subjectName.toArrayBuffer()),
  };
}

function walkNames(certDer: Uint8Array): { issuer: Uint8Array; subject: Uint8Array } | undefined {
  const [certificate] = readDerElements(certDer) ?? [];
  const [tbs] = certificate?.tag === 0x30 ? (readDerElements(certificate.content) ?? []) : [];
  const fields = tbs?.tag === 0x30 ? readDerElements(tbs.content) : undefined;
  if (!fields) return undefined;
  // version [0] EXPLICIT is optional; then serialNumber, signature, issuer, validity, subject.
  const first = fields[0]?.tag === 0xa0 ? 1 : 0;
  const issuer = fields[first + 2];
  const subject = fields[first + 4];
  if (issuer?.tag !== 0x30 || subject?.tag !== 0x30) return undefined;
  try {
    parseName(issuer.raw);
    parseName(subject.raw);
  } catch {
    return undefined; // not DER inside the names
  }
  return { issuer: issuer.raw, subject: subject.raw };
}

/**
 * A serial number's INTEGER content octets (hex) as {@link CertificateDescription.serialNumber}
 * gives it: lowercase, without the 0x00 that keeps a high first bit positive.
 */
export function serialNumberText(contentHex: string): string {
  const hex = contentHex.toLowerCase();
  return hex.length > 2 && hex.startsWith('00') && Number.parseInt(hex.slice(2, 4), 16) > 0x7f
    ? hex.slice(2)
    : hex;
}

/**
 * Formats a DER-encoded X.501 Name per RFC 4514: RDNs from last to first joined by ",",
 * multi-valued RDNs joined by "+", special characters escaped. Attribute types without a short
 * name, and values that are not strings, use the dotted OID and "#hex" forms.
 */
export function formatDistinguishedName(nameDer: Uint8Array): string {
  return parseName(nameDer)
    .reverse()
    .map((rdn) =>
      rdn
        .map((attr) => {
          const short = ATTRIBUTE_NAMES[attr.oid];
          if (short && attr.value !== undefined) return `${short}=${escapeValue(attr.value)}`;
          return `${short ?? attr.oid}=#${Buffer.from(attr.raw).toString('hex')}`;
        })
        .join('+'),
    )
    .join(',');
}

/** The last (most specific) commonName in a DER Name, if any. */
export function lastCommonName(nameDer: Uint8Array): string | undefined {
  let cn: string | undefined;
  for (const rdn of parseName(nameDer)) {
    for (const attr of rdn) if (attr.oid === COMMON_NAME_OID && attr.value !== undefined) cn = attr.value;
  }
  return cn;
}
