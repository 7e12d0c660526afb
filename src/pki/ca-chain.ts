import { X509Certificate } from 'node:crypto';
import { badRequest } from '../errors/index.js';
import { parsePem } from './pem.js';

export interface CaChain {
  /** Ordered from the lowest CA (the one that issues client certificates) up to the top one. */
  certificates: X509Certificate[];
}

const label = (cert: X509Certificate) => cert.subject.replaceAll('\n', ', ');

/**
 * Checks an uploaded CA bundle: every block parses, every certificate is a CA and is not expired,
 * and together they form one chain (each certificate signed by the next). Returns the chain
 * ordered bottom-up whatever order it was pasted in. Errors name the certificate at fault.
 */
export function parseCaChain(pem: string, now: Date = new Date()): CaChain {
  const ders = parsePem(pem, 'CERTIFICATE');
  const certs = ders.map((der, i) => {
    try {
      return new X509Certificate(der);
    } catch (err) {
      throw badRequest('invalid_certificate', `certificate ${i + 1} does not parse as X.509`, err);
    }
  });
  certs.forEach((cert, i) => {
    if (!cert.ca) {
      throw badRequest(
        'not_a_ca',
        `certificate ${i + 1} (${label(cert)}) is not a CA: basicConstraints CA:TRUE is required`,
      );
    }
    if (new Date(cert.validTo) <= now) {
      throw badRequest(
        'certificate_expired',
        `certificate ${i + 1} (${label(cert)}) expired on ${cert.validTo}`,
      );
    }
  });
  const fingerprints = new Set(certs.map((c) => c.fingerprint256));
  if (fingerprints.size !== certs.length)
    throw badRequest('duplicate_certificate', 'the bundle contains a certificate twice');

  const issuedBy = (child: X509Certificate, parent: X509Certificate) =>
    child !== parent && child.checkIssued(parent) && child.verify(parent.publicKey);
  // The bottom of the chain is the one certificate that issued none of the others.
  const bottoms = certs.filter((c) => !certs.some((other) => other !== c && issuedBy(other, c)));
  if (bottoms.length !== 1) {
    throw badRequest(
      'chain_broken',
      'the certificates do not form a single chain (each must be issued by the next)',
    );
  }
  const ordered: X509Certificate[] = [bottoms[0] as X509Certificate];
  for (;;) {
    const current = ordered[ordered.length - 1] as X509Certificate;
    if (current.checkIssued(current)) break;
    const parent = certs.find((c) => !ordered.includes(c) && issuedBy(current, c));
    if (!parent) break;
    ordered.push(parent);
  }
  const unlinked = certs.find((c) => !ordered.includes(c));
  if (unlinked) {
    throw badRequest(
      'chain_broken',
      `certificate ${certs.indexOf(unlinked) + 1} (${label(unlinked)}) does not link into the chain`,
    );
  }
  return { certificates: ordered };
}
