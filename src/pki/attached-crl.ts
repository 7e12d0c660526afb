import type { X509Certificate } from 'node:crypto';
import { badRequest } from '../errors/index.js';
import { crlSignedBy } from './verify/keys.js';
import { parseCertificate, parseCrl } from './verify/parse.js';

export interface AttachedCrlInfo {
  der: Buffer;
  /** SHA-256 of the CA certificate that signed the CRL. */
  issuerFingerprint: string;
  thisUpdate: Date;
  nextUpdate?: Date;
  /** `${issuer name key}|${serial hex}`, the same keys verifyChain's parsed certificates produce. */
  revokedKeys: string[];
  revokedSerials: string[];
}

/**
 * Checks a CRL an admin attaches to one of their CAs: it parses, is a complete CRL (not a delta),
 * has no critical extension we cannot honour, and is signed by one of `caChain`'s certificates.
 */
export function parseAttachedCrl(
  input: string | Uint8Array,
  caChain: readonly X509Certificate[],
): AttachedCrlInfo {
  const crl = parseCrl(input);
  // RFC 5280 §5.1.2.5: conforming CRLs have nextUpdate. Without it asn1-x509 (2.11) also loses the
  // revoked entries and the crlExtensions that follow it, so revoked certificates, a delta CRL or
  // an unknown critical extension would go unseen: refused rather than trusted as empty.
  if (crl.nextUpdate === undefined)
    throw badRequest('invalid_crl', 'the CRL has no nextUpdate (RFC 5280 §5.1.2.5 requires one)');
  if (crl.deltaBase !== undefined)
    throw badRequest('crl_unsupported', 'delta CRLs cannot be attached; attach the complete CRL');
  if (crl.unsupportedExtensions.length > 0) {
    throw badRequest(
      'crl_unsupported',
      `the CRL has critical extensions Gatehouse cannot honour: ${crl.unsupportedExtensions.join(', ')}`,
    );
  }
  const issuer = caChain.map((c) => parseCertificate(c)).find((c) => c.subject.key === crl.issuer.key);
  if (!issuer) {
    throw badRequest(
      'crl_issuer_mismatch',
      `the CRL was issued by "${crl.issuer.text}", which is not a certificate of this CA`,
    );
  }
  if (!crlSignedBy(crl, issuer.x509.publicKey)) {
    throw badRequest(
      'crl_signature_invalid',
      `the CRL's signature does not verify with "${issuer.subject.text}"'s key`,
    );
  }
  const revokedKeys = [...crl.entries.keys()];
  return {
    der: crl.der,
    issuerFingerprint: issuer.fingerprint,
    thisUpdate: crl.thisUpdate,
    nextUpdate: crl.nextUpdate,
    revokedKeys,
    revokedSerials: revokedKeys.map((k) => k.slice(k.lastIndexOf('|') + 1)),
  };
}
