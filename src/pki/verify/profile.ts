import { isIP } from 'node:net';
import { keyText } from './algorithms.js';
import { describeGeneralName, type GeneralNameValue } from './general-name.js';
import { OID } from './oids.js';
import { KEY_USAGE, type ParsedCertificate, type ParsedCrl } from './parse.js';
import { type Failure, fail } from './types.js';

/**
 * The strict profile: what BoringSSL/Chromium, Go's crypto/x509 and rustls-webpki refuse on top of
 * RFC 5280 §6. Each rule, its failure code and its source are listed in docs/pkits.md ("Profile").
 * `rfc5280` turns the profile off; it exists for conformance suites such as NIST PKITS, whose
 * certificates include DSA keys and no AKI, and is never used by Gatehouse itself.
 */
export type VerifyProfile = 'strict' | 'rfc5280';

/**
 * Legacy escape hatches, granted per uploaded CA (never globally): they relax the strict profile
 * for paths that end at that CA's certificate only.
 */
export interface LegacyAllowances {
  /** Accept SHA-1 signatures (RSA and ECDSA) on certificates and CRLs of the path. */
  readonly allowSha1Signatures?: boolean;
  /** Accept RSA keys from 1024 bits (still a multiple of 8). */
  readonly allowRsa1024?: boolean;
}

export const NO_ALLOWANCES: LegacyAllowances = {};

const OID_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
/**
 * Purposes a client certificate must not also have: a key that signs code, OCSP responses or
 * timestamps must not double as a login credential (BoringSSL's strict EKU mode refuses these).
 */
const PROHIBITED_WITH_CLIENT_AUTH: Readonly<Record<string, string>> = {
  '1.3.6.1.5.5.7.3.3': 'codeSigning',
  '1.3.6.1.5.5.7.3.8': 'timeStamping',
  '1.3.6.1.5.5.7.3.9': 'OCSPSigning',
};

export function checkKey(
  cert: ParsedCertificate,
  who: string,
  legacy: LegacyAllowances,
): Failure | undefined {
  const key = cert.key;
  switch (key.type) {
    case 'rsa': {
      const min = legacy.allowRsa1024 ? 1024 : 2048;
      if (key.bits >= min && key.bits % 8 === 0) return undefined;
      const why = key.bits % 8 !== 0 ? 'the modulus is not a multiple of 8 bits' : `minimum is ${min}`;
      return fail('weak_key', `${who}: ${keyText(key)} key refused (${why})`);
    }
    case 'ec':
    case 'ed25519':
      return undefined;
    case 'ec-other':
      return fail('weak_key', `${who}: ${keyText(key)} refused (only P-256, P-384 and P-521 named curves)`);
    case 'dsa':
    case 'other':
      return fail('weak_key', `${who}: ${keyText(key)} refused (RSA, ECDSA and Ed25519 only)`);
  }
}

function signatureFailure(
  strength: ParsedCertificate['signatureStrength'],
  algorithm: string,
  what: string,
  legacy: LegacyAllowances,
): Failure | undefined {
  if (strength === 'strong' || (strength === 'sha1' && legacy.allowSha1Signatures)) return undefined;
  const why = strength === 'sha1' ? 'SHA-1' : 'not an accepted signature algorithm';
  return fail('weak_signature', `${what}: signed with ${algorithm} (${why})`);
}

export function checkSignature(cert: ParsedCertificate, who: string, legacy: LegacyAllowances) {
  return signatureFailure(cert.signatureStrength, cert.signatureAlgorithm, who, legacy);
}

/** A CRL's signature algorithm, as a reason (undefined when acceptable). */
export function weakCrlSignature(crl: ParsedCrl, legacy: LegacyAllowances): Failure | undefined {
  return signatureFailure(crl.signatureStrength, crl.signatureAlgorithm.algorithm, crl.label, legacy);
}

/**
 * RFC 5280 makes anchors trust input; the strict profile checks them as Chromium does for its
 * root store entries: current, a CA, no critical extension we cannot process, a strong key.
 * A pinned self-signed leaf (the leaf is the anchor) is exempt from the CA rule only.
 */
export function checkAnchor(anchor: ParsedCertificate, at: Date, pinnedLeaf: boolean): Failure | undefined {
  const who = `trust anchor ${anchor.label}`;
  if (at > anchor.notAfter)
    return fail('anchor_expired', `${who}: expired at ${anchor.notAfter.toISOString()}`);
  if (at < anchor.notBefore) {
    return fail('anchor_not_yet_valid', `${who}: not valid before ${anchor.notBefore.toISOString()}`);
  }
  if (anchor.unsupportedExtensions.length > 0) {
    const what = anchor.unsupportedExtensions.join(', ');
    return fail('anchor_unknown_critical_extension', `${who}: cannot process ${what}`);
  }
  if (!pinnedLeaf) {
    const bc = anchor.basicConstraints;
    if (!bc?.ca) {
      const why = bc ? 'its basicConstraints has cA false' : 'it has no basicConstraints';
      return fail('anchor_not_ca', `${who}: not a CA certificate (${why})`);
    }
    if (anchor.keyUsage !== undefined && !(anchor.keyUsage & KEY_USAGE.keyCertSign)) {
      return fail('anchor_not_ca', `${who}: its keyUsage lacks keyCertSign`);
    }
  }
  return undefined;
}

