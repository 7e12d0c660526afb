import { constants, createPublicKey, type KeyObject, verify } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import { OID } from './oids.js';
import type { ParsedCertificate, ParsedCrl } from './parse.js';

/**
 * Public keys and signature checks. Results are cached per (signed object, key object): parsed
 * certificates and CRLs are immutable and their KeyObjects are cached too, so a hot caller that
 * parses its intermediates, anchors and CRLs once pays for each of those signatures once per
 * process, and per handshake only for the leaf's.
 */

/** Signatures over MD2/MD4/MD5 are forgeable; treat them as bad whatever the key says. */
const BROKEN_SIGNATURE_ALGORITHMS: ReadonlySet<string> = new Set([
  '1.2.840.113549.1.1.2', // md2WithRSAEncryption
  '1.2.840.113549.1.1.3', // md4WithRSAEncryption
  '1.2.840.113549.1.1.4', // md5WithRSAEncryption
]);

/** A signature over a forgeable hash: never verified, reported as `weak_signature`. */
export const brokenSignature = (cert: ParsedCertificate) =>
  BROKEN_SIGNATURE_ALGORITHMS.has(cert.signatureAlgorithm);

const ownKeys = new WeakMap<ParsedCertificate, KeyObject | null>();

/** The certificate's own key, or undefined if it is unusable alone (inherited DSA parameters). */
export function ownKey(cert: ParsedCertificate): KeyObject | undefined {
  let key = ownKeys.get(cert);
  if (key === undefined) {
    try {
      key = cert.inheritsKeyParameters ? null : cert.x509.publicKey;
    } catch {
      key = null; // a key type OpenSSL cannot load: no signature made with it will verify
    }
    ownKeys.set(cert, key);
  }
  return key ?? undefined;
}

/**
 * The key of path[index], where path runs leaf → anchor. A DSA key without parameters takes them
 * from the nearest certificate above it that has them (RFC 3279 §2.3.2, PKITS 4.1.5).
 */
export function keyInPath(path: readonly ParsedCertificate[], index: number): KeyObject | undefined {
  const cert = path[index];
  if (!cert) return undefined;
  if (!cert.inheritsKeyParameters) return ownKey(cert);
  const source = path
    .slice(index + 1)
    .find((c) => c.spki.algorithm.algorithm === OID.dsa && !c.inheritsKeyParameters);
  if (!source) return undefined;
  try {
    const spki = new SubjectPublicKeyInfo({
      algorithm: new AlgorithmIdentifier({
        algorithm: OID.dsa,
        parameters: source.spki.algorithm.parameters,
      }),
      subjectPublicKey: cert.spki.subjectPublicKey,
    });
    return createPublicKey({ key: Buffer.from(AsnConvert.serialize(spki)), format: 'der', type: 'spki' });
  } catch {
    return undefined;
  }
}

const certResults = new WeakMap<ParsedCertificate, WeakMap<KeyObject, boolean>>();

/** Does `key` verify the signature on `cert`? */
export function certSignedBy(cert: ParsedCertificate, key: KeyObject): boolean {
  if (BROKEN_SIGNATURE_ALGORITHMS.has(cert.signatureAlgorithm)) return false;
  let results = certResults.get(cert);
  if (!results) {
    results = new WeakMap();
    certResults.set(cert, results);
  }
  let ok = results.get(key);
  if (ok === undefined) {
    try {
      ok = cert.x509.verify(key);
    } catch {
      ok = false;
    }
    results.set(key, ok);
  }
  return ok;
}

type CrlVerifyParams = { digest: string | null; padding?: number };

const HASH_OF: Readonly<Record<string, CrlVerifyParams>> = {
  // RSA PKCS#1 v1.5
  '1.2.840.113549.1.1.5': { digest: 'sha1', padding: constants.RSA_PKCS1_PADDING },
  '1.2.840.113549.1.1.14': { digest: 'sha224', padding: constants.RSA_PKCS1_PADDING },
  '1.2.840.113549.1.1.11': { digest: 'sha256', padding: constants.RSA_PKCS1_PADDING },
  '1.2.840.113549.1.1.12': { digest: 'sha384', padding: constants.RSA_PKCS1_PADDING },
  '1.2.840.113549.1.1.13': { digest: 'sha512', padding: constants.RSA_PKCS1_PADDING },
  // ECDSA (DER-encoded signature, node's default)
  '1.2.840.10045.4.1': { digest: 'sha1' },
  '1.2.840.10045.4.3.1': { digest: 'sha224' },
  '1.2.840.10045.4.3.2': { digest: 'sha256' },
  '1.2.840.10045.4.3.3': { digest: 'sha384' },
  '1.2.840.10045.4.3.4': { digest: 'sha512' },
  // DSA
  '1.2.840.10040.4.3': { digest: 'sha1' },
  '2.16.840.1.101.3.4.3.1': { digest: 'sha224' },
  '2.16.840.1.101.3.4.3.2': { digest: 'sha256' },
  // EdDSA: no separate digest
  '1.3.101.112': { digest: null },
  '1.3.101.113': { digest: null },
};

/** True when we can check CRL signatures made with this algorithm (RSASSA-PSS: not yet). */
export function crlAlgorithmSupported(crl: ParsedCrl): boolean {
  return HASH_OF[crl.signatureAlgorithm.algorithm] !== undefined;
}

const crlResults = new WeakMap<ParsedCrl, WeakMap<KeyObject, boolean>>();

/** Does `key` verify the CRL's signature over its tbsCertList? */
export function crlSignedBy(crl: ParsedCrl, key: KeyObject): boolean {
  const params = HASH_OF[crl.signatureAlgorithm.algorithm];
  if (!params) return false;
  let results = crlResults.get(crl);
  if (!results) {
    results = new WeakMap();
    crlResults.set(crl, results);
  }
  let ok = results.get(key);
  if (ok === undefined) {
    try {
      const keyInput = params.padding === undefined ? key : { key, padding: params.padding };
      ok = verify(params.digest, crl.tbs, keyInput, crl.signature);
    } catch {
      ok = false;
    }
    results.set(key, ok);
  }
  return ok;
}
