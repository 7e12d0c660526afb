import { createHash, X509Certificate as NodeX509Certificate, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import type { Extension, JsonGeneralName, JsonNameParams, Name, X509Certificate } from '@peculiar/x509';
import { badRequest, GatehouseError } from '../errors/index.js';
import {
  classifyKey,
  generateKeyPair,
  importSigningKey,
  type KeyAlgorithm,
  type PkiCryptoKey,
  parsePublicKeyPem,
  pkiWebCrypto,
  type SigningAlgorithm,
  type SigningKey,
  x509,
} from './keys.js';
import { parsePem, toPem } from './pem.js';

/** A CA that signs: its certificate and its (unencrypted PKCS#8) private key, both PEM. */
export interface Signer {
  certificatePem: string;
  privateKeyPem: string;
}

export interface IssuedCertificate {
  certificatePem: string;
  /**
   * Lowercase hex of the serial's DER INTEGER content bytes. Serials Gatehouse generates are
   * always exactly 32 hex digits (16 bytes, first byte 0x01..0x7f), so this is also the exact
   * DER content: no 0x00 sign pad to add, no leading zero to strip.
   */
  serialNumber: string;
  /** Lowercase hex SHA-256 of the certificate DER, no colons. */
  fingerprintSha256: string;
  /** Subject key identifier (SHA-1 of the subjectPublicKey BIT STRING), lowercase hex. */
  ski: string;
  /** As encoded in the certificate (whole seconds). */
  notBefore: Date;
  notAfter: Date;
}

export interface CertificateWithKey extends IssuedCertificate {
  /** PKCS#8 PEM of the freshly generated key pair. */
  privateKeyPem: string;
}

/**
 * notBefore is set this far before `now`, so a certificate is usable at once by peers whose clock
 * runs slightly behind ours (otherwise a fresh certificate is "not yet valid" for them).
 */
export const NOT_BEFORE_BACKDATE_MS = 60_000;

const DAY_MS = 86_400_000;
const MAX_VALIDITY_DAYS = 36_500;
/** RFC 5280 upper bounds (ub-common-name, ub-organization-name, ub-organizational-unit-name). */
const MAX_NAME_LENGTH = 64;

// ---------------------------------------------------------------------------------------------
// Serial numbers
// ---------------------------------------------------------------------------------------------

/**
 * A fresh serial: 16 random bytes with the top bit of the first byte cleared (so the DER INTEGER
 * is positive without a 0x00 pad) and the first byte non-zero (so DER does not strip it): always
 * 16 content bytes, 127 bits of randomness minus the excluded 0x00 lead byte. Lowercase hex.
 */
export function generateSerialNumber(): string {
  for (;;) {
    const bytes = randomBytes(16);
    bytes[0] = (bytes[0] ?? 0) & 0x7f;
    if (bytes[0] !== 0) return bytes.toString('hex');
  }
}

// ---------------------------------------------------------------------------------------------
// Issuer handling
// ---------------------------------------------------------------------------------------------

/** A Signer after parsing and checks; also used by the CRL builder. */
export interface LoadedIssuer {
  certificate: X509Certificate;
  nodeCertificate: NodeX509Certificate;
  key: SigningKey;
  /** The issuer's SKI (from its extension, else computed by RFC 5280 method 1), lowercase hex. */
  keyIdentifier: string;
}

/**
 * Parses a Signer and checks it can sign for `purpose`: exactly one certificate, a CA
 * (basicConstraints CA:TRUE), keyUsage (when present) allowing keyCertSign or cRLSign, and the
 * private key matching the certificate's public key (`issuer_key_mismatch`).
 */
export async function loadIssuer(signer: Signer, purpose: 'certificates' | 'crls'): Promise<LoadedIssuer> {
  const ders = parsePem(signer.certificatePem, 'CERTIFICATE');
  const der = ders[0];
  if (ders.length !== 1 || !der) {
    throw badRequest('invalid_pem', `issuer: expected exactly one CERTIFICATE block, found ${ders.length}`);
  }
  let nodeCertificate: NodeX509Certificate;
  let certificate: X509Certificate;
  try {
    nodeCertificate = new NodeX509Certificate(der);
    certificate = new x509.X509Certificate(der);
  } catch (err) {
    throw badRequest('invalid_certificate', 'issuer certificate does not parse as X.509', err);
  }
  const key = await importSigningKey(signer.privateKeyPem);
  if (!nodeCertificate.checkPrivateKey(key.keyObject)) {
    throw badRequest(
      'issuer_key_mismatch',
      'the issuer private key does not belong to the issuer certificate',
    );
  }
  if (!nodeCertificate.ca) {
    throw badRequest(
      'issuer_not_ca',
      'the issuer certificate is not a CA (basicConstraints CA:TRUE missing)',
    );
  }
  const ku = certificate.getExtension(x509.KeyUsagesExtension);
  const needed = purpose === 'certificates' ? x509.KeyUsageFlags.keyCertSign : x509.KeyUsageFlags.cRLSign;
  if (ku && (ku.usages & needed) === 0) {
    const name = purpose === 'certificates' ? 'keyCertSign' : 'cRLSign';
    throw badRequest('issuer_not_ca', `the issuer certificate's keyUsage does not allow ${name}`);
  }
  const skiExt = certificate.getExtension(x509.SubjectKeyIdentifierExtension);
  const keyIdentifier = skiExt
    ? skiExt.keyId.toLowerCase()
    : Buffer.from(await certificate.publicKey.getKeyIdentifier(pkiWebCrypto)).toString('hex');
  return { certificate, nodeCertificate, key, keyIdentifier };
}

// ---------------------------------------------------------------------------------------------
// Input checks
// ---------------------------------------------------------------------------------------------

function checkValidityDays(days: number): void {
  if (!Number.isFinite(days) || days <= 0 || days > MAX_VALIDITY_DAYS) {
    throw badRequest(
      'invalid_validity',
      `validityDays must be between 0 and ${MAX_VALIDITY_DAYS}, got ${days}`,
    );
  }
}

function checkNameValue(field: string, value: string): void {
  if (value.length === 0 || value.length > MAX_NAME_LENGTH) {
    throw badRequest('invalid_subject', `${field} must be 1..${MAX_NAME_LENGTH} characters`);
  }
  if ([...value].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f)) {
    throw badRequest('invalid_subject', `${field} contains control characters`);
  }
}