/** RFC 5280 §4.2 structure rules for a certificate below the anchor. */
export function checkStructure(cert: ParsedCertificate, who: string): Failure | undefined {
  const critical = cert.criticalExtensions;
  // §4.2.1.1, §4.2.1.2: "Conforming CAs MUST mark this extension as non-critical."
  if (critical.has(OID.authorityKeyIdentifier))
    return fail('aki_critical', `${who}: critical authorityKeyIdentifier`);
  if (critical.has(OID.subjectKeyIdentifier))
    return fail('ski_critical', `${who}: critical subjectKeyIdentifier`);
  // §4.2.2.1: "Conforming CAs MUST mark this extension as non-critical."
  if (critical.has(OID.authorityInfoAccess))
    return fail('aia_critical', `${who}: critical authorityInfoAccess`);
  // §4.2.1.1: the AKI keyIdentifier MUST be present except in self-signed certificates.
  if (!cert.selfIssued && cert.authorityKeyId === undefined) {
    return fail('missing_aki', `${who}: no authorityKeyIdentifier keyIdentifier`);
  }
  // §4.2.1.2: "this extension MUST appear in all conforming CA certificates".
  if (cert.basicConstraints?.ca && cert.subjectKeyId === undefined) {
    return fail('missing_ski', `${who}: a CA certificate without subjectKeyIdentifier`);
  }
  // §4.2.1.6: an empty subject needs a critical subjectAltName; a non-empty one a non-critical SAN.
  const sanCritical = critical.has(OID.subjectAltName);
  if (cert.subject.rdns.length === 0) {
    if (!cert.subjectAltNames?.length || !sanCritical) {
      return fail('empty_subject', `${who}: empty subject without a critical subjectAltName`);
    }
  } else if (sanCritical) {
    return fail('san_critical', `${who}: critical subjectAltName with a non-empty subject`);
  }
  return undefined;
}

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i;

/**
 * A preferred-name-syntax host name (RFC 1034 §3.5 LDH, RFC 5280 §4.2.1.6): no IP address, no
 * underscore, no empty label or trailing dot, not all-numeric at the end.
 */
function validHost(name: string, minLabels = 1): boolean {
  if (name.length === 0 || name.length > 253 || isIP(name) !== 0) return false;
  const labels = name.split('.');
  return labels.length >= minLabels && labels.every((l) => LABEL.test(l)) && !/^[0-9]+$/.test(labels.at(-1)!);
}

/** dNSName: a host name, or `*.` and at least two labels (a wildcard only as the whole leftmost label). */
export function validDnsName(name: string): boolean {
  return name.startsWith('*.') ? validHost(name.slice(2), 2) : validHost(name);
}

/** rfc822Name: local-part@host, the local part printable ASCII without spaces or `@`. */
function validEmail(name: string): boolean {
  const at = name.indexOf('@');
  if (at <= 0 || at !== name.lastIndexOf('@') || at > 64) return false;
  return /^[\x21-\x7e]+$/.test(name.slice(0, at)) && validHost(name.slice(at + 1));
}

function invalidName(name: GeneralNameValue): boolean {
  switch (name.type) {
    case 'dns':
      return !validDnsName(name.value);
    case 'email':
      return !validEmail(name.value);
    case 'ip':
      return name.bytes.length !== 4 && name.bytes.length !== 16;
    default:
      return false;
  }
}

export function checkSubjectAltNames(cert: ParsedCertificate, who: string): Failure | undefined {
  const bad = cert.subjectAltNames?.find(invalidName);
  return bad
    ? fail('invalid_san', `${who}: malformed subjectAltName ${describeGeneralName(bad)}`)
    : undefined;
}

/**
 * The leaf must be an end entity, and when an EKU is required it must be listed explicitly:
 * anyExtendedKeyUsage alone does not grant clientAuth, and clientAuth must not be mixed with
 * codeSigning, timeStamping or OCSPSigning.
 */
export function checkLeaf(leaf: ParsedCertificate, who: string, requiredEku: string | undefined) {
  if (leaf.basicConstraints?.ca)
    return fail('ca_as_leaf', `${who}: a CA certificate (cA true) used as a client certificate`);
  if (leaf.keyUsage !== undefined && leaf.keyUsage & KEY_USAGE.keyCertSign) {
    return fail('ca_as_leaf', `${who}: keyUsage keyCertSign on a client certificate`);
  }
  const eku = leaf.extKeyUsage;
  if (!requiredEku || !eku) return undefined;
  if (!eku.includes(requiredEku) && eku.includes(OID.anyExtendedKeyUsage)) {
    return fail(
      'any_eku_not_client_auth',
      `${who}: anyExtendedKeyUsage does not grant ${requiredEku}; list it explicitly`,
    );
  }
  if (requiredEku === OID_CLIENT_AUTH) {
    const mixed = eku.map((oid) => PROHIBITED_WITH_CLIENT_AUTH[oid]).filter((n) => n !== undefined);
    if (mixed.length > 0) {
      return fail('eku_mixed', `${who}: clientAuth mixed with ${mixed.join(', ')}`);
    }
  }
  return undefined;
}

/**
 * The strict profile's key and signature rules for a CA chain an administrator uploads (lowest CA
 * first): a chain the edge would refuse on every handshake is refused at upload instead, unless
 * the CA's legacy allowances cover it. A self-signed top certificate's own signature is not
 * judged (as for every trust anchor).
 */
export function caChainFailure(
  chain: readonly ParsedCertificate[],
  legacy: LegacyAllowances,
): Failure | undefined {
  for (const [i, cert] of chain.entries()) {
    const who = `certificate ${i + 1} (${cert.label})`;
    const failure =
      checkKey(cert, who, legacy) ?? (cert.selfIssued ? undefined : checkSignature(cert, who, legacy));
    if (failure) return failure;
  }
  return undefined;
}
