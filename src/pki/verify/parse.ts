import { createHash, X509Certificate } from 'node:crypto';
import { AsnConvert, type BitString } from '@peculiar/asn1-schema';
import {
  type AlgorithmIdentifier,
  AuthorityKeyIdentifier,
  BasicConstraints,
  Certificate,
  CertificateIssuer,
  CertificateList,
  CRLDistributionPoints,
  CRLReason,
  type DistributionPointName,
  ExtendedKeyUsage,
  type Extension,
  type GeneralSubtrees,
  IssuingDistributionPoint,
  KeyUsage,
  CertificatePolicies,
  InhibitAnyPolicy,
  NameConstraints as AsnNameConstraints,
  PolicyConstraints,
  PolicyMappings,
  SubjectKeyIdentifier,
  type SubjectPublicKeyInfo,
} from '@peculiar/asn1-x509';
import { badRequest, isGatehouseError } from '../../errors/index.js';
import { parsePem, parsePemBlocks } from '../pem.js';
import { decodeGeneralNames, type GeneralNameValue, toGeneralName } from './general-name.js';
import { describeKey, type KeyDescription, type SignatureStrength, signatureStrength } from './algorithms.js';
import { type DistinguishedName, type Rdn, toDistinguishedName, toRdn } from './name.js';
import { KNOWN_CERT_EXTENSIONS, KNOWN_CRL_ENTRY_EXTENSIONS, KNOWN_CRL_EXTENSIONS, OID } from './oids.js';
import type { CertificateInput, CrlInput } from './types.js';
import { type Parsed, undecodable } from './undecodable.js';

/** keyUsage bits (RFC 5280 §4.2.1.3), as set in ParsedCertificate.keyUsage. */
export const KEY_USAGE = {
  digitalSignature: 1 << 0,
  keyCertSign: 1 << 5,
  cRLSign: 1 << 6,
} as const;

/** ReasonFlags bits (RFC 5280 §4.2.1.13); bit 0 is `unused`, so "all reasons" is bits 1–8. */
export const ALL_REASONS = 0x1fe;

/** CRLReason code for removeFromCRL (delta CRLs, RFC 5280 §5.3.1). */
export const REASON_REMOVE_FROM_CRL = 8;

export interface NameConstraints {
  /** Undefined when the extension has no permittedSubtrees (no restriction). */
  readonly permitted?: readonly GeneralNameValue[];
  readonly excluded: readonly GeneralNameValue[];
}

export interface DistributionPoint {
  readonly fullName?: readonly GeneralNameValue[];
  readonly relativeName?: Rdn;
  /** ReasonFlags bitmask; undefined means all reasons. */
  readonly reasons?: number;
  readonly crlIssuer?: readonly GeneralNameValue[];
}

const CERT = Symbol('gatehouse.verify.ParsedCertificate');
const CRL = Symbol('gatehouse.verify.ParsedCrl');

/**
 * A certificate decoded once: node's X509Certificate (for signatures) plus everything path
 * validation reads from it. Immutable; safe to cache and share between verifyChain calls, which
 * also lets signature results be cached (see keys.ts).
 */
