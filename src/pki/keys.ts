import {
  createPrivateKey,
  createPublicKey,
  generateKeyPair as generateNodeKeyPair,
  type KeyObject,
  webcrypto,
} from 'node:crypto';
import { badRequest } from '../errors/index.js';
import { parsePem, parsePemBlocks } from './pem.js';
import { x509 } from './x509.js';

export { x509 };

/** The WebCrypto implementation all PKI code uses (also set as @peculiar/x509's default). */
export const pkiWebCrypto: webcrypto.Crypto = webcrypto;

export type PkiCryptoKey = webcrypto.CryptoKey;

export type KeyAlgorithm = 'ecdsa-p256' | 'ecdsa-p384' | 'rsa-2048' | 'rsa-3072' | 'ed25519';
export const KEY_ALGORITHMS: readonly KeyAlgorithm[] = [
  'ecdsa-p256',
  'ecdsa-p384',
  'rsa-2048',
  'rsa-3072',
  'ed25519',
];

export function isKeyAlgorithm(value: unknown): value is KeyAlgorithm {
  return typeof value === 'string' && (KEY_ALGORITHMS as readonly string[]).includes(value);
}

/** What a key is, as far as Gatehouse cares. `curve` is set for EC keys, `bits` for RSA keys. */
export interface KeyInfo {
  type: 'ec' | 'rsa' | 'ed25519';
  curve?: 'P-256' | 'P-384';
  bits?: number;
}

export interface KeyPairPem {
  /** PKCS#8 ("PRIVATE KEY"), unencrypted. */
  privateKeyPem: string;
  /** SubjectPublicKeyInfo ("PUBLIC KEY"). */
  publicKeyPem: string;
}

export const MIN_RSA_BITS = 2048;
export const MAX_RSA_BITS = 8192;

const PEM_ENCODING = {
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
} as const;

type PemPair = { publicKey: string; privateKey: string };
const done =
  (resolve: (pair: PemPair) => void, reject: (err: Error) => void) =>
  (err: Error | null, publicKey: string, privateKey: string) =>
    err ? reject(err) : resolve({ publicKey, privateKey });

function generate(algorithm: KeyAlgorithm): Promise<PemPair> {
  return new Promise((resolve, reject) => {
    const cb = done(resolve, reject);
    switch (algorithm) {
      case 'ecdsa-p256':
        return generateNodeKeyPair('ec', { namedCurve: 'P-256', ...PEM_ENCODING }, cb);
      case 'ecdsa-p384':
        return generateNodeKeyPair('ec', { namedCurve: 'P-384', ...PEM_ENCODING }, cb);
      case 'rsa-2048':
        return generateNodeKeyPair(
          'rsa',
          { modulusLength: 2048, publicExponent: 0x10001, ...PEM_ENCODING },
          cb,
        );
      case 'rsa-3072':
        return generateNodeKeyPair(
          'rsa',
          { modulusLength: 3072, publicExponent: 0x10001, ...PEM_ENCODING },
          cb,
        );
      case 'ed25519':
        return generateNodeKeyPair('ed25519', PEM_ENCODING, cb);
      default:
        reject(badRequest('unsupported_key_type', `unknown key algorithm ${String(algorithm)}`));
    }
  });
}

/** Generates a fresh key pair (off the main thread for RSA, which can take a while). */
export async function generateKeyPair(algorithm: KeyAlgorithm): Promise<KeyPairPem> {
  const pair = await generate(algorithm);
  return { privateKeyPem: pair.privateKey, publicKeyPem: pair.publicKey };
}

/**
 * Classifies a (public or private) key and enforces Gatehouse's key policy: EC P-256/P-384, RSA
 * 2048..8192 bits, Ed25519. Anything else is `unsupported_key_type` (RSA-PSS-only keys, DSA, P-521,
 * X25519, …); RSA below 2048 bits is `weak_key`. RSA above 8192 bits is refused as unsupported
 * because verifying with such keys is a cheap way to burn our CPU.
 */
export function classifyKey(key: KeyObject): KeyInfo {
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  switch (type) {
    case 'ec': {
      const curve = details.namedCurve;
      if (curve === 'prime256v1' || curve === 'P-256') return { type: 'ec', curve: 'P-256' };
      if (curve === 'secp384r1' || curve === 'P-384') return { type: 'ec', curve: 'P-384' };
      throw badRequest(
        'unsupported_key_type',
        `EC curve ${curve ?? 'unknown'} is not supported (use P-256 or P-384)`,
      );
    }
    case 'rsa': {
      const bits = details.modulusLength ?? 0;
      if (bits < MIN_RSA_BITS) {
        throw badRequest('weak_key', `RSA key is ${bits} bits; at least ${MIN_RSA_BITS} bits are required`);
      }
      if (bits > MAX_RSA_BITS) {
        throw badRequest(
          'unsupported_key_type',
          `RSA key is ${bits} bits; at most ${MAX_RSA_BITS} bits are supported`,
        );
      }
      return { type: 'rsa', bits };
    }
    case 'ed25519':
      return { type: 'ed25519' };
    default:
      throw badRequest(
        'unsupported_key_type',
        `key type ${type ?? 'unknown'} is not supported (use ECDSA P-256/P-384, RSA >= ${MIN_RSA_BITS} or Ed25519)`,
      );
  }
}

