import type { X509Certificate } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import type { AlgorithmIdentifier, SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import { RsaSaPssParams } from '@peculiar/asn1-rsa';

/**
 * Key and signature algorithm classification for the strict profile (profile.ts). Computed once
 * per parsed certificate or CRL, so the per-handshake cost is a field read.
 */

export type KeyDescription =
  | { readonly type: 'rsa'; readonly bits: number }
  | { readonly type: 'ec'; readonly curve: 'P-256' | 'P-384' | 'P-521' }
  /** An EC key on any other named curve (P-192, secp256k1, brainpool…) or explicit parameters. */
  | { readonly type: 'ec-other'; readonly curve: string }
  | { readonly type: 'ed25519' }
  | { readonly type: 'dsa' }
  | { readonly type: 'other'; readonly algorithm: string };

/**
 * `strong`: SHA-256/384/512 with RSA PKCS#1 v1.5, RSASSA-PSS or ECDSA, and Ed25519 — the set
 * BoringSSL's certificate verifier accepts, minus SHA-1. `sha1`: SHA-1 (refused unless an uploaded
 * CA allows it). `weak`: MD2/MD4/MD5 and everything else (SHA-224, DSA, Ed448, unknown).
 */
export type SignatureStrength = 'strong' | 'sha1' | 'weak';

const RSA = '1.2.840.113549.1.1.1';
const RSA_PSS = '1.2.840.113549.1.1.10';
const EC = '1.2.840.10045.2.1';
const ED25519 = '1.3.101.112';
const DSA = '1.2.840.10040.4.1';

/** DER of the namedCurve OIDs we accept (the ECParameters CHOICE is then just the OID). */
const NAMED_CURVES: Readonly<Record<string, 'P-256' | 'P-384' | 'P-521'>> = {
  '06082a8648ce3d030107': 'P-256',
  '06052b81040022': 'P-384',
  '06052b81040023': 'P-521',
};

const STRONG_SIGNATURES: ReadonlySet<string> = new Set([
  '1.2.840.113549.1.1.11', // sha256WithRSAEncryption
  '1.2.840.113549.1.1.12', // sha384WithRSAEncryption
  '1.2.840.113549.1.1.13', // sha512WithRSAEncryption
  '1.2.840.10045.4.3.2', // ecdsa-with-SHA256
  '1.2.840.10045.4.3.3', // ecdsa-with-SHA384
  '1.2.840.10045.4.3.4', // ecdsa-with-SHA512
  ED25519,
]);

const SHA1_SIGNATURES: ReadonlySet<string> = new Set([
  '1.2.840.113549.1.1.5', // sha1WithRSAEncryption
  '1.3.14.3.2.29', // sha1WithRSASignature (OIW)
  '1.2.840.10045.4.1', // ecdsa-with-SHA1
]);

const STRONG_HASHES: ReadonlySet<string> = new Set([
  '2.16.840.1.101.3.4.2.1', // SHA-256
  '2.16.840.1.101.3.4.2.2', // SHA-384
  '2.16.840.1.101.3.4.2.3', // SHA-512
]);
const SHA1 = '1.3.14.3.2.26';

function pssStrength(parameters: ArrayBuffer | null | undefined): SignatureStrength {
  // Absent parameters mean the RFC 4055 defaults: SHA-1.
  if (!parameters) return 'sha1';
  try {
    const params = AsnConvert.parse(parameters, RsaSaPssParams);
    const hash = params.hashAlgorithm.algorithm;
    if (STRONG_HASHES.has(hash)) return 'strong';
    return hash === SHA1 ? 'sha1' : 'weak';
  } catch {
    return 'weak';
  }
}

export function signatureStrength(algorithm: AlgorithmIdentifier): SignatureStrength {
  const oid = algorithm.algorithm;
  if (STRONG_SIGNATURES.has(oid)) return 'strong';
  if (SHA1_SIGNATURES.has(oid)) return 'sha1';
  if (oid === RSA_PSS) return pssStrength(algorithm.parameters);
  return 'weak';
}

export function describeKey(x509: X509Certificate, spki: SubjectPublicKeyInfo): KeyDescription {
  const algorithm = spki.algorithm.algorithm;
  switch (algorithm) {
    case RSA:
    case RSA_PSS: {
      let bits = 0;
      try {
        bits = x509.publicKey.asymmetricKeyDetails?.modulusLength ?? 0;
      } catch {
        // a key OpenSSL cannot load: reported as 0 bits, which every rule refuses
      }
      return { type: 'rsa', bits };
    }
    case EC: {
      const params = spki.algorithm.parameters;
      const der = params ? Buffer.from(params).toString('hex') : '';
      const curve = NAMED_CURVES[der];
      if (curve) return { type: 'ec', curve };
      // 0x06: a namedCurve OID we do not accept; anything else is explicit (or implicit) parameters.
      return { type: 'ec-other', curve: der.startsWith('06') ? `named curve ${der}` : 'explicit parameters' };
    }
    case ED25519:
      return { type: 'ed25519' };
    case DSA:
      return { type: 'dsa' };
    default:
      return { type: 'other', algorithm };
  }
}

/** A short description for failure reasons. */
export function keyText(key: KeyDescription): string {
  switch (key.type) {
    case 'rsa':
      return `RSA ${key.bits}-bit`;
    case 'ec':
    case 'ec-other':
      return `ECDSA ${key.curve}`;
    case 'ed25519':
      return 'Ed25519';
    case 'dsa':
      return 'DSA';
    case 'other':
      return `key algorithm ${key.algorithm}`;
  }
}