export interface ParsedCertificate {
  readonly [CERT]: true;
  readonly x509: X509Certificate;
  readonly der: Buffer;
  /** SHA-256 of the DER, hex. */
  readonly fingerprint: string;
  readonly subject: DistinguishedName;
  readonly issuer: DistinguishedName;
  /** Serial number: the INTEGER's content octets, hex (compared as-is against CRL entries). */
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Subject and issuer names match (RFC 5280 §6.1: such certificates get special treatment). */
  readonly selfIssued: boolean;
  readonly signatureAlgorithm: string;
  /** How the strict profile rates the signature algorithm (algorithms.ts). */
  readonly signatureStrength: SignatureStrength;
  readonly spki: SubjectPublicKeyInfo;
  /** The subject public key's type and size, for the strict profile's key rules. */
  readonly key: KeyDescription;
  /** Hash of the public key (algorithm, parameters, key bits), hex: identifies the key for loop detection. */
  readonly keyHash: string;
  /** A DSA key without domain parameters: they come from the issuer (RFC 3279 §2.3.2). */
  readonly inheritsKeyParameters: boolean;
  readonly basicConstraints?: { readonly ca: boolean; readonly pathLen?: number };
  /** keyUsage bits (see KEY_USAGE); undefined when the extension is absent. */
  readonly keyUsage?: number;
  readonly extKeyUsage?: readonly string[];
  readonly nameConstraints?: NameConstraints;
  readonly subjectAltNames?: readonly GeneralNameValue[];
  readonly subjectKeyId?: string;
  readonly authorityKeyId?: string;
  readonly crlDistributionPoints?: readonly DistributionPoint[];
  /** OIDs of the extensions marked critical (RFC 5280 §4.2 structure rules). */
  readonly criticalExtensions: ReadonlySet<string>;
  /** certificatePolicies: the policy OIDs (qualifiers are not used). */
  readonly policies?: readonly string[];
  readonly policyMappings?: readonly { readonly issuer: string; readonly subject: string }[];
  readonly requireExplicitPolicy?: number;
  readonly inhibitPolicyMapping?: number;
  readonly inhibitAnyPolicy?: number;
  /** Extensions this validator cannot process and must not ignore: unknown critical ones (by OID). */
  readonly unsupportedExtensions: readonly string[];
  /** How failure reasons name this certificate. */
  readonly label: string;
}

export interface IssuingDistributionPointInfo {
  readonly fullName?: readonly GeneralNameValue[];
  readonly relativeName?: Rdn;
  readonly onlyContainsUserCerts: boolean;
  readonly onlyContainsCACerts: boolean;
  readonly onlyContainsAttributeCerts: boolean;
  /** ReasonFlags bitmask; undefined means all reasons. */
  readonly onlySomeReasons?: number;
  readonly indirectCRL: boolean;
  /** DER of the extension value: a delta CRL must have exactly the same scope. */
  readonly der: string;
}

export interface RevokedEntry {
  /** CRLReason code, when the entry has one. */
  readonly reason?: number;
}

export interface ParsedCrl {
  readonly [CRL]: true;
  readonly der: Buffer;
  readonly issuer: DistinguishedName;
  readonly thisUpdate: Date;
  readonly nextUpdate?: Date;
  readonly signatureAlgorithm: AlgorithmIdentifier;
  readonly signatureStrength: SignatureStrength;
  readonly tbs: Buffer;
  readonly signature: Buffer;
  readonly crlNumber?: bigint;
  /** BaseCRLNumber of a delta CRL; undefined for a complete CRL. */
  readonly deltaBase?: bigint;
  readonly issuingDistributionPoint?: IssuingDistributionPointInfo;
  readonly authorityKeyId?: string;
  /** Critical CRL or CRL-entry extensions we cannot process: the CRL must not be used (§5.2, §5.3). */
  readonly unsupportedExtensions: readonly string[];
  /** Revoked certificates by `${certificate issuer key}|${serial hex}`. */
  readonly entries: ReadonlyMap<string, RevokedEntry>;
  readonly label: string;
}

export function isParsedCertificate(value: unknown): value is ParsedCertificate {
  return typeof value === 'object' && value !== null && CERT in value;
}

export function isParsedCrl(value: unknown): value is ParsedCrl {
  return typeof value === 'object' && value !== null && CRL in value;
}

// ---------------------------------------------------------------------------------------------
// small decoding helpers

const hex = (bytes: ArrayBuffer | ArrayBufferView): string =>
  (ArrayBuffer.isView(bytes)
    ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    : Buffer.from(bytes)
  ).toString('hex');

/** BIT STRING → bitmask with bit i = named bit i (ASN.1 numbers bits from the first octet's MSB). */
function bitsOf(bits: BitString): number {
  const bytes = new Uint8Array(bits.value);
  let mask = 0;
  for (let i = 0; i < Math.min(bytes.length * 8, 31); i++) {
    if (bytes[i >> 3]! & (0x80 >> (i & 7))) mask |= 1 << i;
  }
  return mask;
}

