import { X509Certificate as NodeX509Certificate } from 'node:crypto';
import type { X509Certificate } from '@peculiar/x509';
import { badRequest } from '../errors/index.js';
import { importSigningKey, pkiWebCrypto, type SigningKey, x509 } from './keys.js';
import { parsePem } from './pem.js';

/** A CA that signs: its certificate and its (unencrypted PKCS#8) private key, both PEM. */
export interface Signer {
  certificatePem: string;
  privateKeyPem: string;
}

/** A Signer after parsing and checks; also used by the CRL builder. */
export interface LoadedIssuer {
  certificate: X509Certificate;
  nodeCertificate: NodeX509Certificate;
  key: SigningKey;
  /** The issuer's SKI (from its extension, else computed by RFC 5280 method 1), lowercase hex. */
  keyIdentifier: string;
}

/**
 * Parses a Signer and checks it can sign for `purpose`: exactly one certificate, a CA
 * (basicConstraints CA:TRUE), keyUsage (when present) allowing keyCertSign or cRLSign, and the
 * private key matching the certificate's public key (`issuer_key_mismatch`).
 */
export async function loadIssuer(signer: Signer, purpose: 'certificates' | 'crls'): Promise<LoadedIssuer> {
  const ders = parsePem(signer.certificatePem, 'CERTIFICATE');
  const der = ders[0];
  if (ders.length !== 1 || !der) {
    throw badRequest('invalid_pem', `issuer: expected exactly one CERTIFICATE block, found ${ders.length}`);
  }
  let nodeCertificate: NodeX509Certificate;
  let certificate: X509Certificate;
  try {
    nodeCertificate = new NodeX509Certificate(der);
    certificate = new x509.X509Certificate(der);
  } catch (err) {
    throw badRequest('invalid_certificate', 'issuer certificate does not parse as X.509', err);
  }
  const key = await importSigningKey(signer.privateKeyPem);
  if (!nodeCertificate.checkPrivateKey(key.keyObject)) {
    throw badRequest(
      'issuer_key_mismatch',
      'the issuer private key does not belong to the issuer certificate',
    );
  }
  if (!nodeCertificate.ca) {
    throw badRequest(
      'issuer_not_ca',
      'the issuer certificate is not a CA (basicConstraints CA:TRUE missing)',
    );
  }
  const ku = certificate.getExtension(x509.KeyUsagesExtension);
  const needed = purpose === 'certificates' ? x509.KeyUsageFlags.keyCertSign : x509.KeyUsageFlags.cRLSign;
  if (ku && (ku.usages & needed) === 0) {
    const name = purpose === 'certificates' ? 'keyCertSign' : 'cRLSign';
    throw badRequest('issuer_not_ca', `the issuer certificate's keyUsage does not allow ${name}`);
  }
  const skiExt = certificate.getExtension(x509.SubjectKeyIdentifierExtension);
  const keyIdentifier = skiExt
    ? skiExt.keyId.toLowerCase()
    : Buffer.from(await certificate.publicKey.getKeyIdentifier(pkiWebCrypto)).toString('hex');
  return { certificate, nodeCertificate, key, keyIdentifier };
}
