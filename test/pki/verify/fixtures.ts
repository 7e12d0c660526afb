/**
 * Certificate and CRL factory for verifyChain tests: ECDSA P-256 keys from webcrypto, certificates
 * and CRLs from @peculiar/x509. Everything is generated in memory per test run.
 */
import assert from 'node:assert/strict';
import { randomBytes, webcrypto } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { GeneralName, GeneralSubtree, GeneralSubtrees, NameConstraints } from '@peculiar/asn1-x509';
import { type VerifyOptions, type VerifyResult, verifyChain } from '../../../src/pki/verify/index.js';
// The project's loader: reflect-metadata first, then @peculiar/x509 with node's webcrypto.
import { x509 } from '../../../src/pki/x509.js';

export { x509 };
export type CryptoKeyPair = webcrypto.CryptoKeyPair;
type CryptoKey = webcrypto.CryptoKey;

const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' };

export const OID_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
export const OID_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
export const OID_ANY_EKU = '2.5.29.37.0';

/** Validation time used by the tests; default validity brackets it. */
export const AT = new Date('2026-01-15T00:00:00Z');
const NOT_BEFORE = new Date('2025-01-01T00:00:00Z');
const NOT_AFTER = new Date('2030-01-01T00:00:00Z');

export interface Issued {
  readonly name: string;
  readonly keys: CryptoKeyPair;
  readonly cert: x509.X509Certificate;
  readonly der: Buffer;
  readonly pem: string;
}

export function generateKeys(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']);
}

export interface CertOptions {
  /** Subject DN, e.g. 'CN=Leaf'. */
  name: string;
  /** basicConstraints cA; intermediates/roots default to true via makeCa. */
  ca?: boolean;
  pathLen?: number;
  /** x509.KeyUsageFlags bits; undefined = no keyUsage extension. */
  keyUsage?: number;
  eku?: string[];
  /** Subject alternative names. */
  san?: { type: 'dns' | 'email' | 'ip' | 'url'; value: string }[];
  notBefore?: Date;
  notAfter?: Date;
  extensions?: x509.Extension[];
  keys?: CryptoKeyPair;
  /** The subject public key as SPKI DER instead of `keys` (keys the test never signs with: DSA, P-192…). */
  spki?: Buffer;
  /** Signature hash the issuer uses (default SHA-256). */
  hash?: 'SHA-1' | 'SHA-256' | 'SHA-384';
  /** Omit subjectKeyIdentifier / authorityKeyIdentifier (to make decoys indistinguishable). */
  noKeyIds?: boolean;
  /** Key identifier overrides (hex): make certificates indistinguishable by AKI/SKI yet well-formed. */
  ski?: string;
  aki?: string;
  /** Leave out basicConstraints entirely. */
  noBasicConstraints?: boolean;
  serial?: string;
}

function serial(): string {
  const bytes = randomBytes(8);
  bytes[0] = bytes[0]! & 0x7f; // positive INTEGER
  return bytes.toString('hex');
}

async function extensionsFor(
  opts: CertOptions,
  keys: CryptoKeyPair | { publicKey: Buffer },
  issuerKey: CryptoKey | undefined,
): Promise<x509.Extension[]> {
  const exts: x509.Extension[] = [];
  if (!opts.noBasicConstraints && opts.ca !== undefined) {
    exts.push(new x509.BasicConstraintsExtension(opts.ca, opts.pathLen, true));
  }
  if (opts.keyUsage !== undefined) exts.push(new x509.KeyUsagesExtension(opts.keyUsage, true));
  if (opts.eku) exts.push(new x509.ExtendedKeyUsageExtension(opts.eku, false));
  if (opts.san) exts.push(new x509.SubjectAlternativeNameExtension(opts.san, false));
  if (!opts.noKeyIds) {
    exts.push(
      opts.ski
        ? new x509.SubjectKeyIdentifierExtension(opts.ski)
        : await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    );
    if (opts.aki) exts.push(new x509.AuthorityKeyIdentifierExtension(opts.aki));
    else if (issuerKey) exts.push(await x509.AuthorityKeyIdentifierExtension.create(issuerKey));
  }
  exts.push(...(opts.extensions ?? []));
  return exts;
}

function wrap(name: string, keys: CryptoKeyPair, cert: x509.X509Certificate): Issued {
  return { name, keys, cert, der: Buffer.from(cert.rawData), pem: cert.toString('pem') };
}

/** The issuer's signature algorithm: its key's (ECDSA or RSA PKCS#1 v1.5) with `hash`. */
function signingAlgorithm(key: CryptoKey, hash = 'SHA-256') {
  return key.algorithm.name === 'ECDSA' ? { ...SIGNING_ALGORITHM, hash } : { name: key.algorithm.name, hash };
}

/** A self-signed root (cA true, keyCertSign|cRLSign unless overridden). */
export async function makeRoot(opts: Partial<CertOptions> = {}): Promise<Issued> {
  const keys = opts.keys ?? (await generateKeys());
  const full: CertOptions = {
    name: 'CN=Test Root',
    ca: true,
    keyUsage: x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
    ...opts,
  };
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: full.serial ?? serial(),
    name: full.name,
    notBefore: full.notBefore ?? NOT_BEFORE,
    notAfter: full.notAfter ?? NOT_AFTER,
    keys,
    signingAlgorithm: signingAlgorithm(keys.privateKey, full.hash),
    extensions: await extensionsFor(full, keys, undefined),
  });
  return wrap(full.name, keys, cert);
}

