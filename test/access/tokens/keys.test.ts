import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, test } from 'node:test';
import { calculateJwkThumbprint, createLocalJWKSet, jwtVerify } from 'jose';
import {
  activeSigningKey,
  DEFAULT_CLOCK_TOLERANCE_MS,
  generateSigningKey,
  jwks,
  KeySet,
  pruneSigningKeys,
  rotateSigningKeys,
  signAccessToken,
  type SigningKey,
  verifyAccessToken,
  verifyingKeys,
} from '../../../src/access/tokens/index.js';
import {
  at,
  AUDIENCE,
  claims,
  decodePart,
  gatehouseError,
  HOUR,
  ISSUER,
  MINUTE,
  oneKey,
  T0,
  tokenRefusal,
} from './fixtures.js';

describe('generateSigningKey', () => {
  test('a P-256 key whose kid is its RFC 7638 thumbprint', async () => {
    const key = generateSigningKey(T0);
    assert.equal(key.algorithm, 'ES256');
    assert.equal(key.createdAt.getTime(), T0.getTime());
    assert.equal(key.retireAfter, null);
    assert.deepEqual(Object.keys(key.publicJwk).sort(), ['crv', 'kty', 'x', 'y']);
    assert.equal(key.publicJwk.kty, 'EC');
    assert.equal(key.publicJwk.crv, 'P-256');
    assert.equal(key.privateJwk.x, key.publicJwk.x);
    assert.match(key.privateJwk.d, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(key.kid, await calculateJwkThumbprint(key.publicJwk, 'sha256'));
    assert.notEqual(generateSigningKey(T0).kid, key.kid);
  });
});

describe('KeySet.from', () => {
  test('imports the keys; the newest non-retiring key signs', () => {
    const old = generateSigningKey(T0);
    const newer = generateSigningKey(at(T0, 1000));
    assert.equal(KeySet.from([old, newer]).activeKid, newer.kid);
    assert.equal(KeySet.from([newer, old]).activeKid, newer.kid);
    assert.equal(KeySet.from([{ ...newer, retireAfter: at(T0, HOUR) }, old]).activeKid, old.kid);
  });

  test('refuses corrupt stored keys with signing_key_invalid (500)', () => {
    const key = generateSigningKey(T0);
    const other = generateSigningKey(T0);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' });
    const bad: SigningKey[] = [
      { ...key, kid: other.kid },
      { ...key, privateJwk: { ...key.privateJwk, d: other.privateJwk.d } }, // d of another key
      { ...key, publicJwk: other.publicJwk, kid: other.kid },
      { ...key, algorithm: 'RS256' as 'ES256' },
      { ...key, publicJwk: { ...key.publicJwk, crv: 'P-384' as 'P-256' } },
      { ...key, privateJwk: { ...key.privateJwk, d: '' } },
      { ...key, publicJwk: rsa as unknown as SigningKey['publicJwk'] },
    ];
    for (const stored of bad)
      assert.throws(() => KeySet.from([stored]), gatehouseError('signing_key_invalid', 500));
  });

  test('a key set without an active key verifies but cannot sign', () => {
    const { key, keySet } = oneKey();
    const token = signAccessToken(keySet, claims(), { lifetimeMs: HOUR, now: T0 });
    const retiring = KeySet.from([{ ...key, retireAfter: at(T0, 2 * HOUR) }]);
    assert.equal(retiring.activeKid, undefined);
    assert.throws(
      () => signAccessToken(retiring, claims(), { lifetimeMs: HOUR, now: T0 }),
      gatehouseError('signing_key_missing', 500),
    );
    const verified = verifyAccessToken(token, {
      keys: retiring,
      issuer: ISSUER,
      audience: AUDIENCE,
      now: at(T0, MINUTE),
      requireCertificateBinding: false,
    });
    assert.equal(verified.sub, 'user-42');
    assert.throws(() => KeySet.from([]).signingMaterial(), gatehouseError('signing_key_missing', 500));
  });
});

describe('jwks', () => {
  test('public members only, with kid, alg and use; retired keys left out', () => {
    const { keys } = rotateSigningKeys([generateSigningKey(T0)], at(T0, HOUR), HOUR, 0);
    const [active, previous] = keys as [SigningKey, SigningKey];
    const doc = jwks(keys, at(T0, HOUR));
    assert.deepEqual(doc, {
      keys: [
        { ...active.publicJwk, kid: active.kid, alg: 'ES256', use: 'sig' },
        { ...previous.publicJwk, kid: previous.kid, alg: 'ES256', use: 'sig' },
      ],
    });
    assert.ok(!JSON.stringify(doc).includes('"d"'));
    // a stray private member in the stored public JWK does not leak either
    const leaky = { ...active, publicJwk: { ...active.publicJwk, d: active.privateJwk.d } };
    assert.ok(!JSON.stringify(jwks([leaky], T0)).includes(active.privateJwk.d));
    assert.deepEqual(
      jwks(keys, at(T0, 2 * HOUR)).keys.map((k) => k.kid),
      [active.kid],
    );
  });

  test('an origin verifies with plain jose against the published JWKS', async () => {
    const { keys, keySet } = oneKey();
    const token = signAccessToken(keySet, claims({ cnf: { 'x5t#S256': 'A'.repeat(43) } }), {
      lifetimeMs: HOUR,
      now: T0,
    });
    const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(jwks(keys, T0)), {
      issuer: ISSUER,
      audience: AUDIENCE,
      algorithms: ['ES256'],
      currentDate: at(T0, MINUTE),
    });
    assert.deepEqual(protectedHeader, { alg: 'ES256', kid: keys[0]!.kid, typ: 'JWT' });
    assert.equal(payload.sub, 'user-42');
    assert.deepEqual(payload.cnf, { 'x5t#S256': 'A'.repeat(43) });
    await assert.rejects(
      jwtVerify(token, createLocalJWKSet(jwks(keys, T0)), { audience: 'another-app', currentDate: T0 }),
      { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED' },
    );
  });
});

describe('rotation', () => {
  const verifyAt = (token: string, keys: SigningKey[], now: Date) =>
    verifyAccessToken(token, {
      keys: KeySet.from(keys),
      issuer: ISSUER,
      audience: AUDIENCE,
      now,
      requireCertificateBinding: false,
    });

  test('the first rotation creates the first key', () => {
    const { keys, active, removed } = rotateSigningKeys([], T0, HOUR);
    assert.deepEqual(keys, [active]);
    assert.deepEqual(removed, []);
    assert.equal(activeSigningKey(keys), active);
  });

  test('the previous key keeps verifying until its retire time, then not', () => {
    const first = rotateSigningKeys([], T0, HOUR).active;
    // Lifetime longer than the rotation's max lifetime, so that retirement (not exp) is what is tested.
    const oldToken = signAccessToken(KeySet.from([first]), claims(), { lifetimeMs: 24 * HOUR, now: T0 });

    const rotatedAt = at(T0, 10 * MINUTE);
    const rotation = rotateSigningKeys([first], rotatedAt, HOUR);
    const retireAfter = at(rotatedAt, HOUR + DEFAULT_CLOCK_TOLERANCE_MS);
    assert.equal(rotation.keys.length, 2);
    assert.equal(rotation.keys[0], rotation.active);
    assert.equal(rotation.keys[1]!.kid, first.kid);
    assert.equal(rotation.keys[1]!.retireAfter?.getTime(), retireAfter.getTime());
    assert.equal(first.retireAfter, null, 'the input is not mutated');

    const keySet = KeySet.from(rotation.keys);
    const newToken = signAccessToken(keySet, claims(), { lifetimeMs: HOUR, now: rotatedAt });
    assert.equal(decodePart(newToken, 0).kid, rotation.active.kid);
    assert.equal(decodePart(oldToken, 0).kid, first.kid);

    assert.equal(verifyAt(oldToken, rotation.keys, at(retireAfter, -1)).sub, 'user-42');
    assert.throws(() => verifyAt(oldToken, rotation.keys, retireAfter), tokenRefusal('token_unknown_key'));
    assert.deepEqual(verifyingKeys(rotation.keys, retireAfter), [rotation.active]);

    // A second rotation keeps an already-retiring key's date and drops retired ones.
    const again = rotateSigningKeys(rotation.keys, at(rotatedAt, 5 * MINUTE), 2 * HOUR);
    assert.equal(again.keys.length, 3);
    assert.equal(again.keys.find((k) => k.kid === first.kid)?.retireAfter?.getTime(), retireAfter.getTime());
    const later = rotateSigningKeys(again.keys, at(retireAfter, 1), HOUR);
    assert.deepEqual(
      later.removed.map((k) => k.kid),
      [first.kid],
    );
    assert.equal(later.keys.length, 3);
    assert.ok(!later.keys.some((k) => k.kid === first.kid));
  });

  test('pruneSigningKeys drops retired keys only', () => {
    const { keys } = rotateSigningKeys([generateSigningKey(T0)], T0, HOUR, 0);
    assert.equal(pruneSigningKeys(keys, at(T0, HOUR - 1)).keys.length, 2);
    const pruned = pruneSigningKeys(keys, at(T0, HOUR));
    assert.deepEqual(pruned.keys, [keys[0]]);
    assert.deepEqual(pruned.removed, [keys[1]]);
  });

  test('refuses nonsense lifetimes', () => {
    assert.throws(() => rotateSigningKeys([], T0, -1), RangeError);
    assert.throws(() => rotateSigningKeys([], T0, Number.NaN), RangeError);
    assert.throws(() => rotateSigningKeys([], T0, HOUR, -5), RangeError);
  });
});
