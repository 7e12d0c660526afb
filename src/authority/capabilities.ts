import type { Authority } from './authority.js';

/**
 * What a service may take instead of the Authority (see docs/architecture.md#wiring): the time,
 * the master key's uses without the key, and the org CA's issuance. The Authority provides all
 * three; tests may pass their own.
 */

/** The time. Services read it here, never from `new Date()`, so tests can move it. */
export type Clock = () => Date;

/** Sealing, opening and deriving with the master key, without holding it. */
export interface Keys {
  /** Seals a private key (or a secret), bound to `aad` (the owning row's id). */
  sealKey(privateKeyPem: string, aad: string): string;
  openKey(sealed: string, aad: string): string;
  /** A 32-byte key for `purpose`, derived from the master key. */
  derivedKey(purpose: string): Buffer;
}

/** Client certificates from the org CA, built and stored in the caller's transaction (devices). */
export type ClientCertificateIssuer = Pick<
  Authority,
  'buildClientCertificate' | 'storeClientCertificate' | 'revokeIn' | 'orgCaChainPem'
>;

/** Server certificates from the org CA (hostnames). */
export type ServerCertificateIssuer = Pick<Authority, 'issueServerCertificate'>;
