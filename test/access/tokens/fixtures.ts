import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { importJWK, SignJWT, type JWTPayload } from 'jose';
import { GatehouseError } from '../../../src/errors/index.js';
import {
  type AccessTokenInput,
  generateSigningKey,
  KeySet,
  type SigningKey,
  x5tS256,
} from '../../../src/access/tokens/index.js';
import { createRootCa } from '../../../src/pki/certificates.js';

export const T0 = new Date('2030-01-01T00:00:00Z');
export const ISSUER = 'https://gatehouse.example.com';
export const AUDIENCE = 'aud-3f1c2d4e';

export const at = (base: Date, deltaMs: number) => new Date(base.getTime() + deltaMs);
export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;

export function tokenRefusal(code: string) {
  return (err: unknown) => {
    assert.ok(err instanceof GatehouseError, `expected GatehouseError(${code}), got ${String(err)}`);
    assert.equal(err.code, code, `code (message: ${err.message})`);
    assert.equal(err.status, 401);
    return true;
  };
}

export function gatehouseError(code: string, status: number) {
  return (err: unknown) => {
    assert.ok(err instanceof GatehouseError, `expected GatehouseError(${code}), got ${String(err)}`);
    assert.equal(err.code, code, `code (message: ${err.message})`);
    assert.equal(err.status, status);
    return true;
  };
}

export function claims(overrides: Partial<AccessTokenInput> = {}): AccessTokenInput {
  return {
    iss: ISSUER,
    aud: AUDIENCE,
    sub: 'user-42',
    identity_nonce: 'nonce-abc',
    email: 'ada@example.com',
    ...overrides,
  };
}

export function oneKey(now = T0): { key: SigningKey; keys: SigningKey[]; keySet: KeySet } {
  const key = generateSigningKey(now);
  return { key, keys: [key], keySet: KeySet.from([key]) };
}

/** A real client certificate's DER and its x5t#S256. */
export async function certificate(commonName: string): Promise<{ der: Buffer; thumbprint: string }> {
  const issued = await createRootCa({ commonName, organization: 'Acme', algorithm: 'ecdsa-p256', now: T0 });
  const der = new X509Certificate(issued.certificatePem).raw;
  return { der, thumbprint: x5tS256(der) };
}

export const b64 = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');

export function decodePart(token: string, index: 0 | 1): Record<string, unknown> {
  const part = token.split('.')[index];
  assert.ok(part !== undefined);
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
}

/** The claims a Gatehouse token carries, as plain JWT payload, for tokens built with jose. */
export function payloadAt(now: Date, overrides: JWTPayload = {}): JWTPayload {
  const iat = Math.floor(now.getTime() / 1000);
  return {
    iss: ISSUER,
    aud: AUDIENCE,
    sub: 'user-42',
    iat,
    exp: iat + 3600,
    jti: 'jti-1',
    type: 'app',
    identity_nonce: 'nonce-abc',
    ...overrides,
  };
}

/** Signs `payload` with jose (an independent JWS implementation) using a stored key's private JWK. */
export async function joseSign(
  key: SigningKey,
  payload: JWTPayload,
  header: Record<string, unknown> = {},
): Promise<string> {
  const privateKey = await importJWK({ ...key.privateJwk }, 'ES256');
  return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid: key.kid, ...header }).sign(privateKey);
}
