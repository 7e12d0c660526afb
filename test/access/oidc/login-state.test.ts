// The sealed login-state cookie and the same-host return path.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  deriveLoginStateKey,
  LOGIN_STATE_TTL_MS,
  openLoginState,
  sealLoginState,
  validateReturnTo,
} from '../../../src/access/oidc/index.js';

const key = randomBytes(32);
const data = {
  state: 'st-' + 'a'.repeat(40),
  nonce: 'no-' + 'b'.repeat(40),
  codeVerifier: 'cv-' + 'c'.repeat(40),
  returnTo: '/reports/2026?q=a%20b#top',
  idpId: '7c9e6679-7425-40de-944b-e07fc1f90ae7',
};

const invalidState = { code: 'login_state_invalid', status: 400 };

describe('login state', () => {
  test('round trip, 10-minute expiry, compact and opaque', () => {
    const now = 1_800_000_000_000;
    const sealed = sealLoginState(key, data, { now });
    assert.match(sealed, /^v1\.[A-Za-z0-9_-]+$/);
    assert.ok(sealed.length < 600, `${sealed.length} characters`);
    for (const secret of [data.nonce, data.codeVerifier, data.state, 'reports']) {
      assert.equal(sealed.includes(secret), false, 'nothing readable');
    }
    assert.deepEqual(openLoginState(key, sealed, { now: now + 1000 }), {
      ...data,
      expires: now + LOGIN_STATE_TTL_MS,
    });
    assert.notEqual(sealLoginState(key, data, { now }), sealed, 'a fresh IV every time');
  });

  test('expired → login_state_invalid', () => {
    const now = Date.now();
    const sealed = sealLoginState(key, data, { now });
    assert.throws(() => openLoginState(key, sealed, { now: now + LOGIN_STATE_TTL_MS }), invalidState);
    assert.throws(() => openLoginState(key, sealed, { now: now + LOGIN_STATE_TTL_MS + 1 }), /expired/);
    const short = sealLoginState(key, { ...data, expires: now - 1 }, { now });
    assert.throws(() => openLoginState(key, short), invalidState);
    // An explicit expiry cannot exceed 10 minutes.
    const long = sealLoginState(key, { ...data, expires: now + 24 * 3600_000 }, { now });
    assert.equal(openLoginState(key, long, { now }).expires, now + LOGIN_STATE_TTL_MS);
  });

  test('tampered, truncated, re-versioned or garbage → login_state_invalid', () => {
    const sealed = sealLoginState(key, data);
    const body = Buffer.from(sealed.slice(3), 'base64url');
    for (const i of [0, 12, 20, body.length - 1]) {
      const flipped = Buffer.from(body);
      flipped[i] = (flipped[i] ?? 0) ^ 1;
      assert.throws(
        () => openLoginState(key, `v1.${flipped.toString('base64url')}`),
        invalidState,
        `byte ${i}`,
      );
    }
    for (const bad of [
      '',
      'v1.',
      'v1',
      sealed.slice(0, 20),
      sealed.slice(0, -2),
      `v2${sealed.slice(2)}`,
      `${sealed}=`,
      `${sealed}.x`,
      'v1.' + 'A'.repeat(9000),
    ]) {
      assert.throws(() => openLoginState(key, bad), invalidState, bad.slice(0, 30));
    }
    assert.throws(() => openLoginState(key, undefined as unknown as string), invalidState);
  });

  test('another key → login_state_invalid', () => {
    const sealed = sealLoginState(key, data);
    assert.throws(() => openLoginState(randomBytes(32), sealed), invalidState);
  });

  test('keys must be 32 bytes; a derived key differs from its secret and is stable', () => {
    assert.throws(() => sealLoginState(randomBytes(16), data), TypeError);
    assert.throws(() => openLoginState(Buffer.alloc(0), 'v1.x'), TypeError);
    const master = randomBytes(32);
    const derived = deriveLoginStateKey(master);
    assert.equal(derived.length, 32);
    assert.notDeepEqual(derived, master);
    assert.deepEqual(deriveLoginStateKey(master), derived);
    assert.equal(openLoginState(derived, sealLoginState(derived, data)).idpId, data.idpId);
  });

  test('sealing refuses an open-redirect returnTo and empty fields', () => {
    assert.throws(() => sealLoginState(key, { ...data, returnTo: '//evil.example' }), {
      code: 'invalid_return_to',
    });
    assert.throws(() => sealLoginState(key, { ...data, state: '' }), TypeError);
  });
});

describe('returnTo: same-host paths only', () => {
  test('paths are accepted unchanged', () => {
    for (const ok of [
      '/',
      '/a',
      '/a/b?c=d&e=%2F%2Fx#frag',
      '/@evil.example',
      '/a//b',
      '/%2F%2Fevil.example',
      '/a?next=https://x.example',
    ]) {
      assert.equal(validateReturnTo(ok), ok);
    }
  });

  test('open redirects are rejected', () => {
    for (const bad of [
      'https://evil.example/',
      'http://evil.example',
      '//evil.example',
      '//evil.example/path',
      '///evil.example',
      '/\\evil.example',
      '\\\\evil.example',
      '\\/evil.example',
      '/a\\b',
      'javascript:alert(1)',
      'data:text/html,x',
      'evil.example',
      '',
      ' /a',
      '/\t/evil.example',
      '/\n/evil.example',
      '/\r\n/evil.example',
      '/a b',
      '/\u0000',
      '/\u2028',
      '/' + 'a'.repeat(2048),
    ]) {
      assert.throws(
        () => validateReturnTo(bad),
        { code: 'invalid_return_to', status: 400 },
        JSON.stringify(bad),
      );
    }
    assert.throws(() => validateReturnTo(undefined), { code: 'invalid_return_to' });
    assert.throws(() => validateReturnTo(['/a']), { code: 'invalid_return_to' });
  });
});
