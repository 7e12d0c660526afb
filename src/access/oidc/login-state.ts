import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { GatehouseError } from '../../errors/index.js';

/**
 * What the callback needs to finish a login, carried across the IdP redirect in a short-lived
 * cookie: sealed with AES-256-GCM, so the browser can neither read the PKCE verifier and nonce nor
 * change any field.
 *
 * Sealed form: `v1.<base64url 12-byte IV ‖ ciphertext ‖ 16-byte tag>`, the AAD a fixed domain
 * string plus the optional `purpose` (a ciphertext made for another purpose under the same key does
 * not open). About 300 characters for a short `returnTo`: well within a cookie.
 */
export interface LoginState {
  state: string;
  nonce: string;
  codeVerifier: string;
  /** Same-host path to send the browser to after login (see `validateReturnTo`). */
  returnTo: string;
  /** Which identity provider the login was started with. */
  idpId: string;
  /** Milliseconds since the epoch; at most `LOGIN_STATE_TTL_MS` after sealing. */
  expires: number;
}

export const LOGIN_STATE_TTL_MS = 10 * 60 * 1000;
/** Longest accepted `returnTo`, so that the sealed state stays a small cookie. */
export const MAX_RETURN_TO_LENGTH = 2048;

const VERSION = 'v1';
const AAD = 'gatehouse/oidc-login-state/v1';
const aad = (purpose: string | undefined) => Buffer.from(purpose ? `${AAD}/${purpose}` : AAD, 'utf8');
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const MAX_SEALED_LENGTH = 8192;

function checkKey(key: Buffer): void {
  if (!Buffer.isBuffer(key) || key.length !== KEY_BYTES) {
    throw new TypeError(`the login-state key must be a ${KEY_BYTES}-byte Buffer`);
  }
}

/**
 * A login-state key derived from a longer-lived secret (e.g. the master key) with HKDF-SHA256, so
 * that the same bytes are never used directly for two purposes.
 */
export function deriveLoginStateKey(secret: Buffer): Buffer {
  if (!Buffer.isBuffer(secret) || secret.length < 32) {
    throw new TypeError('the secret must be a Buffer of at least 32 bytes');
  }
  return Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), 'gatehouse oidc login-state v1', 32));
}

const invalid = (why: string, cause?: unknown) =>
  new GatehouseError('login_state_invalid', `login state ${why}; start the login again`, 400, { cause });

/** Options of `sealLoginState` and `openLoginState`. */
export interface LoginStateOptions {
  /** Milliseconds since the epoch; defaults to the clock. */
  now?: number;
  /** Bound into the AAD: a state sealed for one purpose opens for that purpose only. */
  purpose?: string;
}

/**
 * Seals a login state. `expires` defaults to (and is capped at) now + 10 minutes. Throws
 * `invalid_return_to` (400) for an unsafe `returnTo`.
 */
export function sealLoginState(
  key: Buffer,
  data: Omit<LoginState, 'expires'> & { expires?: number },
  opts: LoginStateOptions = {},
): string {
  checkKey(key);
  const now = opts.now ?? Date.now();
  for (const field of ['state', 'nonce', 'codeVerifier', 'idpId'] as const) {
    if (typeof data[field] !== 'string' || data[field].length === 0 || data[field].length > 512) {
      throw new TypeError(`login state: ${field} must be a non-empty string of at most 512 characters`);
    }
  }
  const expires = Math.min(data.expires ?? now + LOGIN_STATE_TTL_MS, now + LOGIN_STATE_TTL_MS);
  const payload = {
    s: data.state,
    n: data.nonce,
    v: data.codeVerifier,
    r: validateReturnTo(data.returnTo),
    i: data.idpId,
    e: expires,
  };
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad(opts.purpose));
  const sealed = Buffer.concat([
    iv,
    cipher.update(JSON.stringify(payload), 'utf8'),
    cipher.final(),
    cipher.getAuthTag(),
  ]);
  return `${VERSION}.${sealed.toString('base64url')}`;
}

/**
 * Opens a sealed login state. Wrong key, another purpose, tampering, truncation, anything malformed,
 * and expiry all throw GatehouseError `login_state_invalid` (400).
 */
export function openLoginState(key: Buffer, sealed: string, opts: LoginStateOptions = {}): LoginState {
  checkKey(key);
  const now = opts.now ?? Date.now();
  if (typeof sealed !== 'string' || sealed.length > MAX_SEALED_LENGTH) throw invalid('is missing');
  const dot = sealed.indexOf('.');
  const version = sealed.slice(0, dot);
  const body = sealed.slice(dot + 1);
  if (dot < 0 || version !== VERSION || !/^[A-Za-z0-9_-]+$/.test(body)) throw invalid('is malformed');
  const bytes = Buffer.from(body, 'base64url');
  if (bytes.length <= IV_BYTES + TAG_BYTES) throw invalid('is truncated');
  let plain: string;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, IV_BYTES), {
      authTagLength: TAG_BYTES,
    });
    decipher.setAAD(aad(opts.purpose));
    decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
    plain = Buffer.concat([
      decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)),
      decipher.final(),
    ]).toString('utf8');
  } catch (err) {
    throw invalid('was altered or sealed with another key', err);
  }
  let p: unknown;
  try {
    p = JSON.parse(plain);
  } catch (err) {
    throw invalid('is malformed', err);
  }
  if (
    typeof p !== 'object' ||
    p === null ||
    !['s', 'n', 'v', 'r', 'i'].every((k) => typeof (p as Record<string, unknown>)[k] === 'string') ||
    typeof (p as Record<string, unknown>).e !== 'number'
  ) {
    throw invalid('is malformed');
  }
  const f = p as { s: string; n: string; v: string; r: string; i: string; e: number };
  if (!(f.e > now)) throw invalid('has expired');
  return {
    state: f.s,
    nonce: f.n,
    codeVerifier: f.v,
    returnTo: validateReturnTo(f.r),
    idpId: f.i,
    expires: f.e,
  };
}

/**
 * Accepts only a path on the same host: starts with a single `/`, no `//` or `/\` prefix (which
 * browsers read as another host), no backslash anywhere, no control characters or whitespace
 * (browsers drop tabs and newlines, turning `/\t/evil` into `//evil`), at most 2048 characters.
 * Returns the value unchanged; anything else throws `invalid_return_to` (400).
 */
export function validateReturnTo(value: unknown): string {
  const fail = (why: string) =>
    new GatehouseError('invalid_return_to', `return path ${why}: only a path on this host is allowed`, 400);
  if (typeof value !== 'string' || value.length === 0) throw fail('is missing');
  if (value.length > MAX_RETURN_TO_LENGTH) throw fail('is too long');
  if (value[0] !== '/') throw fail('must start with /');
  if (value[1] === '/' || value[1] === '\\') throw fail('must not start with // or /\\');
  if (value.includes('\\')) throw fail('must not contain a backslash');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0020\u007f-\u009f\u2028\u2029]/.test(value)) {
    throw fail('must not contain whitespace or control characters');
  }
  // Belt and braces: resolved against a placeholder origin, it must stay on that origin.
  const base = 'https://gatehouse.invalid';
  let resolved: URL;
  try {
    resolved = new URL(value, base);
  } catch {
    throw fail('is not a valid path');
  }
  if (resolved.origin !== base) throw fail('leaves this host');
  return value;
}
