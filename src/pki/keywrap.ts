import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { badRequest, GatehouseError } from '../errors/index.js';

/**
 * CA private keys at rest: AES-256-GCM under the 32-byte master key (KEK).
 *
 * Sealed form: `v1.<base64url 12-byte IV>.<base64url ciphertext ‖ 16-byte tag>`. The caller's AAD
 * (the CA id) is authenticated, prefixed with a fixed domain string, so a sealed key copied onto
 * another CA's row, or a ciphertext made for some other purpose under the same KEK, fails to open.
 */
const VERSION = 'v1';
const AAD_DOMAIN = 'gatehouse/ca-private-key/v1:';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const B64URL = /^[A-Za-z0-9_-]+$/;

function checkKek(kek: Buffer): void {
  if (!Buffer.isBuffer(kek) || kek.length !== KEY_BYTES) {
    throw badRequest('invalid_master_key', `the master key must be ${KEY_BYTES} bytes`);
  }
}

function aadBytes(aad: string): Buffer {
  return Buffer.from(AAD_DOMAIN + aad, 'utf8');
}

/** Encrypts a private key PEM under `kek`, bound to `aad` (the CA id). Fresh random IV each call. */
export function sealPrivateKey(kek: Buffer, plaintextPem: string, aad: string): string {
  checkKek(kek);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', kek, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aadBytes(aad));
  const ciphertext = Buffer.concat([
    cipher.update(plaintextPem, 'utf8'),
    cipher.final(),
    cipher.getAuthTag(),
  ]);
  return `${VERSION}.${iv.toString('base64url')}.${ciphertext.toString('base64url')}`;
}

/**
 * Opens a sealed key. Any failure (wrong KEK, wrong AAD, tampering, malformed input) is the same
 * 500 `key_unwrap_failed`: the stored data or the server's key is wrong, not the client's request.
 */
export function openPrivateKey(kek: Buffer, sealed: string, aad: string): string {
  checkKek(kek);
  const fail = (why: string, cause?: unknown) =>
    new GatehouseError('key_unwrap_failed', `cannot decrypt the CA private key: ${why}`, 500, { cause });
  const parts = typeof sealed === 'string' ? sealed.split('.') : [];
  const [version, ivText, bodyText] = parts;
  if (parts.length !== 3 || version !== VERSION || !ivText || !bodyText) {
    throw fail('not a v1 sealed key');
  }
  if (!B64URL.test(ivText) || !B64URL.test(bodyText)) throw fail('not base64url');
  const iv = Buffer.from(ivText, 'base64url');
  const body = Buffer.from(bodyText, 'base64url');
  if (iv.length !== IV_BYTES || body.length <= TAG_BYTES) throw fail('truncated');
  try {
    const decipher = createDecipheriv('aes-256-gcm', kek, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(aadBytes(aad));
    decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
    const plain = Buffer.concat([
      decipher.update(body.subarray(0, body.length - TAG_BYTES)),
      decipher.final(),
    ]);
    return plain.toString('utf8');
  } catch (err) {
    throw fail('wrong master key, or the sealed key was altered or belongs to another CA', err);
  }
}

/**
 * Parses a master key given as 64 hex characters or base64/base64url of exactly 32 bytes
 * (surrounding whitespace ignored). Anything else is `invalid_master_key`.
 */
export function parseMasterKey(text: string): Buffer {
  const t = typeof text === 'string' ? text.trim() : '';
  if (/^[0-9a-fA-F]{64}$/.test(t)) return Buffer.from(t, 'hex');
  if (/^[A-Za-z0-9+/]{43}=?$/.test(t) || /^[A-Za-z0-9_-]{43}=?$/.test(t)) {
    const standard = t.replace(/=$/, '').replaceAll('-', '+').replaceAll('_', '/');
    const key = Buffer.from(standard, 'base64');
    // 43 characters carry 258 bits: insist on the canonical encoding (the 2 spare bits zero).
    if (key.length === KEY_BYTES && key.toString('base64').replace(/=$/, '') === standard) return key;
  }
  throw badRequest('invalid_master_key', 'the master key must be 64 hex characters or base64 of 32 bytes');
}

/** A fresh random 32-byte master key. */
export function generateMasterKey(): Buffer {
  return randomBytes(KEY_BYTES);
}
