// The private-key proof: the agent signs a server-issued nonce with the certificate's private
// key; the server verifies the signature with the certificate's public key. The signed message is
// bound to its purpose, the nonce and the certificate, so a signature cannot be replayed for
// another certificate or be mistaken for any other signature the key makes.
import { type KeyObject, sign, verify, X509Certificate } from 'node:crypto';

export function keyProofMessage(nonce: string, certificateSha256: string): Buffer {
  return Buffer.from(`gatehouse-posture-key-proof:v1:${nonce}:${certificateSha256.toLowerCase()}`, 'utf8');
}

/** Ed25519/Ed448 sign the message itself; RSA (PKCS#1 v1.5) and ECDSA sign its SHA-256. */
const digestFor = (key: KeyObject) =>
  key.asymmetricKeyType === 'ed25519' || key.asymmetricKeyType === 'ed448' ? null : 'sha256';

export function signKeyProof(privateKey: KeyObject, nonce: string, certificateSha256: string): string {
  return sign(digestFor(privateKey), keyProofMessage(nonce, certificateSha256), privateKey).toString(
    'base64',
  );
}

export function verifyKeyProof(certificatePem: string, nonce: string, signatureB64: string): boolean {
  try {
    const cert = new X509Certificate(certificatePem);
    const fingerprint = cert.fingerprint256.replace(/:/g, '').toLowerCase();
    const key = cert.publicKey;
    return verify(
      digestFor(key),
      keyProofMessage(nonce, fingerprint),
      key,
      Buffer.from(signatureB64, 'base64'),
    );
  } catch {
    return false; // malformed signature or unsupported key: not a proof
  }
}
