import { randomUUID, sign, timingSafeEqual, verify } from 'node:crypto';
import { type AccessTokenErrorCode, tokenError } from './errors.js';
import { DEFAULT_CLOCK_TOLERANCE_MS, type KeySet, SIGNING_ALGORITHM } from './keys.js';
import { isX5tS256 } from './thumbprint.js';

/**
 * The access token the edge issues on an allow: a compact JWS (ES256, `kid`, `typ: JWT`) sent to
 * the origin in `Gatehouse-Jwt-Assertion` on every request and, unless the session duration is
 * "0s", kept by the browser in the `Gatehouse_Authorization` cookie.
 *
 * Signing and verifying are synchronous: the JWS framing is done here and the ECDSA operations by
 * node:crypto with the KeyObjects a `KeySet` imported once. Origins verify the same tokens with
 * any JOSE library against `/.well-known/jwks.json` (the tests check that with `jose`).
 */

export const ACCESS_TOKEN_TYPE = 'app';
/** Request header that carries the token to the origin. */
export const ASSERTION_HEADER = 'Gatehouse-Jwt-Assertion';
/** Lifetime of the token of a "0s" session: valid for the one request it is forwarded with. */
export const SINGLE_REQUEST_TOKEN_LIFETIME_MS = 60_000;
/** Longer input is refused before any decoding (the edge's header limit is 16 KiB anyway). */
export const MAX_TOKEN_LENGTH = 8192;

/** RFC 8705 confirmation claim: the thumbprint of the client certificate the token is bound to. */
export interface CertificateConfirmation {
  'x5t#S256': string;
}

/** What the caller decides; `iat`, `exp`, `jti` and `type` are added by `signAccessToken`. */
export interface AccessTokenInput {
  iss: string;
  /** The app's audience tag. */
  aud: string;
  sub: string;
  identity_nonce: string;
  email?: string;
  /** The client certificate's CN, for non-identity passes. */
  common_name?: string;
  /** Set to bind the token to the connection's certificate: `{ 'x5t#S256': x5tS256(der) }`. */
  cnf?: CertificateConfirmation;
  /** Device posture rules the app references that passed when the token was issued. */
  device_posture?: string[];
  /**
   * Session id: set only on tokens kept as a session cookie. A token without it (a "0s",
   * per-request assertion) is never accepted back from a client.
   */
  sid?: string;
  /** The identity provider of the login, and the groups it reported: what identity rules need later. */
  idp?: string;
  groups?: string[];
  /** The id of the service token that earned the session (re-checked on every use). */
  service_token?: string;
}

export interface AccessTokenClaims {
  iss: string;
  /** Always a string in the tokens Gatehouse signs; an array is accepted on verification (RFC 7519). */
  aud: string | string[];
  sub: string;
  iat: number;
  exp: number;
  nbf?: number;
  jti: string;
  type: typeof ACCESS_TOKEN_TYPE;
  identity_nonce: string;
  email?: string;
  common_name?: string;
  cnf?: CertificateConfirmation;
  device_posture?: string[];
  sid?: string;
  idp?: string;
  groups?: string[];
  service_token?: string;
}

export interface SignAccessTokenOptions {
  /** At least one second; whole seconds are used (`exp = iat + floor(lifetimeMs / 1000)`). */
  lifetimeMs: number;
  now: Date;
}

function nonEmpty(value: unknown, name: string): string {
  if (typeof value !== 'string' || value.length === 0)
    throw new TypeError(`${name} must be a non-empty string`);
  return value;
}

function text(value: unknown, name: string): string {
  if (typeof value !== 'string') throw new TypeError(`${name} must be a string`);
  return value;
}

/**
 * Signs an access token with the key set's active key and returns the compact JWS. Every token
 * gets a fresh `jti` (a random UUID), so two tokens are never equal, which is what a "0s" session
 * (one token per request) needs. Throws GatehouseError `signing_key_missing` (500) when the key
 * set has no active key, and TypeError/RangeError for invalid input (a caller bug).
 */
