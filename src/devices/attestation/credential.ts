// TPM2_MakeCredential done by the server (TPM 2.0 Part 1 §24, Annex B.10 / C.6): the EK's owner
// can only recover `secret` with TPM2_ActivateCredential when the object named `name` (the AK)
// is loaded in the same TPM. Node's native crypto only: RSA-OAEP, ECDH, AES-CFB, HMAC.

import {
  createCipheriv,
  createHash,
  createHmac,
  diffieHellman,
  generateKeyPairSync,
  publicEncrypt,
  randomBytes,
  constants as cryptoConstants,
} from 'node:crypto';
import { GatehouseError } from '../../errors/index.js';
import { curveInfo, hashAlg, publicKeyObject, TPM_ALG, tpm2b, type TpmPublic } from './tpm2.js';

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};

/** KDFa (SP800-108 counter mode with HMAC): Part 1 §11.4.10.2. `label` gets its terminating zero here. */
export function kdfa(
  alg: number,
  key: Buffer,
  label: string,
  contextU: Buffer,
  contextV: Buffer,
  bits: number,
): Buffer {
  const { name, size } = hashAlg(alg);
  const out: Buffer[] = [];
  const fixed = Buffer.concat([Buffer.from(`${label}\0`, 'latin1'), contextU, contextV, u32(bits)]);
  for (let counter = 1; counter * size * 8 < bits + size * 8; counter++) {
    out.push(createHmac(name, key).update(u32(counter)).update(fixed).digest());
  }
  return truncateBits(Buffer.concat(out), bits);
}

/** KDFe (SP800-56A concatenation KDF): Part 1 §11.4.10.3. */
export function kdfe(
  alg: number,
  z: Buffer,
  label: string,
  partyU: Buffer,
  partyV: Buffer,
  bits: number,
): Buffer {
  const { name, size } = hashAlg(alg);
  const out: Buffer[] = [];
  const fixed = Buffer.concat([Buffer.from(`${label}\0`, 'latin1'), partyU, partyV]);
  for (let counter = 1; counter * size * 8 < bits + size * 8; counter++) {
    out.push(createHash(name).update(u32(counter)).update(z).update(fixed).digest());
  }
  return truncateBits(Buffer.concat(out), bits);
}

function truncateBits(buf: Buffer, bits: number): Buffer {
  const bytes = Math.ceil(bits / 8);
  const out = Buffer.from(buf.subarray(0, bytes));
  if (bits % 8 !== 0) out[0] = (out[0] as number) & (0xff >> (8 - (bits % 8)));
  return out;
}

export interface Credential {
  /** TPM2B_ID_OBJECT's contents: TPM2B_DIGEST(integrityHMAC) || encIdentity. */
  idObject: Buffer;
  /** TPM2B_ENCRYPTED_SECRET's contents: the OAEP-encrypted seed, or the ephemeral TPMS_ECC_POINT. */
  encryptedSecret: Buffer;
}

/** The seed and how it travels to the EK: RSA-OAEP, or ECDH with an ephemeral key and KDFe. */
function seedFor(ek: TpmPublic): { seed: Buffer; encryptedSecret: Buffer } {
  const { size } = hashAlg(ek.nameAlg);
  if (ek.rsa) {
    const seed = randomBytes(size);
    const encryptedSecret = publicEncrypt(
      {
        key: publicKeyObject(ek),
        padding: cryptoConstants.RSA_PKCS1_OAEP_PADDING,
        oaepHash: hashAlg(ek.nameAlg).name,
        oaepLabel: Buffer.from('IDENTITY\0', 'latin1'),
      },
      seed,
    );
    return { seed, encryptedSecret };
  }
  const ecc = ek.ecc as NonNullable<TpmPublic['ecc']>;
  const curve = curveInfo(ecc.curve);
  const eph = generateKeyPairSync('ec', { namedCurve: curve.nodeName });
  const z = diffieHellman({ privateKey: eph.privateKey, publicKey: publicKeyObject(ek) });
  const jwk = eph.publicKey.export({ format: 'jwk' });
  const ex = Buffer.from(jwk.x as string, 'base64url');
  const ey = Buffer.from(jwk.y as string, 'base64url');
  const seed = kdfe(ek.nameAlg, z, 'IDENTITY', ex, ecc.x, size * 8);
  return { seed, encryptedSecret: Buffer.concat([tpm2b(ex), tpm2b(ey)]) };
}

/**
 * MakeCredential(EK, name, secret). The EK must be a storage key with AES-CFB as its symmetric
 * algorithm (every TCG EK template is); anything else is refused as `ek_unsupported`.
 */
export function makeCredential(ek: TpmPublic, name: Buffer, secret: Buffer): Credential {
  const sym = ek.symmetric;
  if (!sym || sym.algorithm !== TPM_ALG.AES || sym.mode !== TPM_ALG.CFB)
    throw new GatehouseError(
      'ek_unsupported',
      'the EK is not a storage key with AES-CFB (not a TCG EK template)',
      400,
    );
  if (secret.length > hashAlg(ek.nameAlg).size)
    throw new RangeError('credential secret longer than the EK name digest');
  const { seed, encryptedSecret } = seedFor(ek);
  const symKey = kdfa(ek.nameAlg, seed, 'STORAGE', name, Buffer.alloc(0), sym.keyBits);
  const cipher = createCipheriv(`aes-${sym.keyBits}-cfb`, symKey, Buffer.alloc(16));
  const encIdentity = Buffer.concat([cipher.update(tpm2b(secret)), cipher.final()]);
  const { name: h, size } = hashAlg(ek.nameAlg);
  const hmacKey = kdfa(ek.nameAlg, seed, 'INTEGRITY', Buffer.alloc(0), Buffer.alloc(0), size * 8);
  const integrity = createHmac(h, hmacKey).update(encIdentity).update(name).digest();
  return { idObject: Buffer.concat([tpm2b(integrity), encIdentity]), encryptedSecret };
}