/** A DER INTEGER (the whole TLV) of a CRL extension as bigint; CRL numbers may exceed 2^53. */
function derInteger(der: Uint8Array): bigint {
  if (der[0] !== 0x02 || der.length < 3) throw undecodable('crl', 'expected an INTEGER');
  let length = der[1]!;
  let offset = 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count < 1 || count > 4) throw undecodable('crl', 'bad INTEGER length');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + der[offset + i]!;
    offset += count;
  }
  if (offset + length !== der.length || length === 0) throw undecodable('crl', 'bad INTEGER length');
  const content = Buffer.from(der.subarray(offset));
  const value = BigInt(`0x${content.toString('hex')}`);
  return content[0]! & 0x80 ? value - (1n << BigInt(length * 8)) : value;
}

/** A certificate's SkipCerts (INTEGER 0..MAX) as a number; huge values mean "never", so they saturate. */
function skipCerts(value: ArrayBuffer | undefined): number | undefined {
  if (value === undefined) return undefined;
  const bytes = new Uint8Array(value);
  if (bytes.length === 0 || bytes[0]! & 0x80) throw undecodable('certificate', 'negative SkipCerts');
  let n = 0;
  for (const b of bytes) n = Math.min(n * 256 + b, 1_000_000);
  return n;
}

function extensionValue(ext: Extension): Uint8Array {
  return new Uint8Array(ext.extnValue.buffer);
}

/** The extensions of a certificate, a CRL or a CRL entry, by OID. */
class Extensions extends Map<string, Extension> {
  constructor(readonly kind: Parsed) {
    super();
  }
}

function indexExtensions(
  extensions: readonly Extension[] | undefined,
  what: 'certificate' | 'CRL' | 'CRL entry',
): Extensions {
  const byOid = new Extensions(what === 'certificate' ? 'certificate' : 'crl');
  for (const ext of extensions ?? []) {
    // RFC 5280 §4.2: "A certificate MUST NOT include more than one instance of a particular extension."
    if (byOid.has(ext.extnID)) throw undecodable(byOid.kind, `${what} has two ${ext.extnID} extensions`);
    byOid.set(ext.extnID, ext);
  }
  return byOid;
}

function decode<T>(exts: Extensions, oid: string, type: new () => T): T | undefined {
  const ext = exts.get(oid);
  if (!ext) return undefined;
  try {
    return AsnConvert.parse(extensionValue(ext), type);
  } catch (err) {
    throw undecodable(exts.kind, `cannot decode extension ${oid}: ${(err as Error).message}`, err);
  }
}

function subtrees(trees: GeneralSubtrees | undefined): GeneralNameValue[] | undefined {
  return trees ? [...trees].map((t) => toGeneralName(t.base)) : undefined;
}

function distributionPointName(dp: DistributionPointName | undefined) {
  return {
    fullName: dp?.fullName?.map(toGeneralName),
    relativeName: dp?.nameRelativeToCRLIssuer ? toRdn(dp.nameRelativeToCRLIssuer) : undefined,
  };
}

function labelOf(subject: DistinguishedName, sans: readonly GeneralNameValue[] | undefined, serial: string) {
  if (subject.rdns.length > 0) return `"${subject.text}"`;
  const san = sans?.find((n) => n.type === 'dns' || n.type === 'email' || n.type === 'uri');
  if (san && 'value' in san) return `"${san.value}" (empty subject)`;
  return `serial ${serial} (empty subject)`;
}

// ---------------------------------------------------------------------------------------------
// certificates

/** PEM labels accepted for CRLs: RFC 7468's, and the one some tools (e.g. @peculiar/x509) write. */
const CRL_LABELS = ['X509 CRL', 'CRL'];

/** The DER of every PEM block in `text`, which must all carry one of `labels`. */
function pemBlocks(text: string, labels: readonly string[]): Buffer[] {
  if (labels.length === 1) return parsePem(text, labels[0]!);
  return parsePemBlocks(text).map((block, i) => {
    if (!labels.includes(block.label)) {
      throw badRequest(
        'invalid_pem',
        `PEM block ${i + 1}: expected ${labels.join(' or ')}, found ${block.label}`,
      );
    }
    return block.der;
  });
}

