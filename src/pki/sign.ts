import { createHash, X509Certificate as NodeX509Certificate } from 'node:crypto';
import type { Extension, Name } from '@peculiar/x509';
import { badRequest, GatehouseError } from '../errors/index.js';
import { checkValidityDays } from './certificate-checks.js';
import type { LoadedIssuer } from './issuer.js';
import { type PkiCryptoKey, parsePublicKeyPem, pkiWebCrypto, type SigningAlgorithm, x509 } from './keys.js';
import { toPem } from './pem.js';
import { generateSerialNumber } from './serial.js';

export interface IssuedCertificate {
  certificatePem: string;
  /**
   * Lowercase hex of the serial's DER INTEGER content bytes. Serials Gatehouse generates are
   * always exactly 32 hex digits (16 bytes, first byte 0x01..0x7f), so this is also the exact
   * DER content: no 0x00 sign pad to add, no leading zero to strip.
   */
  serialNumber: string;
  /** Lowercase hex SHA-256 of the certificate DER, no colons. */
  fingerprintSha256: string;
  /** Subject key identifier (SHA-1 of the subjectPublicKey BIT STRING), lowercase hex. */
  ski: string;
  /** As encoded in the certificate (whole seconds). */
  notBefore: Date;
  notAfter: Date;
}

export interface CertificateWithKey extends IssuedCertificate {
  /** PKCS#8 PEM of the freshly generated key pair. */
  privateKeyPem: string;
}

/**
 * notBefore is set this far before `now`, so a certificate is usable at once by peers whose clock
 * runs slightly behind ours (otherwise a fresh certificate is "not yet valid" for them).
 */
export const NOT_BEFORE_BACKDATE_MS = 60_000;

const DAY_MS = 86_400_000;

interface SignParams {
  subject: Name;
  /** Subject public key, SPKI DER. */
  publicKey: Uint8Array;
  extensions: Extension[];
  validityDays: number;
  now: Date;
  issuer:
    | { kind: 'self'; key: PkiCryptoKey; signingAlgorithm: SigningAlgorithm }
    | { kind: 'ca'; loaded: LoadedIssuer };
}

/**
 * notBefore = now − NOT_BEFORE_BACKDATE_MS; notAfter = now + validityDays, clamped to the issuer's
 * notAfter (a certificate cannot usefully outlive its issuer). An expired issuer is refused.
 */
export async function sign(params: SignParams): Promise<IssuedCertificate> {
  checkValidityDays(params.validityDays);
  const now = params.now.getTime();
  const notBefore = new Date(now - NOT_BEFORE_BACKDATE_MS);
  let notAfter = new Date(now + params.validityDays * DAY_MS);

  let issuerName: Name;
  let signingKey: PkiCryptoKey;
  let signingAlgorithm: SigningAlgorithm;
  let verifyKey: NodeX509Certificate['publicKey'] | undefined;
  if (params.issuer.kind === 'self') {
    issuerName = params.subject;
    signingKey = params.issuer.key;
    signingAlgorithm = params.issuer.signingAlgorithm;
  } else {
    const { loaded } = params.issuer;
    if (loaded.certificate.notAfter.getTime() <= now) {
      throw badRequest(
        'issuer_expired',
        `the issuer certificate expired on ${loaded.certificate.notAfter.toISOString()}`,
      );
    }
    if (notAfter > loaded.certificate.notAfter) notAfter = loaded.certificate.notAfter;
    issuerName = loaded.certificate.subjectName;
    signingKey = loaded.key.cryptoKey;
    signingAlgorithm = loaded.key.signingAlgorithm;
    verifyKey = loaded.nodeCertificate.publicKey;
  }

  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: generateSerialNumber(),
      subject: params.subject,
      issuer: issuerName,
      notBefore,
      notAfter,
      publicKey: params.publicKey,
      signingKey,
      signingAlgorithm,
      extensions: params.extensions,
    },
    pkiWebCrypto,
  );

  const der = Buffer.from(cert.rawData);
  // Cheap self-check with OpenSSL (via node) that what we produced verifies.
  const node = new NodeX509Certificate(der);
  if (!node.verify(verifyKey ?? node.publicKey)) {
    throw new GatehouseError('signing_failed', 'the generated certificate signature does not verify', 500);
  }
  const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension);
  return {
    certificatePem: toPem(der, 'CERTIFICATE'),
    serialNumber: cert.serialNumber.toLowerCase(),
    fingerprintSha256: createHash('sha256').update(der).digest('hex'),
    ski: ski ? ski.keyId.toLowerCase() : '',
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
  };
}

export async function subjectKeyIdentifier(spkiDer: Uint8Array): Promise<Extension> {
  return x509.SubjectKeyIdentifierExtension.create(spkiDer, false, pkiWebCrypto);
}

export function spkiOf(publicKeyPem: string): Buffer {
  return parsePublicKeyPem(publicKeyPem).spkiDer;
}