interface SubjectFields {
  commonName: string;
  organization?: string;
  organizationalUnit?: string;
}

/** O, OU, CN in that order (RFC 4514: "CN=…,OU=…,O=…"), all UTF8String, values used verbatim. */
function buildName(fields: SubjectFields): Name {
  const rdns: JsonNameParams = [];
  if (fields.organization !== undefined) {
    checkNameValue('organization', fields.organization);
    rdns.push({ O: [{ utf8String: fields.organization }] });
  }
  if (fields.organizationalUnit !== undefined) {
    checkNameValue('organizationalUnit', fields.organizationalUnit);
    rdns.push({ OU: [{ utf8String: fields.organizationalUnit }] });
  }
  checkNameValue('commonName', fields.commonName);
  rdns.push({ CN: [{ utf8String: fields.commonName }] });
  return new x509.Name(rdns);
}

const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
const DNS_NAME = new RegExp(`^(?:${LABEL}\\.)*${LABEL}$`, 'i');

function checkDnsName(name: string, allowWildcard: boolean): void {
  const bare = allowWildcard && name.startsWith('*.') ? name.slice(2) : name;
  if (name.length > 253 || !DNS_NAME.test(bare)) {
    throw badRequest('invalid_san', `"${name}" is not a valid DNS name`);
  }
}

/**
 * Validates an IP address and spells it the way @peculiar/x509 can encode: IPv4 dotted quad, or
 * IPv6 as eight hex groups (its parser handles neither embedded IPv4 nor zone ids).
 */
function normalizeIp(ip: string): string {
  const version = isIP(ip);
  if (version === 4) return ip;
  if (version !== 6 || ip.includes('%')) throw badRequest('invalid_san', `"${ip}" is not a valid IP address`);
  const halves = ip.split('::');
  const groups = (part: string | undefined) => {
    if (!part) return [];
    return part.split(':').flatMap((g) => {
      if (!g.includes('.')) return [g];
      const [a = 0, b = 0, c = 0, d = 0] = g.split('.').map(Number);
      return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
    });
  };
  const left = groups(halves[0]);
  const right = groups(halves[1]);
  const fill = halves.length === 2 ? Array<string>(8 - left.length - right.length).fill('0') : [];
  return [...left, ...fill, ...right].join(':');
}

