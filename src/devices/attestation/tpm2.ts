// TPM 2.0 wire structures the server reads (TPM 2.0 Library, Part 2): TPMT_PUBLIC for RSA and
// ECC keys, TPMS_ATTEST and TPMT_SIGNATURE. Big-endian, size-prefixed; every read is bounds
// checked and any trailing byte is an error, so a crafted blob fails with attestation_malformed
// instead of reading garbage.

import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { GatehouseError } from '../../errors/index.js';

export const TPM_ALG = {
  RSA: 0x0001,
  SHA1: 0x0004,
  HMAC: 0x0005,
  AES: 0x0006,
  NULL: 0x0010,
  SHA256: 0x000b,
  SHA384: 0x000c,
  SHA512: 0x000d,
  RSASSA: 0x0014,
  RSAPSS: 0x0016,
  ECDSA: 0x0018,
  ECDAA: 0x001a,
  ECC: 0x0023,
  CFB: 0x0043,
} as const;

export const TPM_ECC_CURVE = { NIST_P256: 0x0003, NIST_P384: 0x0004 } as const;

/** TPMA_OBJECT bits (Part 2 §8.3). */
export const TPMA_OBJECT = {
  fixedTPM: 1 << 1,
  stClear: 1 << 2,
  fixedParent: 1 << 4,
  sensitiveDataOrigin: 1 << 5,
  userWithAuth: 1 << 6,
  adminWithPolicy: 1 << 7,
  noDA: 1 << 10,
  encryptedDuplication: 1 << 11,
  restricted: 1 << 16,
  decrypt: 1 << 17,
  sign: 1 << 18,
} as const;

export const TPM_GENERATED_VALUE = 0xff544347;
export const TPM_ST_ATTEST_CERTIFY = 0x8017;
export const TPM_ST_ATTEST_CREATION = 0x801a;

export const malformed = (message: string) => new GatehouseError('attestation_malformed', message, 400);

const HASHES: Record<number, { name: string; size: number }> = {
  [TPM_ALG.SHA1]: { name: 'sha1', size: 20 },
  [TPM_ALG.SHA256]: { name: 'sha256', size: 32 },
  [TPM_ALG.SHA384]: { name: 'sha384', size: 48 },
  [TPM_ALG.SHA512]: { name: 'sha512', size: 64 },
};

/** Node's name and the digest size of a TPM hash algorithm; unknown ones are malformed input. */
export function hashAlg(alg: number): { name: string; size: number } {
  const h = HASHES[alg];
  if (!h) throw malformed(`unsupported hash algorithm 0x${alg.toString(16)}`);
  return h;
}

export class Reader {
  #off = 0;
  constructor(
    private readonly buf: Buffer,
    private readonly what: string,
  ) {}

