import { createHash, type X509Certificate } from 'node:crypto';

/**
 * When a certificate should be renewed: once a third of its lifetime remains, minus up to a
 * further 1/12 of it so that a fleet issued together does not renew in step. The jitter comes
 * from the certificate itself, so every check (and every restart) computes the same time.
 */
export function renewalTime(certificate: X509Certificate): Date {
  const from = Date.parse(certificate.validFrom);
  const to = Date.parse(certificate.validTo);
  const lifetime = Math.max(0, to - from);
  const jitter = createHash('sha256').update(certificate.raw).digest().readUInt32BE(0) / 2 ** 32;
  return new Date(to - lifetime / 3 - (jitter * lifetime) / 12);
}