const ASCII_PRINTABLE = /^[\x21-\x7e]+$/;

function checkEmail(email: string): void {
  if (!ASCII_PRINTABLE.test(email) || !/^[^@]+@[^@]+$/.test(email)) {
    throw badRequest('invalid_san', `"${email}" is not a valid email address (ASCII only)`);
  }
}

function checkUri(uri: string): void {
  let ok = ASCII_PRINTABLE.test(uri);
  if (ok) {
    try {
      new URL(uri);
    } catch {
      ok = false;
    }
  }
  if (!ok) throw badRequest('invalid_san', `"${uri}" is not a valid absolute URI (ASCII only)`);
}

function checkCrlUrl(url: string): void {
  let parsed: URL | undefined;
  try {
    parsed = ASCII_PRINTABLE.test(url) ? new URL(url) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
    throw badRequest('invalid_crl_distribution_point', `"${url}" is not an http(s) URL`);
  }
}

// ---------------------------------------------------------------------------------------------
// Signing
// ---------------------------------------------------------------------------------------------

interface SignParams {
  subject: Name;
  /** Subject public key, SPKI DER. */
  publicKey: Uint8Array;
  extensions: Extension[];
  validityDays: number;
  now: Date;
  issuer:
    | { kind: 'self'; key: PkiCryptoKey; signingAlgorithm: SigningAlgorithm }
    | { kind: 'ca'; loaded: LoadedIssuer };
}

/**
 * notBefore = now − NOT_BEFORE_BACKDATE_MS; notAfter = now + validityDays, clamped to the issuer's
 * notAfter (a certificate cannot usefully outlive its issuer). An expired issuer is refused.
 */
async function sign(params: SignParams): Promise<IssuedCertificate> {
  checkValidityDays(params.validityDays);
  const now = params.now.getTime();
  const notBefore = new Date(now - NOT_BEFORE_BACKDATE_MS);
  let notAfter = new Date(now + params.validityDays * DAY_MS);

  let issuerName: Name;
  let signingKey: PkiCryptoKey;
  let signingAlgorithm: SigningAlgorithm;
  let verifyKey: NodeX509Certificate['publicKey'] | undefined;
  if (params.issuer.kind === 'self') {
    issuerName = params.subject;
    signingKey = params.issuer.key;
    signingAlgorithm = params.issuer.signingAlgorithm;
  } else {
    const { loaded } = params.issuer;
    if (loaded.certificate.notAfter.getTime() <= now) {
      throw badRequest(
        'issuer_expired',
        `the issuer certificate expired on ${loaded.certificate.notAfter.toISOString()}`,
      );
    }
    if (notAfter > loaded.certificate.notAfter) notAfter = loaded.certificate.notAfter;
    issuerName = loaded.certificate.subjectName;
    signingKey = loaded.key.cryptoKey;
    signingAlgorithm = loaded.key.signingAlgorithm;
    verifyKey = loaded.nodeCertificate.publicKey;
  }

  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: generateSerialNumber(),
      subject: params.subject,
      issuer: issuerName,
      notBefore,
      notAfter,
      publicKey: params.publicKey,
      signingKey,
      signingAlgorithm,
      extensions: params.extensions,
    },
    pkiWebCrypto,
  );

  const der = Buffer.from(cert.rawData);
  // Cheap self-check with OpenSSL (via node) that what we produced verifies.
  const node = new NodeX509Certificate(der);
  if (!node.verify(verifyKey ?? node.publicKey)) {
    throw new GatehouseError('signing_failed', 'the generated certificate signature does not verify', 500);
  }
  const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension);
  return {
    certificatePem: toPem(der, 'CERTIFICATE'),
    serialNumber: cert.serialNumber.toLowerCase(),
    fingerprintSha256: createHash('sha256').update(der).digest('hex'),
    ski: ski ? ski.keyId.toLowerCase() : '',
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
  };
}

async function subjectKeyIdentifier(spkiDer: Uint8Array): Promise<Extension> {
  return x509.SubjectKeyIdentifierExtension.create(spkiDer, false, pkiWebCrypto);
}