function toDer(input: Uint8Array | string, labels: readonly string[], what: 'certificate' | 'crl'): Buffer {
  // A copy: parsed objects are cached and shared, so they must not see later changes to the input.
  if (typeof input !== 'string') return Buffer.from(input);
  const blocks = pemBlocks(input, labels);
  if (blocks.length !== 1) {
    throw badRequest(`invalid_${what}`, `expected one ${labels[0]} PEM block, found ${blocks.length}`);
  }
  return blocks[0]!;
}

/**
 * Certificates larger than this are refused before any decoding: real ones are a few KB, and
 * decoding cost grows with size (an attacker's certificate is free to make).
 */
export const MAX_CERTIFICATE_BYTES = 64 * 1024;

function buildCertificate(x509: X509Certificate, der: Buffer): ParsedCertificate {
  const asn = AsnConvert.parse(der, Certificate);
  const tbs = asn.tbsCertificate;
  const subject = toDistinguishedName(tbs.subject);
  const issuer = toDistinguishedName(tbs.issuer);
  const serial = hex(tbs.serialNumber);
  const exts = indexExtensions(tbs.extensions, 'certificate');

  const bc = decode(exts, OID.basicConstraints, BasicConstraints);
  const ku = decode(exts, OID.keyUsage, KeyUsage);
  const eku = decode(exts, OID.extKeyUsage, ExtendedKeyUsage);
  const nc = decode(exts, OID.nameConstraints, AsnNameConstraints);
  const ski = decode(exts, OID.subjectKeyIdentifier, SubjectKeyIdentifier);
  const aki = decode(exts, OID.authorityKeyIdentifier, AuthorityKeyIdentifier);
  const dps = decode(exts, OID.crlDistributionPoints, CRLDistributionPoints);
  const pc = decode(exts, OID.policyConstraints, PolicyConstraints);

  const unsupported: string[] = [];
  for (const ext of exts.values()) {
    if (ext.critical && !KNOWN_CERT_EXTENSIONS.has(ext.extnID))
      unsupported.push(`critical extension ${ext.extnID}`);
  }
  const cp = decode(exts, OID.certificatePolicies, CertificatePolicies);
  const pm = decode(exts, OID.policyMappings, PolicyMappings);
  const iap = decode(exts, OID.inhibitAnyPolicy, InhibitAnyPolicy);

  const sanExt = exts.get(OID.subjectAltName);
  const subjectAltNames = sanExt ? decodeGeneralNames(extensionValue(sanExt)) : undefined;
  const algorithm = tbs.subjectPublicKeyInfo.algorithm;
  const keyHash = createHash('sha256')
    .update(`${algorithm.algorithm}|${algorithm.parameters ? hex(algorithm.parameters) : ''}|`)
    .update(Buffer.from(tbs.subjectPublicKeyInfo.subjectPublicKey))
    .digest('hex');
  return {
    [CERT]: true,
    x509,
    der,
    fingerprint: createHash('sha256').update(der).digest('hex'),
    subject,
    issuer,
    serial,
    notBefore: tbs.validity.notBefore.getTime(),
    notAfter: tbs.validity.notAfter.getTime(),
    selfIssued: subject.key === issuer.key,
    signatureAlgorithm: asn.signatureAlgorithm.algorithm,
    signatureStrength: signatureStrength(asn.signatureAlgorithm),
    spki: tbs.subjectPublicKeyInfo,
    key: describeKey(x509, tbs.subjectPublicKeyInfo),
    keyHash,
    inheritsKeyParameters: algorithm.algorithm === OID.dsa && !algorithm.parameters,
    basicConstraints: bc ? { ca: bc.cA, pathLen: bc.pathLenConstraint } : undefined,
    keyUsage: ku ? bitsOf(ku) : undefined,
    extKeyUsage: eku ? [...eku] : undefined,
    nameConstraints: nc
      ? { permitted: subtrees(nc.permittedSubtrees), excluded: subtrees(nc.excludedSubtrees) ?? [] }
      : undefined,
    subjectAltNames,
    subjectKeyId: ski ? hex(ski.buffer) : undefined,
    authorityKeyId: aki?.keyIdentifier ? hex(aki.keyIdentifier.buffer) : undefined,
    crlDistributionPoints: dps
      ? [...dps].map((dp) => ({
          ...distributionPointName(dp.distributionPoint),
          reasons: dp.reasons ? bitsOf(dp.reasons) : undefined,
          crlIssuer: dp.cRLIssuer?.map(toGeneralName),
        }))
      : undefined,
    criticalExtensions: new Set([...exts.values()].filter((e) => e.critical).map((e) => e.extnID)),
    policies: cp ? [...cp].map((p) => p.policyIdentifier) : undefined,
    policyMappings: pm
      ? [...pm].map((m) => ({ issuer: m.issuerDomainPolicy, subject: m.subjectDomainPolicy }))
      : undefined,
    requireExplicitPolicy: skipCerts(pc?.requireExplicitPolicy),
    inhibitPolicyMapping: skipCerts(pc?.inhibitPolicyMapping),
    inhibitAnyPolicy: iap ? skipCerts(iap.value) : undefined,
    unsupportedExtensions: unsupported,
    label: labelOf(subject, subjectAltNames, serial),
  };
}