export function signAccessToken(
  keys: KeySet,
  claims: AccessTokenInput,
  options: SignAccessTokenOptions,
): string {
  const { lifetimeMs, now } = options;
  if (!Number.isFinite(lifetimeMs) || lifetimeMs < 1000) {
    throw new RangeError(`lifetimeMs must be at least 1000, got ${lifetimeMs}`);
  }
  const nowMs = now.getTime();
  if (!Number.isFinite(nowMs)) throw new RangeError('now is an invalid Date');
  const signing = keys.signingMaterial();
  const iat = Math.floor(nowMs / 1000);
  const payload: AccessTokenClaims = {
    iss: nonEmpty(claims.iss, 'iss'),
    aud: nonEmpty(claims.aud, 'aud'),
    sub: text(claims.sub, 'sub'),
    iat,
    exp: iat + Math.floor(lifetimeMs / 1000),
    jti: randomUUID(),
    type: ACCESS_TOKEN_TYPE,
    identity_nonce: nonEmpty(claims.identity_nonce, 'identity_nonce'),
  };
  if (claims.email !== undefined) payload.email = nonEmpty(claims.email, 'email');
  if (claims.common_name !== undefined) payload.common_name = nonEmpty(claims.common_name, 'common_name');
  if (claims.device_posture !== undefined) payload.device_posture = [...claims.device_posture];
  if (claims.sid !== undefined) payload.sid = nonEmpty(claims.sid, 'sid');
  if (claims.idp !== undefined) payload.idp = nonEmpty(claims.idp, 'idp');
  if (claims.groups !== undefined) payload.groups = claims.groups.map((g) => text(g, 'groups[]'));
  if (claims.service_token !== undefined)
    payload.service_token = nonEmpty(claims.service_token, 'service_token');
  if (claims.cnf !== undefined) {
    const thumbprint = claims.cnf['x5t#S256'];
    if (!isX5tS256(thumbprint)) throw new TypeError('cnf["x5t#S256"] must be an x5tS256() thumbprint');
    payload.cnf = { 'x5t#S256': thumbprint };
  }
  const input = `${signing.encodedHeader}.${Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url')}`;
  const signature = sign('sha256', Buffer.from(input, 'ascii'), {
    key: signing.key,
    dsaEncoding: 'ieee-p1363',
  });
  return `${input}.${signature.toString('base64url')}`;
}

export interface VerifyAccessTokenOptions {
  keys: KeySet;
  issuer: string;
  /** The app's audience tag. */
  audience: string;
  now: Date;
  /** `x5tS256(der)` of the certificate the connection presented; null/undefined when none. */
  certificateSha256?: string | null;
  /** True when the app's policies needed a client certificate: the token must then be bound to one. */
  requireCertificateBinding: boolean;
  /**
   * True when the token comes back from a client as a session cookie: it must then carry a
   * `sid`. A per-request assertion (no `sid`) was only ever meant for the origin.
   */
  requireSession?: boolean;
  /** Tolerance for `exp`, `iat` and `nbf`; default 60 s. */
  clockToleranceMs?: number;
}

const B64URL = /^[A-Za-z0-9_-]+$/;
/** An ES256 signature is r || s, 2 × 32 bytes (RFC 7518 §3.4). */
const ES256_SIGNATURE_BYTES = 64;

type JsonObject = Record<string, unknown>;