function spkiOf(publicKeyPem: string): Buffer {
  return parsePublicKeyPem(publicKeyPem).spkiDer;
}

// ---------------------------------------------------------------------------------------------
// Public builders
// ---------------------------------------------------------------------------------------------

export interface CreateRootCaOptions {
  commonName: string;
  organization: string;
  algorithm: KeyAlgorithm;
  /** Default 3650. */
  validityDays?: number;
  now?: Date;
}

/**
 * Self-signed root: basicConstraints CA:TRUE (critical, no path length), keyUsage keyCertSign +
 * cRLSign (critical), SKI. Generates the key pair.
 */
export async function createRootCa(options: CreateRootCaOptions): Promise<CertificateWithKey> {
  const pair = await generateKeyPair(options.algorithm);
  const key = await importSigningKey(pair.privateKeyPem);
  const spki = spkiOf(pair.publicKeyPem);
  const issued = await sign({
    subject: buildName({ commonName: options.commonName, organization: options.organization }),
    publicKey: spki,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await subjectKeyIdentifier(spki),
    ],
    validityDays: options.validityDays ?? 3650,
    now: options.now ?? new Date(),
    issuer: { kind: 'self', key: key.cryptoKey, signingAlgorithm: key.signingAlgorithm },
  });
  return { ...issued, privateKeyPem: pair.privateKeyPem };
}

export interface CreateIntermediateCaOptions {
  issuer: Signer;
  commonName: string;
  organization: string;
  algorithm: KeyAlgorithm;
  /** Default 1825. Clamped to the issuer's notAfter. */
  validityDays?: number;
  /** basicConstraints pathLenConstraint. Default 0: this CA issues only end-entity certificates. */
  pathLength?: number;
  /** URL of the issuer's CRL, if it publishes one. */
  crlDistributionPoint?: string;
  now?: Date;
}

/**
 * Intermediate CA: basicConstraints CA:TRUE pathLen (critical), keyUsage keyCertSign + cRLSign +
 * digitalSignature (critical), SKI, AKI, optional CRL distribution point. Generates the key pair.
 */
export async function createIntermediateCa(
  options: CreateIntermediateCaOptions,
): Promise<CertificateWithKey> {
  const pathLength = options.pathLength ?? 0;
  if (!Number.isInteger(pathLength) || pathLength < 0 || pathLength > 10) {
    throw badRequest('invalid_path_length', `pathLength must be an integer 0..10, got ${pathLength}`);
  }
  if (options.crlDistributionPoint !== undefined) checkCrlUrl(options.crlDistributionPoint);
  const loaded = await loadIssuer(options.issuer, 'certificates');
  const pair = await generateKeyPair(options.algorithm);
  const spki = spkiOf(pair.publicKeyPem);
  const extensions: Extension[] = [
    new x509.BasicConstraintsExtension(true, pathLength, true),
    new x509.KeyUsagesExtension(
      x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
      true,
    ),
    await subjectKeyIdentifier(spki),
    new x509.AuthorityKeyIdentifierExtension(loaded.keyIdentifier, false),
  ];
  if (options.crlDistributionPoint !== undefined) {
    extensions.push(new x509.CRLDistributionPointsExtension([options.crlDistributionPoint], false));
  }
  const issued = await sign({
    subject: buildName({ commonName: options.commonName, organization: options.organization }),
    publicKey: spki,
    extensions,
    validityDays: options.validityDays ?? 1825,
    now: options.now ?? new Date(),
    issuer: { kind: 'ca', loaded },
  });
  return { ...issued, privateKeyPem: pair.privateKeyPem };
}

export interface CreateServerCertificateOptions {
  issuer: Signer;
  commonName: string;
  dnsNames: string[];
  /** IPv4 or IPv6 ("127.0.0.1", "::1"). */
  ipAddresses: string[];
  algorithm: KeyAlgorithm;
  /** Default 397 (the CA/Browser Forum maximum). Clamped to the issuer's notAfter. */
  validityDays?: number;
  now?: Date;
}

/**
 * TLS server certificate with a fresh key pair: basicConstraints CA:FALSE (critical), keyUsage
 * digitalSignature (+ keyEncipherment for RSA keys) (critical), EKU serverAuth, SAN DNS + IP,
 * SKI, AKI. At least one DNS name or IP address is required (clients match SANs, not the CN).
 */