/**
 * Parses one certificate (DER, single-block PEM, or X509Certificate) for verifyChain. Parse
 * long-lived certificates (intermediates, anchors) once and pass the result on every call.
 * Throws GatehouseError `invalid_certificate` (or `invalid_pem`).
 */
export function parseCertificate(input: CertificateInput): ParsedCertificate {
  if (isParsedCertificate(input)) return input;
  let der: Buffer | undefined;
  try {
    const x509 = input instanceof X509Certificate ? input : undefined;
    der = x509 ? x509.raw : toDer(input as Uint8Array | string, ['CERTIFICATE'], 'certificate');
    if (der.length > MAX_CERTIFICATE_BYTES) {
      throw undecodable('certificate', `${der.length} bytes, more than ${MAX_CERTIFICATE_BYTES}`);
    }
    return buildCertificate(x509 ?? new X509Certificate(der), der);
  } catch (err) {
    if (isGatehouseError(err)) throw err;
    throw undecodable('certificate', (err as Error).message, err);
  }
}

/** Like parseCertificate, but accepts PEM bundles (several blocks) and arrays. */
export function parseCertificates(
  input: CertificateInput | readonly CertificateInput[],
): ParsedCertificate[] {
  const items = Array.isArray(input) ? (input as readonly CertificateInput[]) : [input as CertificateInput];
  return items.flatMap((item) =>
    typeof item === 'string'
      ? parsePem(item, 'CERTIFICATE').map((der) => parseCertificate(der))
      : [parseCertificate(item)],
  );
}

// ---------------------------------------------------------------------------------------------
// CRLs

function crlEntries(list: CertificateList, issuer: DistinguishedName, unsupported: string[]) {
  const entries = new Map<string, RevokedEntry>();
  // In an indirect CRL, certificateIssuer names the issuer of this entry and all following ones
  // until the next certificateIssuer (RFC 5280 §5.3.3); it defaults to the CRL issuer.
  let issuerKeys = [issuer.key];
  for (const revoked of list.tbsCertList.revokedCertificates ?? []) {
    const exts = indexExtensions(revoked.crlEntryExtensions, 'CRL entry');
    for (const ext of exts.values()) {
      if (ext.critical && !KNOWN_CRL_ENTRY_EXTENSIONS.has(ext.extnID))
        unsupported.push(`entry ${ext.extnID}`);
    }
    const certIssuer = decode(exts, OID.certificateIssuer, CertificateIssuer);
    if (certIssuer) {
      issuerKeys = [...certIssuer].flatMap((gn) =>
        gn.directoryName ? [toDistinguishedName(gn.directoryName).key] : [],
      );
      // Entries we cannot attribute to an issuer must not be silently ignored.
      if (issuerKeys.length === 0) unsupported.push('certificateIssuer without a directoryName');
    }
    const reason = decode(exts, OID.reasonCode, CRLReason)?.reason;
    const serial = hex(revoked.userCertificate);
    for (const key of issuerKeys) entries.set(`${key}|${serial}`, { reason });
  }
  return entries;
}