/** Short human label, e.g. "EC P-256", "RSA 3072", "Ed25519". */
export function keyLabel(info: KeyInfo): string {
  if (info.type === 'ec') return `EC ${info.curve}`;
  if (info.type === 'rsa') return `RSA ${info.bits}`;
  return 'Ed25519';
}

/**
 * The WebCrypto algorithm used to sign with a key of this kind, which also determines the X.509
 * signature algorithm: ecdsa-with-SHA256 (P-256), ecdsa-with-SHA384 (P-384),
 * sha256WithRSAEncryption (any RSA size), Ed25519.
 */
export type SigningAlgorithm =
  | { name: 'ECDSA'; hash: 'SHA-256' | 'SHA-384' }
  | { name: 'RSASSA-PKCS1-v1_5'; hash: 'SHA-256' }
  | { name: 'Ed25519' };

export function signingAlgorithmFor(info: KeyInfo): SigningAlgorithm {
  if (info.type === 'ec') return { name: 'ECDSA', hash: info.curve === 'P-384' ? 'SHA-384' : 'SHA-256' };
  if (info.type === 'rsa') return { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  return { name: 'Ed25519' };
}

function importParams(
  info: KeyInfo,
): webcrypto.EcKeyImportParams | webcrypto.RsaHashedImportParams | webcrypto.Algorithm {
  if (info.type === 'ec') return { name: 'ECDSA', namedCurve: info.curve ?? 'P-256' };
  if (info.type === 'rsa') return { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  return { name: 'Ed25519' };
}

export interface SigningKey {
  /** Non-extractable WebCrypto key, usable with @peculiar/x509 generators. */
  cryptoKey: PkiCryptoKey;
  /** The same key as a node KeyObject (for checkPrivateKey, public key derivation). */
  keyObject: KeyObject;
  info: KeyInfo;
  signingAlgorithm: SigningAlgorithm;
}

const PRIVATE_KEY_LABELS: Record<string, 'pkcs8' | 'sec1' | 'pkcs1'> = {
  'PRIVATE KEY': 'pkcs8',
  'EC PRIVATE KEY': 'sec1',
  'RSA PRIVATE KEY': 'pkcs1',
};

/** Parses an unencrypted private key PEM (PKCS#8; legacy SEC1/PKCS#1 are tolerated). */
export function parsePrivateKeyPem(pem: string): KeyObject {
  const blocks = parsePemBlocks(pem);
  const block = blocks[0];
  if (blocks.length !== 1 || !block) {
    throw badRequest('invalid_pem', `expected exactly one private key PEM block, found ${blocks.length}`);
  }
  const type = PRIVATE_KEY_LABELS[block.label];
  if (!type) {
    throw badRequest('invalid_pem', `expected an unencrypted PRIVATE KEY block, found ${block.label}`);
  }
  try {
    return createPrivateKey({ key: block.der, format: 'der', type });
  } catch (err) {
    throw badRequest('invalid_private_key', 'private key could not be parsed', err);
  }
}

/** Parses a SubjectPublicKeyInfo PEM ("PUBLIC KEY", exactly one block). */
export function parsePublicKeyPem(pem: string): { keyObject: KeyObject; spkiDer: Buffer } {
  const ders = parsePem(pem, 'PUBLIC KEY');
  const der = ders[0];
  if (ders.length !== 1 || !der) {
    throw badRequest('invalid_pem', `expected exactly one PUBLIC KEY block, found ${ders.length}`);
  }
  try {
    const keyObject = createPublicKey({ key: der, format: 'der', type: 'spki' });
    return { keyObject, spkiDer: der };
  } catch (err) {
    throw badRequest('invalid_public_key', 'public key could not be parsed', err);
  }
}

/**
 * Imports a private key PEM as a non-extractable WebCrypto signing key, detecting the algorithm
 * from the key itself (see {@link signingAlgorithmFor}). Enforces the key policy of
 * {@link classifyKey}.
 */
export async function importSigningKey(privateKeyPem: string): Promise<SigningKey> {
  const keyObject = parsePrivateKeyPem(privateKeyPem);
  const info = classifyKey(keyObject);
  const pkcs8 = keyObject.export({ type: 'pkcs8', format: 'der' });
  const cryptoKey = await pkiWebCrypto.subtle.importKey('pkcs8', pkcs8, importParams(info), false, ['sign']);
  return { cryptoKey, keyObject, info, signingAlgorithm: signingAlgorithmFor(info) };
}
