import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  clearSessionCookie,
  readCookie,
  readCookies,
  SESSION_COOKIE_NAME,
  sessionCookie,
  setCookie,
} from '../../../src/access/tokens/index.js';

const TOKEN = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln';

describe('setCookie (every Gatehouse cookie)', () => {
  test('host-only, HttpOnly, Secure, the given path and SameSite; Max-Age 0 also sets a past Expires', () => {
    assert.equal(
      setCookie('Gatehouse_Device_Csrf', 'abc', { maxAgeSeconds: 600, path: '/device', sameSite: 'Strict' }),
      'Gatehouse_Device_Csrf=abc; Max-Age=600; Path=/device; HttpOnly; Secure; SameSite=Strict',
    );
    assert.equal(
      setCookie('Gatehouse_Login', '', { maxAgeSeconds: 0, path: '/.gatehouse/callback', sameSite: 'Lax' }),
      'Gatehouse_Login=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/.gatehouse/callback; HttpOnly; Secure; SameSite=Lax',
    );
  });

  test('refuses a negative or fractional Max-Age and values that would break the header', () => {
    for (const maxAgeSeconds of [-1, 1.5, Number.NaN]) {
      assert.throws(() => setCookie('n', 'v', { maxAgeSeconds, path: '/', sameSite: 'Lax' }), RangeError);
    }
    for (const bad of ['a;b', 'a b', 'a\r\nSet-Cookie: x=y']) {
      assert.throws(() => setCookie('n', bad, { maxAgeSeconds: 1, path: '/', sameSite: 'Lax' }), TypeError);
    }
  });
});

describe('session cookie', () => {
  test('HttpOnly, Secure, SameSite=Lax, Path=/, host-only (no Domain), Max-Age', () => {
    assert.equal(SESSION_COOKIE_NAME, 'Gatehouse_Authorization');
    assert.equal(
      sessionCookie(TOKEN, { maxAgeSeconds: 86400 }),
      `Gatehouse_Authorization=${TOKEN}; Max-Age=86400; Path=/; HttpOnly; Secure; SameSite=Lax`,
    );
    assert.doesNotMatch(sessionCookie(TOKEN, { maxAgeSeconds: 1 }), /domain=/i);
  });

  test('refuses a zero or fractional lifetime and values that would break the header', () => {
    for (const maxAgeSeconds of [0, -1, 1.5, Number.NaN]) {
      assert.throws(() => sessionCookie(TOKEN, { maxAgeSeconds }), RangeError);
    }
    for (const bad of ['', 'a;b', 'a b', 'a,b', 'a"b', 'a\r\nSet-Cookie: x=y']) {
      assert.throws(() => sessionCookie(bad, { maxAgeSeconds: 60 }), TypeError);
    }
  });

  test('clearSessionCookie expires the same cookie', () => {
    const cleared = clearSessionCookie();
    assert.match(cleared, /^Gatehouse_Authorization=; Max-Age=0; /);
    assert.match(cleared, /Expires=Thu, 01 Jan 1970 00:00:00 GMT/);
    assert.match(cleared, /; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
    assert.doesNotMatch(cleared, /domain=/i);
  });
});

describe('readCookie', () => {
  const name = SESSION_COOKIE_NAME;

  test('finds the cookie among others, with or without whitespace', () => {
    assert.equal(readCookie(`a=1; ${name}=${TOKEN}; b=2`, name), TOKEN);
    assert.equal(readCookie(`a=1;${name}=${TOKEN};b=2`, name), TOKEN);
    assert.equal(readCookie(`  ${name} =  ${TOKEN}  ;b=2`, name), TOKEN);
    assert.equal(readCookie(`a=1;\t${name}=${TOKEN}`, name), TOKEN);
    assert.equal(readCookie(`${name}=${TOKEN}`, name), TOKEN);
  });

  test('quoted values, values containing "=", empty values', () => {
    assert.equal(readCookie(`${name}="${TOKEN}"`, name), TOKEN);
    assert.equal(readCookie('x="a=b=c"', 'x'), 'a=b=c');
    assert.equal(readCookie('x=a=b', 'x'), 'a=b');
    assert.equal(readCookie('x=', 'x'), '');
    assert.equal(readCookie('x="', 'x'), '"');
  });

  test('duplicates → the first; readCookies returns all in order', () => {
    const header = `${name}=first; other=1; ${name}=second`;
    assert.equal(readCookie(header, name), 'first');
    assert.deepEqual(readCookies(header, name), ['first', 'second']);
    assert.deepEqual(readCookies([`${name}=a`, `x=1; ${name}=b`], name), ['a', 'b']);
  });

  test('no match, case-sensitive names, prefixes and junk', () => {
    assert.equal(readCookie(undefined, name), undefined);
    assert.equal(readCookie('', name), undefined);
    assert.equal(readCookie(';;; ;', name), undefined);
    assert.equal(readCookie(`gatehouse_authorization=${TOKEN}`, name), undefined);
    assert.equal(readCookie(`x${name}=${TOKEN}; ${name}x=1`, name), undefined);
    assert.equal(readCookie(`${name}; a=1`, name), undefined);
    assert.equal(readCookie(`junk; ${name}=${TOKEN}`, name), TOKEN);
    assert.deepEqual(readCookies('a=1', name), []);
  });
});