function buildCrl(der: Buffer): ParsedCrl {
  // asn1js stops at 10,000 nodes by default (≈ 2,500 CRL entries); a node takes at least two
  // octets, so this bound never refuses a well-formed CRL and still limits work to its size.
  const list = AsnConvert.parse(der, CertificateList, {
    berOptions: { maxNodes: Math.max(10_000, Math.ceil(der.length / 2)) },
  });
  const tbs = list.tbsCertList;
  if (!list.tbsCertListRaw) throw undecodable('crl', 'CRL has no tbsCertList encoding');
  const issuer = toDistinguishedName(tbs.issuer);
  const exts = indexExtensions(tbs.crlExtensions, 'CRL');
  const unsupported: string[] = [];
  for (const ext of exts.values()) {
    if (ext.critical && !KNOWN_CRL_EXTENSIONS.has(ext.extnID)) unsupported.push(ext.extnID);
  }
  const numberExt = exts.get(OID.crlNumber);
  const deltaExt = exts.get(OID.deltaCrlIndicator);
  const idpExt = exts.get(OID.issuingDistributionPoint);
  const idp = decode(exts, OID.issuingDistributionPoint, IssuingDistributionPoint);
  const aki = decode(exts, OID.authorityKeyIdentifier, AuthorityKeyIdentifier);
  const thisUpdate = tbs.thisUpdate.getTime();
  return {
    [CRL]: true,
    der,
    issuer,
    thisUpdate,
    nextUpdate: tbs.nextUpdate?.getTime(),
    signatureAlgorithm: list.signatureAlgorithm,
    signatureStrength: signatureStrength(list.signatureAlgorithm),
    tbs: Buffer.from(list.tbsCertListRaw),
    signature: Buffer.from(list.signature),
    crlNumber: numberExt ? derInteger(extensionValue(numberExt)) : undefined,
    deltaBase: deltaExt ? derInteger(extensionValue(deltaExt)) : undefined,
    issuingDistributionPoint:
      idp && idpExt
        ? {
            ...distributionPointName(idp.distributionPoint),
            onlyContainsUserCerts: idp.onlyContainsUserCerts,
            onlyContainsCACerts: idp.onlyContainsCACerts,
            onlyContainsAttributeCerts: idp.onlyContainsAttributeCerts,
            onlySomeReasons: idp.onlySomeReasons ? bitsOf(idp.onlySomeReasons) : undefined,
            indirectCRL: idp.indirectCRL,
            der: hex(extensionValue(idpExt)),
          }
        : undefined,
    authorityKeyId: aki?.keyIdentifier ? hex(aki.keyIdentifier.buffer) : undefined,
    unsupportedExtensions: unsupported,
    entries: crlEntries(list, issuer, unsupported),
    label: `${deltaExt ? 'delta CRL' : 'CRL'} from "${issuer.text}" (thisUpdate ${thisUpdate.toISOString()})`,
  };
}

/**
 * Parses one CRL (DER, or PEM with one `X509 CRL` / `CRL` block). Throws GatehouseError `invalid_crl`.
 * The signature is not checked here: that needs the issuer, so verifyChain does it (and caches it).
 */
export function parseCrl(input: CrlInput): ParsedCrl {
  if (isParsedCrl(input)) return input;
  try {
    return buildCrl(toDer(input, CRL_LABELS, 'crl'));
  } catch (err) {
    if (isGatehouseError(err)) throw err;
    throw undecodable('crl', (err as Error).message, err);
  }
}

/** Like parseCrl, but accepts PEM bundles (several CRL blocks) and arrays. */
export function parseCrls(input: CrlInput | readonly CrlInput[]): ParsedCrl[] {
  const items = Array.isArray(input) ? (input as readonly CrlInput[]) : [input as CrlInput];
  return items.flatMap((item) =>
    typeof item === 'string' ? pemBlocks(item, CRL_LABELS).map((der) => parseCrl(der)) : [parseCrl(item)],
  );
}