  #need(n: number): void {
    if (this.#off + n > this.buf.length) throw malformed(`${this.what}: truncated`);
  }
  u8(): number {
    this.#need(1);
    return this.buf.readUInt8(this.#off++);
  }
  u16(): number {
    this.#need(2);
    const v = this.buf.readUInt16BE(this.#off);
    this.#off += 2;
    return v;
  }
  u32(): number {
    this.#need(4);
    const v = this.buf.readUInt32BE(this.#off);
    this.#off += 4;
    return v;
  }
  u64(): bigint {
    this.#need(8);
    const v = this.buf.readBigUInt64BE(this.#off);
    this.#off += 8;
    return v;
  }
  bytes(n: number): Buffer {
    this.#need(n);
    const v = this.buf.subarray(this.#off, this.#off + n);
    this.#off += n;
    return v;
  }
  /** A TPM2B: UINT16 size, then that many bytes. */
  tpm2b(): Buffer {
    return this.bytes(this.u16());
  }
  get offset(): number {
    return this.#off;
  }
  end(): void {
    if (this.#off !== this.buf.length)
      throw malformed(`${this.what}: ${this.buf.length - this.#off} trailing bytes`);
  }
}

/** A TPM2B: UINT16 size then the bytes. */
export function tpm2b(data: Buffer): Buffer {
  if (data.length > 0xffff) throw new RangeError('TPM2B too long');
  const size = Buffer.alloc(2);
  size.writeUInt16BE(data.length);
  return Buffer.concat([size, data]);
}

export interface TpmPublic {
  type: 'rsa' | 'ecc';
  nameAlg: number;
  attributes: number;
  authPolicy: Buffer;
  /** Symmetric algorithm of a storage/EK key: AES key bits, or null (TPM_ALG_NULL). */
  symmetric: { algorithm: number; keyBits: number; mode: number } | null;
  /** Signing scheme and its hash, or null. */
  scheme: { scheme: number; hashAlg: number } | null;
  rsa?: { bits: number; exponent: number; modulus: Buffer };
  ecc?: { curve: number; x: Buffer; y: Buffer };
  /** The exact TPMT_PUBLIC bytes (what the name hashes). */
  raw: Buffer;
}

function readSymmetric(r: Reader): TpmPublic['symmetric'] {
  const algorithm = r.u16();
  if (algorithm === TPM_ALG.NULL) return null;
  return { algorithm, keyBits: r.u16(), mode: r.u16() };
}

function readScheme(r: Reader): TpmPublic['scheme'] {
  const scheme = r.u16();
  if (scheme === TPM_ALG.NULL) return null;
  const hash = r.u16();
  if (scheme === TPM_ALG.ECDAA) r.u16(); // count
  return { scheme, hashAlg: hash };
}

/** Parses a TPMT_PUBLIC (RSA or ECC) that fills `buf` exactly. */
export function parseTpmtPublic(buf: Buffer): TpmPublic {
  const r = new Reader(buf, 'TPMT_PUBLIC');
  const algType = r.u16();
  const nameAlg = r.u16();
  hashAlg(nameAlg);
  const attributes = r.u32();
  const authPolicy = r.tpm2b();
  const symmetric = readSymmetric(r);
  const scheme = readScheme(r);
  let result: TpmPublic;
  if (algType === TPM_ALG.RSA) {
    const bits = r.u16();
    const exponent = r.u32();
    const modulus = r.tpm2b();
    if (modulus.length * 8 !== bits || bits < 2048)
      throw malformed(`RSA key of ${bits} bits with a ${modulus.length}-byte modulus`);
    result = {
      type: 'rsa',
      nameAlg,
      attributes,
      authPolicy,
      symmetric,
      scheme,
      rsa: { bits, exponent: exponent || 65537, modulus },
      raw: buf,
    };
  } else if (algType === TPM_ALG.ECC) {
    const curve = r.u16();
    const kdf = r.u16();
    if (kdf !== TPM_ALG.NULL) r.u16();
    const x = r.tpm2b();
    const y = r.tpm2b();
    const size = curveInfo(curve).size;
    if (x.length !== size || y.length !== size) throw malformed('ECC point of the wrong size');
    result = {
      type: 'ecc',
      nameAlg,
      attributes,
      authPolicy,
      symmetric,
      scheme,
      ecc: { curve, x, y },
      raw: buf,
    };
  } else {
    throw malformed(`unsupported key type 0x${algType.toString(16)}`);
  }
  r.end();
  return result;
}

/** Parses a TPM2B_PUBLIC (what tpm2_createek/createak/create write with -u). */
export function parseTpm2bPublic(buf: Buffer): TpmPublic {
  const r = new Reader(buf, 'TPM2B_PUBLIC');
  const inner = r.tpm2b();
  r.end();
  return parseTpmtPublic(inner);
}

export function curveInfo(curve: number): { name: 'P-256' | 'P-384'; nodeName: string; size: number } {
  if (curve === TPM_ECC_CURVE.NIST_P256) return { name: 'P-256', nodeName: 'prime256v1', size: 32 };
  if (curve === TPM_ECC_CURVE.NIST_P384) return { name: 'P-384', nodeName: 'secp384r1', size: 48 };
  throw malformed(`unsupported ECC curve 0x${curve.toString(16)}`);
}

/** The object's name: nameAlg (2 bytes) || H_nameAlg(TPMT_PUBLIC). */
export function objectName(pub: TpmPublic): Buffer {
  const alg = Buffer.alloc(2);
  alg.writeUInt16BE(pub.nameAlg);
  return Buffer.concat([alg, createHash(hashAlg(pub.nameAlg).name).update(pub.raw).digest()]);
}

/** The public key as a node KeyObject (via JWK: no hand-built DER). */
export function publicKeyObject(pub: TpmPublic): KeyObject {
  if (pub.rsa) {
    const e = Buffer.alloc(4);
    e.writeUInt32BE(pub.rsa.exponent);
    let i = 0;
    while (i < 3 && e[i] === 0) i++;
    return createPublicKey({
      key: { kty: 'RSA', n: pub.rsa.modulus.toString('base64url'), e: e.subarray(i).toString('base64url') },
      format: 'jwk',
    });
  }
  const ecc = pub.ecc as NonNullable<TpmPublic['ecc']>;
  try {
    return createPublicKey({
      key: {
        kty: 'EC',
        crv: curveInfo(ecc.curve).name,
        x: ecc.x.toString('base64url'),
        y: ecc.y.toString('base64url'),
      },
      format: 'jwk',
    });
  } catch (err) {
    throw new GatehouseError('attestation_malformed', 'the ECC point is not on its curve', 400, {
      cause: err,
    });
  }
}

/** SubjectPublicKeyInfo DER of a TPM public key: compared byte for byte with a CSR's or a certificate's. */
export function spkiDer(pub: TpmPublic): Buffer {
  return publicKeyObject(pub).export({ type: 'spki', format: 'der' });
}

export interface TpmsAttest {
  type: number;
  qualifiedSigner: Buffer;
  extraData: Buffer;
  clock: { clock: bigint; resetCount: number; restartCount: number; safe: boolean };
  firmwareVersion: bigint;
  /** The certified object's name (ATTEST_CERTIFY name, ATTEST_CREATION objectName). */
  objectName: Buffer;
  /** ATTEST_CERTIFY's qualifiedName, or ATTEST_CREATION's creationHash. */
  second: Buffer;
  raw: Buffer;
}

/** Parses a TPMS_ATTEST of type ATTEST_CERTIFY or ATTEST_CREATION (other types are refused). */
export function parseAttest(buf: Buffer): TpmsAttest {
  const r = new Reader(buf, 'TPMS_ATTEST');
  if (r.u32() !== TPM_GENERATED_VALUE)
    throw new GatehouseError(
      'attestation_not_tpm_generated',
      'TPMS_ATTEST magic is not TPM_GENERATED_VALUE',
      400,
    );
  const type = r.u16();
  if (type !== TPM_ST_ATTEST_CERTIFY && type !== TPM_ST_ATTEST_CREATION)
    throw new GatehouseError(
      'attestation_wrong_type',
      `TPMS_ATTEST type 0x${type.toString(16)} is not a certification`,
      400,
    );
  const qualifiedSigner = r.tpm2b();
  const extraData = r.tpm2b();
  const clock = { clock: r.u64(), resetCount: r.u32(), restartCount: r.u32(), safe: r.u8() !== 0 };
  const firmwareVersion = r.u64();
  const name = r.tpm2b();
  const second = r.tpm2b();
  r.end();
  return { type, qualifiedSigner, extraData, clock, firmwareVersion, objectName: name, second, raw: buf };
}

export interface TpmtSignature {
  sigAlg: number;
  hashAlg: number;
  /** RSA: the signature; ECDSA: r || s, each padded to the curve size by the caller. */
  rsa?: Buffer;
  ecdsa?: { r: Buffer; s: Buffer };
}

/** Parses a TPMT_SIGNATURE (RSASSA, RSAPSS or ECDSA). */
export function parseSignature(buf: Buffer): TpmtSignature {
  const r = new Reader(buf, 'TPMT_SIGNATURE');
  const sigAlg = r.u16();
  const hash = r.u16();
  let sig: TpmtSignature;
  if (sigAlg === TPM_ALG.RSASSA || sigAlg === TPM_ALG.RSAPSS) sig = { sigAlg, hashAlg: hash, rsa: r.tpm2b() };
  else if (sigAlg === TPM_ALG.ECDSA) sig = { sigAlg, hashAlg: hash, ecdsa: { r: r.tpm2b(), s: r.tpm2b() } };
  else throw malformed(`unsupported signature algorithm 0x${sigAlg.toString(16)}`);
  r.end();
  return sig;
}
