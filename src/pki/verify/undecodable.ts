import { badRequest, type GatehouseError } from '../../errors/index.js';

/** What parseCertificate / parseCrl were given. */
export type Parsed = 'certificate' | 'crl';

/**
 * The error parseCertificate (`invalid_certificate`) or parseCrl (`invalid_crl`) throws for input
 * that does not decode, `detail` saying why. Thrown by the decoders directly, or by the parse
 * functions for the errors of the ASN.1 and X.509 libraries (`cause`).
 */
export const undecodable = (kind: Parsed, detail: string, cause?: unknown): GatehouseError =>
  badRequest(
    kind === 'crl' ? 'invalid_crl' : 'invalid_certificate',
    `${kind === 'crl' ? 'CRL' : 'certificate'} cannot be parsed: ${detail}`,
    cause,
  );
