// The certificate builders: root and intermediate CAs, TLS server certificates, client (mTLS)
// certificates. Input checks are in certificate-checks.ts, signing in sign.ts.
import type { Extension, JsonGeneralName } from '@peculiar/x509';
import { badRequest } from '../errors/index.js';
import {
  buildName,
  checkCrlUrl,
  checkDnsName,
  checkEmail,
  checkUri,
  normalizeIp,
} from './certificate-checks.js';
import { loadIssuer, type Signer } from './issuer.js';
import {
  classifyKey,
  generateKeyPair,
  importSigningKey,
  type KeyAlgorithm,
  parsePublicKeyPem,
  x509,
} from './keys.js';
import {
  type CertificateWithKey,
  type IssuedCertificate,
  sign,
  spkiOf,
  subjectKeyIdentifier,
} from './sign.js';

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
