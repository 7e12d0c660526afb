import { createHash } from 'node:crypto';

/**
 * RFC 8705 §3.1 certificate thumbprint: base64url (no padding) of the SHA-256 of the certificate's
 * DER. Compute it once per connection; it goes into `cnf["x5t#S256"]` and is what
 * `verifyAccessToken` compares with `certificateSha256`.
 */
export function x5tS256(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('base64url');
}

const X5T_S256 = /^[A-Za-z0-9_-]{43}$/;

/** Whether `value` has the shape of an `x5tS256` thumbprint (43 base64url characters). */
export function isX5tS256(value: unknown): value is string {
  return typeof value === 'string' && X5T_S256.test(value);
}
