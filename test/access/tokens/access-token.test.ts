import assert from 'node:assert/strict';
import { createHmac, createPublicKey, sign, X509Certificate } from 'node:crypto';
import { before, describe, test } from 'node:test';
import { createLocalJWKSet, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import {
  ASSERTION_HEADER,
  generateSigningKey,
  isX5tS256,
  jwks,
  type KeySet,
  MAX_TOKEN_LENGTH,
  signAccessToken,
  SINGLE_REQUEST_TOKEN_LIFETIME_MS,
  type SigningKey,
  verifyAccessToken,
  type VerifyAccessTokenOptions,
  x5tS256,
} from '../../../src/access/tokens/index.js';
import {
  at,
  AUDIENCE,
  b64,
  certificate,
  claims,
  decodePart,
  HOUR,
  ISSUER,
  joseSign,
  MINUTE,
  oneKey,
  payloadAt,
  SECOND,
  T0,
  tokenRefusal,
} from './fixtures.js';

describe('access tokens', () => {
  let key: SigningKey;
  let keys: SigningKey[];
  let keySet: KeySet;
  let deviceA: { der: Buffer; thumbprint: string };
  let deviceB: { der: Buffer; thumbprint: string };

  before(async () => {
    ({ key, keys, keySet } = oneKey());
    deviceA = await certificate('device-a');
    deviceB = await certificate('device-b');
  });

  const options = (overrides: Partial<VerifyAccessTokenOptions> = {}): VerifyAccessTokenOptions => ({
    keys: keySet,
    issuer: ISSUER,
    audience: AUDIENCE,
    now: at(T0, MINUTE),
    requireCertificateBinding: false,
    ...overrides,
  });
  const signed = (overrides = {}, lifetimeMs = HOUR, now = T0) =>
    signAccessToken(keySet, claims(overrides), { lifetimeMs, now });
  const refused = (token: string, code: string, overrides: Partial<VerifyAccessTokenOptions> = {}) =>
    assert.throws(() => verifyAccessToken(token, options(overrides)), tokenRefusal(code));

  describe('signing', () => {
    test('ES256 compact JWS with kid and the documented claims', () => {
      const token = signed({ common_name: 'device-a', cnf: { 'x5t#S256': deviceA.thumbprint } });
      assert.deepEqual(decodePart(token, 0), { alg: 'ES256', kid: key.kid, typ: 'JWT' });
      const payload = decodePart(token, 1);
      const iat = Math.floor(T0.getTime() / 1000);
      assert.deepEqual(
        { ...payload, jti: undefined },
        {
          iss: ISSUER,
          aud: AUDIENCE,
          sub: 'user-42',
          iat,
          exp: iat + 3600,
          jti: undefined,
          type: 'app',
          identity_nonce: 'nonce-abc',
          email: 'ada@example.com',
          common_name: 'device-a',
          cnf: { 'x5t#S256': deviceA.thumbprint },
        },
      );
      assert.match(String(payload.jti), /^[0-9a-f-]{36}$/);
      assert.equal(ASSERTION_HEADER, 'Gatehouse-Jwt-Assertion');
    });

    test('optional claims are omitted when not given', () => {
      const payload = decodePart(signed({ email: undefined }), 1);
      assert.ok(!('email' in payload) && !('common_name' in payload) && !('cnf' in payload));
    });

    test('"0s" sessions: a short-lived token with a unique jti per request', () => {
      const now = at(T0, 123);
      const first = signed({}, SINGLE_REQUEST_TOKEN_LIFETIME_MS, now);
      const second = signed({}, SINGLE_REQUEST_TOKEN_LIFETIME_MS, now);
      const [a, b] = [decodePart(first, 1), decodePart(second, 1)];
      assert.equal(Number(a.exp) - Number(a.iat), 60);
      assert.notEqual(a.jti, b.jti);
      assert.notEqual(first, second);
      assert.equal(verifyAccessToken(first, options({ now })).jti, a.jti);
    });

    test('refuses caller bugs', () => {
      const opts = { lifetimeMs: HOUR, now: T0 };
      assert.throws(() => signAccessToken(keySet, claims(), { lifetimeMs: 999, now: T0 }), RangeError);
      assert.throws(
        () => signAccessToken(keySet, claims(), { lifetimeMs: HOUR, now: new Date('x') }),
        RangeError,
      );
      assert.throws(() => signAccessToken(keySet, claims({ aud: '' }), opts), TypeError);
      assert.throws(() => signAccessToken(keySet, claims({ iss: '' }), opts), TypeError);
      assert.throws(() => signAccessToken(keySet, claims({ cnf: { 'x5t#S256': 'ab:cd' } }), opts), TypeError);
    });
  });

  describe('interoperability', () => {
    test('a token we sign verifies with plain jose against the JWKS (what an origin does)', async () => {
      const token = signed({ cnf: { 'x5t#S256': deviceA.thumbprint } });
      const { payload } = await jwtVerify(token, createLocalJWKSet(jwks(keys, T0)), {
        issuer: ISSUER,
        audience: AUDIENCE,
        algorithms: ['ES256'],
        currentDate: at(T0, MINUTE),
      });
      assert.equal(payload.identity_nonce, 'nonce-abc');
    });

    test('a token jose signs with our key verifies with verifyAccessToken', async () => {
      const token = await joseSign(key, payloadAt(T0, { email: 'ada@example.com' }));
      const verified = verifyAccessToken(token, options());
      assert.equal(verified.email, 'ada@example.com');
      assert.equal(verified.jti, 'jti-1');
    });

    test('x5tS256 is the base64url SHA-256 of the DER', () => {
      const fingerprint = new X509Certificate(deviceA.der).fingerprint256.replaceAll(':', '');
      assert.equal(deviceA.thumbprint, Buffer.from(fingerprint, 'hex').toString('base64url'));
      assert.ok(isX5tS256(x5tS256(deviceB.der)));
      assert.notEqual(deviceA.thumbprint, deviceB.thumbprint);
    });
  });

  describe('forgeries and algorithm confusion', () => {
    test('signed by another EC key under our kid → token_signature', async () => {
      const impostor = generateSigningKey(T0);
      const token = await joseSign({ ...impostor, kid: key.kid }, payloadAt(T0));
      assert.equal(decodePart(token, 0).kid, key.kid);
      refused(token, 'token_signature');
    });

    test('alg none → token_algorithm, with or without a signature part', () => {
      const payload = b64(payloadAt(T0));
      for (const alg of ['none', 'None', 'NONE']) {
        const header = b64({ alg, kid: key.kid, typ: 'JWT' });
        refused(`${header}.${payload}.`, 'token_algorithm');
        refused(`${header}.${payload}.AAAA`, 'token_algorithm');
      }
      refused(`${b64({ kid: key.kid })}.${payload}.`, 'token_algorithm');
    });

    test('HS256 keyed with our public key (the classic confusion attack) → token_algorithm', async () => {
      const publicPem = createPublicKey({ key: { ...key.publicJwk }, format: 'jwk' }).export({
        type: 'spki',
        format: 'pem',
      });
      const secrets = [Buffer.from(publicPem), Buffer.from(JSON.stringify(jwks(keys, T0).keys[0]))];
      for (const alg of ['HS256', 'HS384', 'HS512'] as const) {
        for (const secret of secrets) {
          const token = await new SignJWT(payloadAt(T0))
            .setProtectedHeader({ alg, kid: key.kid })
            .sign(new Uint8Array(secret));
          refused(token, 'token_algorithm');
        }
      }
      // hand-built as well, independent of jose
      const input = `${b64({ alg: 'HS256', kid: key.kid })}.${b64(payloadAt(T0))}`;
      const mac = createHmac('sha256', publicPem).update(input).digest('base64url');
      refused(`${input}.${mac}`, 'token_algorithm');
    });

    test('RS256, PS256, ES384, ES512, EdDSA and a lowercase es256 → token_algorithm', async () => {
      const { privateKey } = await generateKeyPair('RS256');
      refused(
        await new SignJWT(payloadAt(T0)).setProtectedHeader({ alg: 'RS256', kid: key.kid }).sign(privateKey),
        'token_algorithm',
      );
      const payload = b64(payloadAt(T0));
      const fakeSig = Buffer.alloc(64, 1).toString('base64url');
      for (const alg of ['PS256', 'ES384', 'ES512', 'EdDSA', 'es256', 'ES256 ', ['ES256'], 256]) {
        refused(`${b64({ alg, kid: key.kid })}.${payload}.${fakeSig}`, 'token_algorithm');
      }
    });

    test('tampered payload or header → token_signature', () => {
      const token = signed();
      const [h, p, s] = token.split('.') as [string, string, string];
      const forged = b64({ ...decodePart(token, 1), sub: 'admin' });
      refused(`${h}.${forged}.${s}`, 'token_signature');
      // one character of the payload changed
      const i = h.length + 1 + 20;
      const flipped = token.slice(0, i) + (token[i] === 'A' ? 'B' : 'A') + token.slice(i + 1);
      refused(flipped, 'token_signature');
      // an extra header member pointing at an attacker's keys is not honoured
      refused(
        `${b64({ ...decodePart(token, 0), jku: 'https://evil.example/jwks' })}.${p}.${s}`,
        'token_signature',
      );
    });

    test('signature tricks → token_signature', () => {
      const token = signed();
      const [h, p, s] = token.split('.') as [string, string, string];
      const raw = Buffer.from(s, 'base64url');
      refused(`${h}.${p}.`, 'token_signature');
      refused(`${h}.${p}.${raw.subarray(0, 63).toString('base64url')}`, 'token_signature');
      // the same signature DER-encoded instead of r||s
      const der = sign('sha256', Buffer.from(`${h}.${p}`), {
        key: keySet.signingMaterial().key,
        dsaEncoding: 'der',
      });
      refused(`${h}.${p}.${der.toString('base64url')}`, 'token_signature');
      // r = s = 0 ("psychic signature")
      refused(`${h}.${p}.${Buffer.alloc(64).toString('base64url')}`, 'token_signature');
      // non-canonical spellings of the right signature: stray padding bits, padding, junk
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      const sibling = alphabet[alphabet.indexOf(s.at(-1) ?? '') ^ 1] ?? '';
      const spellings = [
        `${s.slice(0, -1)}${sibling}`,
        `${s}==`,
        `${s.slice(0, 10)}.${s.slice(10)}`,
        `${s} `,
      ];
      for (const spelling of spellings.slice(0, 2)) assert.ok(Buffer.from(spelling, 'base64url').equals(raw));
      for (const spelling of spellings) {
        const t = `${h}.${p}.${spelling}`;
        assert.throws(
          () => verifyAccessToken(t, options()),
          tokenRefusal(t.split('.').length === 3 ? 'token_signature' : 'token_malformed'),
        );
      }
    });

    test('unknown or missing kid → token_unknown_key', async () => {
      const stranger = oneKey();
      refused(signAccessToken(stranger.keySet, claims(), { lifetimeMs: HOUR, now: T0 }), 'token_unknown_key');
      const { kid: _kid, ...noKid } = decodePart(signed(), 0);
      const [, p, s] = signed().split('.') as [string, string, string];
      refused(`${b64(noKid)}.${p}.${s}`, 'token_unknown_key');
      refused(await joseSign(key, payloadAt(T0), { kid: 42 }), 'token_unknown_key');
    });

    test('malformed input → token_malformed', () => {
      const token = signed();
      const [h, p, s] = token.split('.') as [string, string, string];
      for (const bad of [
        '',
        'abc',
        `${h}.${p}`,
        `${h}.${p}.${s}.x`,
        `${h}.${p}.${s}.x.y`, // JWE-shaped
        `${h}=.${p}.${s}`,
        `${h}.${p}!.${s}`,
        ` ${token}`,
        `${b64([1, 2])}.${p}.${s}`,
        `${Buffer.from('{"alg":').toString('base64url')}.${p}.${s}`,
        `${token}${'A'.repeat(MAX_TOKEN_LENGTH)}`,
      ]) {
        refused(bad, 'token_malformed');
      }
      // crit extensions (e.g. RFC 7797 unencoded payloads) are not understood: refused, even when
      // the signature is valid
      const critHeader = b64({ alg: 'ES256', kid: key.kid, crit: ['b64'], b64: false });
      const critSig = sign('sha256', Buffer.from(`${critHeader}.${p}`), {
        key: keySet.signingMaterial().key,
        dsaEncoding: 'ieee-p1363',
      });
      refused(`${critHeader}.${p}.${critSig.toString('base64url')}`, 'token_malformed');
    });

    test('validly signed but malformed claims → token_malformed', async () => {
      const bad = [
        { type: undefined },
        { type: 'org' },
        { iss: 42 },
        { sub: undefined },
        { jti: undefined },
        { identity_nonce: undefined },
        { exp: '2030' },
        { iat: undefined },
        { aud: undefined },
        { aud: [AUDIENCE, 1] },
        { email: 7 },
        { common_name: ['x'] },
        { cnf: 'x' },
        { cnf: { 'x5t#S256': 5 } },
      ];
      for (const overrides of bad) {
        refused(await joseSign(key, payloadAt(T0, overrides as Record<string, unknown>)), 'token_malformed');
      }
      refused(await joseSign(key, payloadAt(T0, { cnf: { jkt: 'abc' } })), 'token_binding');
    });
  });

  describe('claims', () => {
    test('another app’s aud → token_audience; an aud array containing ours is accepted', async () => {
      refused(signed({ aud: 'aud-other' }), 'token_audience');
      refused(signed(), 'token_audience', { audience: 'aud-other' });
      refused(await joseSign(key, payloadAt(T0, { aud: ['a', 'b'] })), 'token_audience');
      assert.deepEqual(
        verifyAccessToken(await joseSign(key, payloadAt(T0, { aud: ['a', AUDIENCE] })), options()).aud,
        ['a', AUDIENCE],
      );
    });

    test('another issuer → token_issuer', () => {
      refused(signed({ iss: 'https://evil.example.com' }), 'token_issuer');
      refused(signed(), 'token_issuer', { issuer: 'https://other.example.com' });
    });

    test('exp with 60 s of clock tolerance → token_expired', () => {
      const token = signed({}, HOUR);
      const exp = at(T0, HOUR);
      assert.ok(verifyAccessToken(token, options({ now: at(exp, -1) })));
      assert.ok(verifyAccessToken(token, options({ now: at(exp, 60 * SECOND - 1) })));
      refused(token, 'token_expired', { now: at(exp, 60 * SECOND) });
      refused(token, 'token_expired', { now: at(exp, 30 * SECOND), clockToleranceMs: 0 });
      refused(token, 'token_expired', { now: at(T0, 365 * 24 * HOUR) });
      assert.throws(() => verifyAccessToken(token, options({ now: new Date(Number.NaN) })), RangeError);
      assert.throws(() => verifyAccessToken(token, options({ clockToleranceMs: -1 })), RangeError);
    });

    test('iat or nbf in the future beyond the tolerance → token_not_yet_valid', async () => {
      const token = signed({}, HOUR, T0);
      assert.ok(verifyAccessToken(token, options({ now: at(T0, -60 * SECOND) })));
      refused(token, 'token_not_yet_valid', { now: at(T0, -60 * SECOND - 1) });
      refused(token, 'token_not_yet_valid', { now: at(T0, -1), clockToleranceMs: 0 });

      const nbf = Math.floor(T0.getTime() / 1000) + 600;
      const withNbf = await joseSign(key, payloadAt(T0, { nbf }));
      assert.equal(verifyAccessToken(withNbf, options({ now: at(T0, 540 * SECOND) })).nbf, nbf);
      refused(withNbf, 'token_not_yet_valid', { now: at(T0, 540 * SECOND - 1) });
    });
  });

  describe('certificate binding (RFC 8705)', () => {
    const bound = () => signed({ cnf: { 'x5t#S256': deviceA.thumbprint } });

    test('same certificate → accepted, required or not', () => {
      for (const requireCertificateBinding of [true, false]) {
        const verified = verifyAccessToken(
          bound(),
          options({ certificateSha256: x5tS256(deviceA.der), requireCertificateBinding }),
        );
        assert.deepEqual(verified.cnf, { 'x5t#S256': deviceA.thumbprint });
      }
    });

    test('another certificate → token_binding, required or not', () => {
      for (const requireCertificateBinding of [true, false]) {
        refused(bound(), 'token_binding', {
          certificateSha256: deviceB.thumbprint,
          requireCertificateBinding,
        });
      }
    });

    test('no certificate on the connection → token_binding (a bound token is never accepted without it)', () => {
      for (const certificateSha256 of [null, undefined, '']) {
        refused(bound(), 'token_binding', { certificateSha256, requireCertificateBinding: true });
        refused(bound(), 'token_binding', { certificateSha256, requireCertificateBinding: false });
      }
    });

    test('an unbound token → token_binding when binding is required', () => {
      refused(signed(), 'token_binding', {
        certificateSha256: deviceA.thumbprint,
        requireCertificateBinding: true,
      });
      refused(signed(), 'token_binding', { certificateSha256: null, requireCertificateBinding: true });
    });

    test('an unbound token is accepted when binding is not required, with or without a certificate', () => {
      for (const certificateSha256 of [null, deviceA.thumbprint]) {
        const verified = verifyAccessToken(signed(), options({ certificateSha256 }));
        assert.equal(verified.cnf, undefined);
      }
    });
  });
});

test('signing is a fast path: no key import per token', () => {
  const { keySet } = oneKey();
  const started = performance.now();
  for (let i = 0; i < 2000; i += 1) {
    signAccessToken(keySet, claims(), { lifetimeMs: SINGLE_REQUEST_TOKEN_LIFETIME_MS, now: T0 });
  }
  const perToken = (performance.now() - started) / 2000;
  // ~30 µs on a laptop; the bound only catches pathological regressions (a JWK import per call).
  assert.ok(perToken < 2, `${perToken.toFixed(3)} ms per token`);
});
