import { type CrlReason, createCrl, type Signer } from '../pki/index.js';
import type { Crl, Repositories } from '../store/index.js';

/** How long a published CRL is valid; it is re-signed when less than half of that remains. */
export const CRL_VALIDITY_MS = 7 * 24 * 3600 * 1000;

/**
 * A revoked certificate stays listed until a full CRL validity period after it expired: RFC 5280
 * §3.3 lets an entry go once it appeared on a regularly scheduled CRL issued after the
 * certificate's expiry, and CRLs are re-signed at least every half period. Without this the list
 * (and every re-signing and edge reload) only ever grows.
 */
export const revokedListedUntilExpiredBy = (now: Date): string =>
  new Date(now.getTime() - CRL_VALIDITY_MS).toISOString();

export function crlIsFresh(crl: Crl, now: Date): boolean {
  return new Date(crl.next_update).getTime() - now.getTime() > CRL_VALIDITY_MS / 2;
}

/** The lock that serializes everything that signs `caId`'s CRL, on every node. */
export const crlLock = (caId: string) => `crl:${caId}`;

/**
 * Signs a new CRL for `caId` listing every certificate it revoked, with the next CRL number, and
 * stores it. Runs inside the caller's transaction so a revocation and its CRL land together.
 *
 * The CA's lock comes first: two revocations on two nodes would otherwise each sign a CRL without
 * the other's (uncommitted) serial, under the same number, and the last to commit would win. Under
 * the lock, the list and the previous number are read after every earlier publisher committed.
 */
export async function publishCrl(tx: Repositories, caId: string, signer: Signer, now: Date): Promise<Crl> {
  await tx.locks.acquire(crlLock(caId));
  const previous = await tx.crls.get(caId);
  const revoked = await tx.clientCertificates.revokedBy(caId, revokedListedUntilExpiredBy(now));
  const crlNumber = (previous?.crl_number ?? 0) + 1;
  // Clocks of several nodes differ a little: never let thisUpdate go back either.
  if (previous && new Date(previous.this_update) > now) now = new Date(previous.this_update);
  const nextUpdate = new Date(now.getTime() + CRL_VALIDITY_MS);
  const { der } = await createCrl({
    issuer: signer,
    crlNumber: BigInt(crlNumber),
    thisUpdate: now,
    nextUpdate,
    revoked: revoked.map((r) => ({
      serialNumber: r.serial_number,
      revokedAt: new Date(r.revoked_at ?? now.toISOString()),
      reason: (r.revocation_reason ?? 'unspecified') as CrlReason,
    })),
  });
  const crl: Crl = {
    ca_id: caId,
    crl_number: crlNumber,
    this_update: now.toISOString(),
    next_update: nextUpdate.toISOString(),
    der_base64: der.toString('base64'),
  };
  await tx.crls.upsert(crl);
  return crl;
}

/**
 * Re-signs `caId`'s CRL when it is missing or past half its validity, once: under the CA's lock
 * the row is read again, so of several nodes (or requests) that saw it stale only the first signs
 * and the others return that CRL.
 */
export async function refreshCrl(tx: Repositories, caId: string, signer: Signer, now: Date): Promise<Crl> {
  await tx.locks.acquire(crlLock(caId));
  const current = await tx.crls.get(caId);
  if (current && crlIsFresh(current, now)) return current;
  return publishCrl(tx, caId, signer, now);
}