export async function createServerCertificate(
  options: CreateServerCertificateOptions,
): Promise<CertificateWithKey> {
  if (options.dnsNames.length + options.ipAddresses.length === 0) {
    throw badRequest('invalid_san', 'a server certificate needs at least one DNS name or IP address');
  }
  for (const name of options.dnsNames) checkDnsName(name, true);
  const ips = options.ipAddresses.map(normalizeIp);
  const loaded = await loadIssuer(options.issuer, 'certificates');
  const pair = await generateKeyPair(options.algorithm);
  const spki = spkiOf(pair.publicKeyPem);
  const isRsa = options.algorithm.startsWith('rsa-');
  const usages = x509.KeyUsageFlags.digitalSignature | (isRsa ? x509.KeyUsageFlags.keyEncipherment : 0);
  const sans: JsonGeneralName[] = [
    ...options.dnsNames.map((value): JsonGeneralName => ({ type: 'dns', value })),
    ...ips.map((value): JsonGeneralName => ({ type: 'ip', value })),
  ];
  const issued = await sign({
    subject: buildName({ commonName: options.commonName }),
    publicKey: spki,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(usages, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
      new x509.SubjectAlternativeNameExtension(sans, false),
      await subjectKeyIdentifier(spki),
      new x509.AuthorityKeyIdentifierExtension(loaded.keyIdentifier, false),
    ],
    validityDays: options.validityDays ?? 397,
    now: options.now ?? new Date(),
    issuer: { kind: 'ca', loaded },
  });
  return { ...issued, privateKeyPem: pair.privateKeyPem };
}

export interface ClientCertificateSubject {
  commonName: string;
  organization?: string;
  organizationalUnit?: string;
}

export interface ClientCertificateSans {
  dns?: string[];
  email?: string[];
  uri?: string[];
}

export interface IssueClientCertificateOptions {
  issuer: Signer;
  /** SPKI PEM of the subject key, e.g. VerifiedCsr.publicKeyPem. Must pass the key policy. */
  publicKeyPem: string;
  subject: ClientCertificateSubject;
  sans?: ClientCertificateSans;
  /** Default 90. Clamped to the issuer's notAfter. */
  validityDays?: number;
  /** http(s) URL where the issuer's CRL is published. */
  crlDistributionPoint: string;
  now?: Date;
}

/**
 * Client (mTLS) certificate for a subject public key: random 16-byte positive serial,
 * basicConstraints CA:FALSE (critical), keyUsage digitalSignature (critical), EKU clientAuth, SKI
 * (RFC 5280 method 1), AKI (issuer SKI), CRL distribution point, optional SAN (DNS, email, URI).
 * notBefore is backdated by NOT_BEFORE_BACKDATE_MS for clock skew.
 */
export async function issueClientCertificate(
  options: IssueClientCertificateOptions,
): Promise<IssuedCertificate> {
  const { keyObject, spkiDer } = parsePublicKeyPem(options.publicKeyPem);
  classifyKey(keyObject); // key policy: unsupported_key_type / weak_key
  checkCrlUrl(options.crlDistributionPoint);
  const subject = buildName(options.subject);
  const sans: JsonGeneralName[] = [];
  for (const dns of options.sans?.dns ?? []) {
    checkDnsName(dns, false);
    sans.push({ type: 'dns', value: dns });
  }
  for (const email of options.sans?.email ?? []) {
    checkEmail(email);
    sans.push({ type: 'email', value: email });
  }
  for (const uri of options.sans?.uri ?? []) {
    checkUri(uri);
    sans.push({ type: 'url', value: uri });
  }

  const loaded = await loadIssuer(options.issuer, 'certificates');
  const extensions: Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth], false),
    await subjectKeyIdentifier(spkiDer),
    new x509.AuthorityKeyIdentifierExtension(loaded.keyIdentifier, false),
    new x509.CRLDistributionPointsExtension([options.crlDistributionPoint], false),
  ];
  if (sans.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(sans, false));
  return sign({
    subject,
    publicKey: spkiDer,
    extensions,
    validityDays: options.validityDays ?? 90,
    now: options.now ?? new Date(),
    issuer: { kind: 'ca', loaded },
  });
}