function decodeJsonObject(segment: string, what: string): JsonObject {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  } catch {
    throw tokenError('token_malformed', `token ${what} is not base64url-encoded JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw tokenError('token_malformed', `token ${what} is not a JSON object`);
  }
  return value as JsonObject;
}

function own(object: JsonObject, name: string): unknown {
  return Object.hasOwn(object, name) ? object[name] : undefined;
}

function printable(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

function malformed(message: string): never {
  throw tokenError('token_malformed', message);
}

function stringClaim(payload: JsonObject, name: string, required: true): string;
function stringClaim(payload: JsonObject, name: string, required: false): string | undefined;
function stringClaim(payload: JsonObject, name: string, required: boolean): string | undefined {
  const value = own(payload, name);
  if (value === undefined && !required) return undefined;
  if (typeof value !== 'string') malformed(`token claim ${name} is missing or not a string`);
  return value;
}

function numericDate(payload: JsonObject, name: string, required: true): number;
function numericDate(payload: JsonObject, name: string, required: false): number | undefined;
function numericDate(payload: JsonObject, name: string, required: boolean): number | undefined {
  const value = own(payload, name);
  if (value === undefined && !required) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    malformed(`token claim ${name} is missing or not a NumericDate`);
  }
  return value;
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

/** Shape check of the (already authenticated) payload. */
function readClaims(payload: JsonObject): AccessTokenClaims {
  const aud = own(payload, 'aud');
  if (typeof aud !== 'string' && !isStringArray(aud)) malformed('token claim aud is missing or not a string');
  const type = own(payload, 'type');
  if (type !== ACCESS_TOKEN_TYPE) malformed(`token type ${printable(type)} is not "${ACCESS_TOKEN_TYPE}"`);
  const claims: AccessTokenClaims = {
    iss: stringClaim(payload, 'iss', true),
    aud: typeof aud === 'string' ? aud : [...aud],
    sub: stringClaim(payload, 'sub', true),
    iat: numericDate(payload, 'iat', true),
    exp: numericDate(payload, 'exp', true),
    jti: stringClaim(payload, 'jti', true),
    type: ACCESS_TOKEN_TYPE,
    identity_nonce: stringClaim(payload, 'identity_nonce', true),
  };
  const nbf = numericDate(payload, 'nbf', false);
  if (nbf !== undefined) claims.nbf = nbf;
  const email = stringClaim(payload, 'email', false);
  if (email !== undefined) claims.email = email;
  const commonName = stringClaim(payload, 'common_name', false);
  if (commonName !== undefined) claims.common_name = commonName;
  const posture = own(payload, 'device_posture');
  if (posture !== undefined) {
    if (!isStringArray(posture)) malformed('token claim device_posture is not an array of strings');
    claims.device_posture = [...posture];
  }
  for (const name of ['sid', 'idp', 'service_token'] as const) {
    const value = stringClaim(payload, name, false);
    if (value !== undefined) claims[name] = value;
  }
  const groups = own(payload, 'groups');
  if (groups !== undefined) {
    if (!isStringArray(groups)) malformed('token claim groups is not an array of strings');
    claims.groups = [...groups];
  }
  const cnf = own(payload, 'cnf');
  if (cnf !== undefined) {
    if (typeof cnf !== 'object' || cnf === null || Array.isArray(cnf))
      malformed('token claim cnf is not an object');
    const thumbprint = own(cnf as JsonObject, 'x5t#S256');
    if (thumbprint !== undefined) {
      if (typeof thumbprint !== 'string') malformed('token claim cnf["x5t#S256"] is not a string');
      claims.cnf = { 'x5t#S256': thumbprint };
    } else {
      // A confirmation method we do not implement (jkt, …): the token is bound to something we
      // cannot check, so it must not pass as an unbound token.
      throw tokenError('token_binding', 'token is bound with a confirmation method other than x5t#S256');
    }
  }
  return claims;
}

function sameThumbprint(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

function refuse(code: AccessTokenErrorCode, message: string): never {
  throw tokenError(code, message);
}

/**
 * Verifies an access token and returns its claims, or throws GatehouseError (401) with one of
 * the `AccessTokenErrorCode`s. Order: shape → header `alg` (only ES256; `none`, HS*, RS*, … are
 * refused before any key is touched) → `kid` (known and not retired at `now`) → signature →
 * claims (`iss`, `aud`, `exp`/`iat`/`nbf` with the clock tolerance, `type`) → certificate
 * binding.
 *
 * Binding (RFC 8705): a token carrying `cnf["x5t#S256"]` is only accepted on a connection that
 * presents that very certificate, whatever `requireCertificateBinding` says. With
 * `requireCertificateBinding`, a token without `cnf` is refused too (and so is any token on a
 * connection without a certificate).
 */
export function verifyAccessToken(token: string, options: VerifyAccessTokenOptions): AccessTokenClaims {
  const { keys, issuer, audience, now } = options;
  const toleranceMs = options.clockToleranceMs ?? DEFAULT_CLOCK_TOLERANCE_MS;
  const nowMs = now.getTime();
  // NaN would silently pass every time check below.
  if (!Number.isFinite(nowMs)) throw new RangeError('now is an invalid Date');
  if (!Number.isFinite(toleranceMs) || toleranceMs < 0) {
    throw new RangeError(`clockToleranceMs must be a non-negative number, got ${toleranceMs}`);
  }
  if (typeof token !== 'string' || token.length === 0) malformed('no token');
  if (token.length > MAX_TOKEN_LENGTH) malformed(`token is longer than ${MAX_TOKEN_LENGTH} characters`);
  const parts = token.split('.');
  if (parts.length !== 3) malformed('token is not a compact JWS (three dot-separated parts)');
  const [encodedHeader, encodedPayload, encodedSignature] = parts as [string, string, string];
  if (!B64URL.test(encodedHeader)) malformed('token header is not base64url');

  // The header decides nothing but which key to try, and only after alg is pinned to ES256.
  const header = decodeJsonObject(encodedHeader, 'header');
  const alg = own(header, 'alg');
  if (alg !== SIGNING_ALGORITHM) refuse('token_algorithm', `token algorithm ${printable(alg)} is not ES256`);
  if (own(header, 'crit') !== undefined) malformed('token header has crit extensions, none are supported');
  const kid = own(header, 'kid');
  if (typeof kid !== 'string') refuse('token_unknown_key', 'token header has no kid');
  const key = keys.verificationKey(kid, now);
  if (key === undefined) refuse('token_unknown_key', `token signing key ${printable(kid)} is unknown`);
  if (key === 'retired') refuse('token_unknown_key', `token signing key ${printable(kid)} is retired`);

  if (!B64URL.test(encodedPayload)) malformed('token payload is not base64url');
  const signature = Buffer.from(encodedSignature, 'base64url');
  // Canonical encoding only (Buffer's decoder skips stray characters): one token, one spelling.
  if (signature.length !== ES256_SIGNATURE_BYTES || signature.toString('base64url') !== encodedSignature) {
    refuse('token_signature', 'token signature is not a 64-byte ES256 signature');
  }
  const input = Buffer.from(`${encodedHeader}.${encodedPayload}`, 'ascii');
  if (!verify('sha256', input, { key, dsaEncoding: 'ieee-p1363' }, signature)) {
    refuse('token_signature', 'token signature does not verify');
  }

  const claims = readClaims(decodeJsonObject(encodedPayload, 'payload'));
  if (claims.iss !== issuer) refuse('token_issuer', `token issuer ${printable(claims.iss)} is not ${issuer}`);
  const audiences = typeof claims.aud === 'string' ? [claims.aud] : claims.aud;
  if (!audiences.includes(audience)) refuse('token_audience', 'token is for another application');
  if (nowMs >= claims.exp * 1000 + toleranceMs) refuse('token_expired', 'token has expired');
  if (claims.iat * 1000 > nowMs + toleranceMs) refuse('token_not_yet_valid', 'token is issued in the future');
  if (claims.nbf !== undefined && claims.nbf * 1000 > nowMs + toleranceMs) {
    refuse('token_not_yet_valid', 'token is not valid yet (nbf)');
  }

  if (options.requireSession === true && claims.sid === undefined) {
    refuse('token_single_use', 'token is a per-request assertion, not a session');
  }

  const presented = options.certificateSha256 || null;
  const bound = claims.cnf?.['x5t#S256'];
  if (bound !== undefined) {
    if (presented === null) {
      refuse('token_binding', 'token is bound to a client certificate; none was presented');
    }
    if (!sameThumbprint(bound, presented)) {
      refuse('token_binding', 'token is bound to another client certificate');
    }
  } else if (options.requireCertificateBinding) {
    refuse(
      'token_binding',
      presented === null
        ? 'a client certificate is required; none was presented'
        : 'token is not bound to a client certificate',
    );
  }
  return claims;
}
