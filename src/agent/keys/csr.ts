import { webcrypto } from 'node:crypto';
import { InternalError } from '../../errors/index.js';
import { x509 } from '../../pki/index.js';
import { keyError } from './errors.js';

/** A P-256 key that signs wherever it lives (token, TPM, memory). */
export interface P256Signer {
  /** SubjectPublicKeyInfo, DER. */
  spkiDer: Buffer;
  /** ECDSA P-256 over SHA-256(data); IEEE P1363 signature (r || s, 64 bytes). */
  sign(data: Buffer): Promise<Buffer>;
}

type CreateParams = Parameters<typeof x509.Pkcs10CertificateRequestGenerator.create>[0];
type KeyPair = CreateParams['keys'];
type CryptoArg = NonNullable<Parameters<typeof x509.Pkcs10CertificateRequestGenerator.create>[1]>;

const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;

function validCommonName(cn: string): string {
  if (typeof cn !== 'string' || cn.length === 0 || cn.length > 64 || /[\p{Cc}]/u.test(cn)) {
    throw keyError('invalid_key_options', 'the CSR common name must be 1-64 characters without controls');
  }
  return cn;
}

/**
 * PKCS#10 request (PEM) for `commonName`, signed by `signer`. @peculiar/x509 builds the request;
 * it is handed a minimal WebCrypto object whose `sign` goes to the signer (the private key never
 * leaves the token), and the result is verified before it is returned.
 */
export async function buildCsr(signer: P256Signer, commonName: string): Promise<string> {
  const cn = validCommonName(commonName);
  // A copy: WebCrypto's types take an ArrayBuffer-backed view, a Buffer may sit on a shared pool.
  const spki = Uint8Array.from(signer.spkiDer);
  const publicKey = await webcrypto.subtle.importKey('spki', spki, EC_P256, true, ['verify']);
  // A stand-in for the private CryptoKey: x509 only reads `algorithm` and hands it back to sign().
  const privateKey = {
    type: 'private',
    algorithm: EC_P256,
    extractable: false,
    usages: ['sign'],
  } as unknown as KeyPair['privateKey'];
  const subtle = {
    exportKey: (format: 'spki', key: webcrypto.CryptoKey) => webcrypto.subtle.exportKey(format, key),
    sign: async (
      _algorithm: unknown,
      key: unknown,
      data: ArrayBuffer | ArrayBufferView,
    ): Promise<ArrayBuffer> => {
      if (key !== privateKey) throw new InternalError('unexpected key');
      const bytes = ArrayBuffer.isView(data)
        ? Buffer.from(data.buffer, data.byteOffset, data.byteLength)
        : Buffer.from(data);
      const sig = await signer.sign(bytes);
      return sig.buffer.slice(sig.byteOffset, sig.byteOffset + sig.byteLength) as ArrayBuffer;
    },
  };
  // Only the two methods above are used by Pkcs10CertificateRequestGenerator.create.
  const crypto = { subtle } as unknown as CryptoArg;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create(
    {
      name: [{ CN: [cn] }],
      keys: { privateKey, publicKey: publicKey as KeyPair['publicKey'] },
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    },
    crypto,
  );
  if (!(await csr.verify())) {
    throw keyError('token_error', 'the key produced a CSR signature that does not verify');
  }
  return csr.toString('pem');
}
