import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from 'node:crypto';
import { GatehouseError, InternalError } from '../../errors/index.js';

/**
 * Signing keys for access tokens: ECDSA P-256 (ES256), identified by their RFC 7638 JWK
 * thumbprint. Everything here is a pure function over the stored keys; the caller persists them
 * (the private JWK is as sensitive as a CA key and should be sealed at rest).
 *
 * Lifecycle: exactly one key is *active* (no `retireAfter`) and signs. `rotateSigningKeys` makes a
 * new active key and gives the previous one a `retireAfter`: until then it still verifies (and is
 * published in the JWKS) so the tokens it signed stay valid until they expire; after it, it is
 * ignored and can be deleted.
 */

export const SIGNING_ALGORITHM = 'ES256';
export type SigningAlgorithm = typeof SIGNING_ALGORITHM;

/** Clock tolerance for `exp`/`iat`/`nbf`, and the extra time a rotated-out key keeps verifying. */
export const DEFAULT_CLOCK_TOLERANCE_MS = 60_000;

export interface EcPublicJwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
}

export interface EcPrivateJwk extends EcPublicJwk {
  d: string;
}

export interface SigningKey {
  /** RFC 7638 thumbprint (SHA-256, base64url) of `publicJwk`; the JWS `kid`. */
  kid: string;
  algorithm: SigningAlgorithm;
  privateJwk: EcPrivateJwk;
  publicJwk: EcPublicJwk;
  createdAt: Date;
  /** Absent/null for the active key; set when the key is rotated out. */
  retireAfter?: Date | null;
}

/** A signing key without its private half: all that publishing and choosing keys needs. */
export type PublicSigningKey = Omit<SigningKey, 'privateJwk'>;

/** A key as published in `/.well-known/jwks.json`. */
export interface PublishedJwk extends EcPublicJwk {
  kid: string;
  alg: SigningAlgorithm;
  use: 'sig';
}

export interface Jwks {
  keys: PublishedJwk[];
}

const B64URL = /^[A-Za-z0-9_-]+$/;

/** RFC 7638: SHA-256 over the required members in lexicographic order, no whitespace. */
export function jwkThumbprint(jwk: EcPublicJwk): string {
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
  return createHash('sha256').update(canonical, 'utf8').digest('base64url');
}

function publicPart(jwk: EcPublicJwk): EcPublicJwk {
  return { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y };
}

export function generateSigningKey(now: Date): SigningKey {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = privateKey.export({ format: 'jwk' });
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || !jwk.x || !jwk.y || !jwk.d) {
    throw new InternalError('unexpected JWK export of a P-256 key');
  }
  const publicJwk: EcPublicJwk = { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y };
  return {
    kid: jwkThumbprint(publicJwk),
    algorithm: SIGNING_ALGORITHM,
    privateJwk: { ...publicJwk, d: jwk.d },
    publicJwk,
    createdAt: new Date(now.getTime()),
    retireAfter: null,
  };
}

/** When the key stops verifying, in ms; +Infinity for a key that is not retiring. */
function retireAfterMs(key: PublicSigningKey): number {
  return key.retireAfter ? key.retireAfter.getTime() : Number.POSITIVE_INFINITY;
}

function isRetiring(key: PublicSigningKey): boolean {
  return retireAfterMs(key) !== Number.POSITIVE_INFINITY;
}

function isRetired(key: PublicSigningKey, now: Date): boolean {
  return retireAfterMs(key) <= now.getTime();
}

function newestFirst(a: PublicSigningKey, b: PublicSigningKey): number {
  return b.createdAt.getTime() - a.createdAt.getTime() || (a.kid < b.kid ? -1 : a.kid > b.kid ? 1 : 0);
}

/** The key that signs: the newest key without `retireAfter`, or undefined when there is none. */
export function activeSigningKey<K extends PublicSigningKey>(keys: readonly K[]): K | undefined {
  return keys.filter((k) => !isRetiring(k)).sort(newestFirst)[0];
}

/** Keys that still verify at `now`: the active one first, then the others newest first. */
export function verifyingKeys<K extends PublicSigningKey>(keys: readonly K[], now: Date): K[] {
  const active = activeSigningKey(keys);
  const rest = keys.filter((k) => k !== active && !isRetired(k, now)).sort(newestFirst);
  return active ? [active, ...rest] : rest;
}

export interface RotationResult {
  /** The complete new key list to persist (new active key first). */
  keys: SigningKey[];
  active: SigningKey;
  /** Keys past their `retireAfter`, dropped from `keys`: delete them. */
  removed: SigningKey[];
}

/**
 * `gatehouse keys rotate`: a new active key; every key that was signing gets
 * `retireAfter = now + maxTokenLifetimeMs + graceMs`. `maxTokenLifetimeMs` must be the longest
 * lifetime of any token the old key may have signed (the longest session duration); the grace
 * covers the verifiers' clock tolerance and workers that sign with the old key until they reload.
 * Keys already retiring keep their date; retired ones are removed. With no keys, this creates the
 * first one.
 */
export function rotateSigningKeys(
  keys: readonly SigningKey[],
  now: Date,
  maxTokenLifetimeMs: number,
  graceMs: number = DEFAULT_CLOCK_TOLERANCE_MS,
): RotationResult {
  if (!Number.isFinite(maxTokenLifetimeMs) || maxTokenLifetimeMs < 0) {
    throw new RangeError(`maxTokenLifetimeMs must be a non-negative number, got ${maxTokenLifetimeMs}`);
  }
  if (!Number.isFinite(graceMs) || graceMs < 0) {
    throw new RangeError(`graceMs must be a non-negative number, got ${graceMs}`);
  }
  const retireAfter = new Date(now.getTime() + maxTokenLifetimeMs + graceMs);
  const active = generateSigningKey(now);
  const kept: SigningKey[] = [];
  const removed: SigningKey[] = [];
  for (const key of keys) {
    if (isRetired(key, now)) removed.push(key);
    else kept.push(isRetiring(key) ? key : { ...key, retireAfter });
  }
  return { keys: [active, ...kept.sort(newestFirst)], active, removed };
}

