import { type Actor, type Keys, recordChange } from '../authority/index.js';
import type { Repositories, SigningKey as SigningKeyRow } from '../store/index.js';
import {
  type EcPrivateJwk,
  type PublicSigningKey,
  rotateSigningKeys,
  type SigningKey,
} from './tokens/index.js';

/** Stored rows → public keys only (nothing unsealed): for publishing the JWKS. */
export function publicKeysFromRows(rows: readonly SigningKeyRow[]): PublicSigningKey[] {
  return rows.map((row) => ({
    kid: row.kid,
    algorithm: 'ES256',
    publicJwk: row.public_jwk,
    createdAt: new Date(row.created_at),
    retireAfter: row.retire_after ? new Date(row.retire_after) : null,
  }));
}

/** Stored rows → keys (private halves unsealed with the master key, bound to their kid). */
export function keysFromRows(rows: readonly SigningKeyRow[], keys: Pick<Keys, 'openKey'>): SigningKey[] {
  const publicKeys = publicKeysFromRows(rows);
  return rows.map((row, i) => ({
    ...(publicKeys[i] as PublicSigningKey),
    privateJwk: JSON.parse(keys.openKey(row.sealed_private_jwk, `signing-key:${row.kid}`)) as EcPrivateJwk,
  }));
}

function rowFromKey(key: SigningKey, keys: Pick<Keys, 'sealKey'>): SigningKeyRow {
  return {
    kid: key.kid,
    algorithm: key.algorithm,
    public_jwk: key.publicJwk,
    sealed_private_jwk: keys.sealKey(JSON.stringify(key.privateJwk), `signing-key:${key.kid}`),
    active: key.retireAfter ? 0 : 1,
    created_at: key.createdAt.toISOString(),
    retire_after: key.retireAfter ? key.retireAfter.toISOString() : null,
  };
}

export const SIGNING_KEYS_LOCK = 'signing-keys';

/**
 * `gatehouse keys rotate` (and the first key, when there is none): a new active key; the old
 * ones keep verifying until every token they signed (at most `maxTokenLifetimeMs`) has expired.
 * Runs in the caller's transaction with the config-version bump that makes edges reload.
 */
export async function rotateKeysIn(
  tx: Repositories,
  keys: Pick<Keys, 'sealKey' | 'openKey'>,
  now: Date,
  maxTokenLifetimeMs: number,
  actor: Actor,
): Promise<{ kid: string; retired: string[] }> {
  // Serialized on every node: two rotations must not each demote the keys they saw and leave two active.
  await tx.locks.acquire(SIGNING_KEYS_LOCK);
  const current = keysFromRows(await tx.signingKeys.all(), keys);
  const rotation = rotateSigningKeys(current, now, maxTokenLifetimeMs);
  const oldRetireAfter = rotation.keys.find((k) => k.retireAfter)?.retireAfter;
  if (oldRetireAfter) await tx.signingKeys.deactivateAll(oldRetireAfter.toISOString());
  await tx.signingKeys.deleteRetired(now.toISOString());
  await tx.signingKeys.insert(rowFromKey(rotation.active, keys));
  await recordChange(
    tx,
    {
      actor,
      reload: 'config',
      action: 'signing_key.rotate',
      resourceType: 'signing_key',
      resourceId: rotation.active.kid,
      before: { active: current.filter((k) => !k.retireAfter).map((k) => k.kid) },
      after: { active: rotation.active.kid, retired: rotation.removed.map((k) => k.kid) },
    },
    now,
  );
  return { kid: rotation.active.kid, retired: rotation.removed.map((k) => k.kid) };
}