/** A certificate issued by `issuer`. */
export async function issue(issuer: Issued, opts: CertOptions): Promise<Issued> {
  const keys = opts.keys ?? (await generateKeys());
  const publicKey = opts.spki ?? keys.publicKey;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: opts.serial ?? serial(),
    subject: opts.name,
    issuer: issuer.name,
    notBefore: opts.notBefore ?? NOT_BEFORE,
    notAfter: opts.notAfter ?? NOT_AFTER,
    publicKey,
    signingKey: issuer.keys.privateKey,
    signingAlgorithm: signingAlgorithm(issuer.keys.privateKey, opts.hash),
    extensions: await extensionsFor(opts, opts.spki ? { publicKey: opts.spki } : keys, issuer.keys.publicKey),
  });
  return wrap(opts.name, keys, cert);
}

/** An intermediate CA: cA true, keyCertSign|cRLSign, unless overridden. */
export function makeCa(issuer: Issued, opts: CertOptions): Promise<Issued> {
  return issue(issuer, {
    ca: true,
    keyUsage: x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
    ...opts,
  });
}

/** A client certificate: cA false, digitalSignature, clientAuth unless overridden. */
export function makeLeaf(issuer: Issued, opts: Partial<CertOptions> = {}): Promise<Issued> {
  return issue(issuer, {
    name: 'CN=Client',
    ca: false,
    keyUsage: x509.KeyUsageFlags.digitalSignature,
    eku: [OID_CLIENT_AUTH],
    ...opts,
  });
}

export interface CrlOptions {
  revoked?: { serial: string; reason?: x509.X509CrlReason }[];
  thisUpdate?: Date;
  /** null: no nextUpdate field. */
  nextUpdate?: Date | null;
  hash?: 'SHA-1' | 'SHA-256';
}

/** A complete CRL signed by `issuer`, as PEM. */
export async function makeCrl(issuer: Issued, opts: CrlOptions = {}): Promise<string> {
  const crl = await x509.X509CrlGenerator.create({
    issuer: issuer.name,
    thisUpdate: opts.thisUpdate ?? new Date('2026-01-01T00:00:00Z'),
    nextUpdate: opts.nextUpdate === null ? undefined : (opts.nextUpdate ?? new Date('2026-02-01T00:00:00Z')),
    entries: (opts.revoked ?? []).map((r) => ({
      serialNumber: r.serial,
      revocationDate: new Date('2025-12-01T00:00:00Z'),
      reason: r.reason,
    })),
    signingKey: issuer.keys.privateKey,
    signingAlgorithm: signingAlgorithm(issuer.keys.privateKey, opts.hash),
    extensions: [await x509.AuthorityKeyIdentifierExtension.create(issuer.keys.publicKey)],
  });
  return crl.toString('pem');
}

/** A critical nameConstraints extension with dNSName / iPAddress subtrees ('10.0.0.0/8' style). */
export function nameConstraints(spec: {
  permittedDns?: string[];
  excludedDns?: string[];
  permittedIp?: string[];
}): x509.Extension {
  const trees = (items: GeneralName[]) =>
    items.length ? new GeneralSubtrees(items.map((base) => new GeneralSubtree({ base }))) : undefined;
  const value = new NameConstraints({
    permittedSubtrees: trees([
      ...(spec.permittedDns ?? []).map((d) => new GeneralName({ dNSName: d })),
      ...(spec.permittedIp ?? []).map((ip) => new GeneralName({ iPAddress: ip })),
    ]),
    excludedSubtrees: trees((spec.excludedDns ?? []).map((d) => new GeneralName({ dNSName: d }))),
  });
  return new x509.Extension('2.5.29.30', true, AsnConvert.serialize(value));
}

export function assertOk(r: VerifyResult): asserts r is Extract<VerifyResult, { ok: true }> {
  assert.ok(r.ok, r.ok ? '' : `expected success, got ${r.code}: ${r.reason}`);
}

/** Fails with exactly `code` (and, when given, a reason matching `mentions`). */
export function assertFails(r: VerifyResult, code: string, mentions?: string) {
  assert.equal(r.ok, false, `expected ${code}, got success`);
  if (r.ok) return;
  assert.equal(r.code, code, `expected ${code}, got ${r.code}: ${r.reason}`);
  if (mentions) assert.match(r.reason, new RegExp(mentions), `reason should name ${mentions}: ${r.reason}`);
}

/** verifyChain for leaves of `chain().ca` (an intermediate under `chain().root`), clientAuth required. */
export const verifierFor =
  (chain: () => { root: Issued; ca: Issued }) =>
  (leaf: Issued, over: Partial<VerifyOptions> = {}): VerifyResult =>
    verifyChain({
      leaf: leaf.der,
      intermediates: [chain().ca.der],
      trustAnchors: [chain().root.der],
      at: AT,
      requiredEku: OID_CLIENT_AUTH,
      ...over,
    });

/** A certificate made here as a TLS client certificate: its PEM and its key as PKCS#8 PEM. */
export async function clientCertOf(leaf: Issued): Promise<{ cert: string; key: string }> {
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', leaf.keys.privateKey));
  return {
    cert: leaf.pem,
    key: `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString('base64')}\n-----END PRIVATE KEY-----\n`,
  };
}