/** Drops keys past their `retireAfter` (for a periodic clean-up without rotating). */
export function pruneSigningKeys(
  keys: readonly SigningKey[],
  now: Date,
): { keys: SigningKey[]; removed: SigningKey[] } {
  return { keys: keys.filter((k) => !isRetired(k, now)), removed: keys.filter((k) => isRetired(k, now)) };
}

/**
 * The document for `/.well-known/jwks.json`: the public halves of the keys that verify at `now`,
 * built from an allow-list of members so that a private member can never leak.
 */
export function jwks(keys: readonly PublicSigningKey[], now: Date): Jwks {
  return {
    keys: verifyingKeys(keys, now).map((k) => ({
      ...publicPart(k.publicJwk),
      kid: k.kid,
      alg: SIGNING_ALGORITHM,
      use: 'sig',
    })),
  };
}

function invalidKey(kid: string, why: string, cause?: unknown): GatehouseError {
  return new GatehouseError('signing_key_invalid', `signing key ${kid}: ${why}`, 500, { cause });
}

interface VerificationKey {
  key: KeyObject;
  retireAfterMs: number;
}

interface SigningMaterial {
  kid: string;
  key: KeyObject;
  /** base64url of the JWS protected header, computed once. */
  encodedHeader: string;
}

/**
 * The stored keys imported once into KeyObjects: build one per change of the key list (e.g. per
 * configuration snapshot), not per request. Signing and verifying then do no key parsing.
 */
export class KeySet {
  readonly #signing: SigningMaterial | undefined;
  readonly #verifying: ReadonlyMap<string, VerificationKey>;

  private constructor(signing: SigningMaterial | undefined, verifying: Map<string, VerificationKey>) {
    this.#signing = signing;
    this.#verifying = verifying;
  }

  /**
   * Imports and checks every key (kid = thumbprint, private key matches public key, P-256). A
   * corrupt stored key is a server fault: GatehouseError `signing_key_invalid` (500).
   */
  static from(keys: readonly SigningKey[]): KeySet {
    const active = activeSigningKey(keys);
    const verifying = new Map<string, VerificationKey>();
    let signing: SigningMaterial | undefined;
    for (const stored of keys) {
      const { publicKey, privateKey } = importStored(stored);
      verifying.set(stored.kid, { key: publicKey, retireAfterMs: retireAfterMs(stored) });
      if (stored === active) {
        const header = { alg: SIGNING_ALGORITHM, kid: stored.kid, typ: 'JWT' };
        signing = {
          kid: stored.kid,
          key: privateKey,
          encodedHeader: Buffer.from(JSON.stringify(header), 'utf8').toString('base64url'),
        };
      }
    }
    return new KeySet(signing, verifying);
  }

  /** The kid new tokens are signed with, if there is an active key. */
  get activeKid(): string | undefined {
    return this.#signing?.kid;
  }

  /** @internal Used by `signAccessToken`. */
  signingMaterial(): SigningMaterial {
    if (!this.#signing) {
      throw new GatehouseError('signing_key_missing', 'there is no active access-token signing key', 500);
    }
    return this.#signing;
  }

  /** @internal The public key for `kid` at `now`: undefined if unknown, 'retired' if past retirement. */
  verificationKey(kid: string, now: Date): KeyObject | 'retired' | undefined {
    const found = this.#verifying.get(kid);
    if (!found) return undefined;
    return now.getTime() < found.retireAfterMs ? found.key : 'retired';
  }
}

function importStored(stored: SigningKey): { publicKey: KeyObject; privateKey: KeyObject } {
  const kid = typeof stored.kid === 'string' ? stored.kid : '?';
  if (stored.algorithm !== SIGNING_ALGORITHM)
    throw invalidKey(kid, `unsupported algorithm ${stored.algorithm}`);
  const pub = stored.publicJwk;
  const priv = stored.privateJwk;
  for (const jwk of [pub, priv]) {
    if (jwk?.kty !== 'EC' || jwk.crv !== 'P-256' || !B64URL.test(jwk.x) || !B64URL.test(jwk.y)) {
      throw invalidKey(kid, 'not a P-256 JWK');
    }
  }
  if (typeof priv.d !== 'string' || !B64URL.test(priv.d)) throw invalidKey(kid, 'private JWK has no d');
  if (jwkThumbprint(pub) !== stored.kid) throw invalidKey(kid, 'kid is not the thumbprint of the public key');
  let publicKey: KeyObject;
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: { ...publicPart(priv), d: priv.d }, format: 'jwk' });
    publicKey = createPublicKey({ key: { ...publicPart(pub) }, format: 'jwk' });
  } catch (err) {
    throw invalidKey(kid, 'cannot import the key', err);
  }
  // Node imports a private JWK whose d does not belong to x/y without complaint: prove the pair.
  const probe = Buffer.from(`gatehouse key check ${kid}`, 'utf8');
  const signature = sign('sha256', probe, privateKey);
  if (!verify('sha256', probe, publicKey, signature)) {
    throw invalidKey(kid, 'private key does not match the public key');
  }
  return { publicKey, privateKey };
}
