// Session revocations as the edge holds them: which session tokens a revocation refuses.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { REVOCATION_HORIZON_MS, SessionRevocations } from '../../src/access/sessions.js';
import type { AccessTokenClaims } from '../../src/access/tokens/index.js';
import type { SessionRevocation } from '../../src/store/index.js';

const NOW = Date.parse('2026-12-02T12:00:00.000Z');
const CERT_HEX = createHash('sha256').update('laptop').digest('hex');
const OTHER_HEX = createHash('sha256').update('phone').digest('hex');
const x5t = (hex: string) => Buffer.from(hex, 'hex').toString('base64url');

const row = (over: Partial<SessionRevocation>): SessionRevocation => ({
  id: 'r',
  app_id: null,
  principal: null,
  device_id: null,
  registration_id: null,
  certificates: null,
  revoked_at: new Date(NOW).toISOString(),
  ...over,
});

const claims = (over: Partial<AccessTokenClaims> = {}): AccessTokenClaims => ({
  iss: 'https://gh.test',
  aud: 'aud-a',
  sub: 'subject-1',
  iat: NOW / 1000 - 60,
  exp: NOW / 1000 + 3600,
  jti: 'j',
  type: 'app',
  identity_nonce: 'n',
  sid: 's',
  ...over,
});

test('an application revocation refuses that application only, and sessions up to its second', () => {
  const r = new SessionRevocations(
    [row({ app_id: 'app-a', revoked_at: new Date(NOW + 400).toISOString() })],
    NOW,
  );
  assert.equal(r.revoked('app-a', claims()), true);
  assert.equal(r.revoked('app-b', claims()), false);
  // Issued in the same second as the revocation (iat is floored): refused, fail closed.
  assert.equal(r.revoked('app-a', claims({ iat: NOW / 1000 })), true);
  assert.equal(r.revoked('app-a', claims({ iat: NOW / 1000 + 1 })), false, 'a later session is not affected');
});

test('a user revocation matches the e-mail (any case) or the subject, everywhere unless an app is named', () => {
  const r = new SessionRevocations([row({ principal: 'Alice@Example.com' })], NOW);
  assert.equal(r.revoked('app-a', claims({ email: 'alice@example.COM' })), true);
  assert.equal(r.revoked('app-b', claims({ email: 'alice@example.com' })), true);
  assert.equal(r.revoked('app-a', claims({ email: 'bob@example.com' })), false);
  const bySub = new SessionRevocations([row({ principal: 'subject-1', app_id: 'app-a' })], NOW);
  assert.equal(bySub.revoked('app-a', claims()), true);
  assert.equal(bySub.revoked('app-b', claims()), false, 'selectors combine: only at app-a');
});

test('a device revocation matches sessions bound to its certificates only', () => {
  const r = new SessionRevocations([row({ certificates: [CERT_HEX], device_id: 'd' })], NOW);
  assert.equal(r.revoked('app-a', claims({ cnf: { 'x5t#S256': x5t(CERT_HEX) } })), true);
  assert.equal(r.revoked('app-a', claims({ cnf: { 'x5t#S256': x5t(OTHER_HEX) } })), false);
  assert.equal(r.revoked('app-a', claims()), false, 'an unbound session is bound to no device');
  const none = new SessionRevocations([row({ certificates: [], device_id: 'd' })], NOW);
  assert.equal(none.revoked('app-a', claims({ cnf: { 'x5t#S256': x5t(CERT_HEX) } })), false);
  const mixed = new SessionRevocations([row({ certificates: [CERT_HEX], principal: 'someone-else' })], NOW);
  assert.equal(
    mixed.revoked('app-a', claims({ cnf: { 'x5t#S256': x5t(CERT_HEX) } })),
    false,
    'every selector must match',
  );
});

test('revocations past the horizon are dropped: no unexpired session can be that old', () => {
  const old = new Date(NOW - REVOCATION_HORIZON_MS - 1000).toISOString();
  const r = new SessionRevocations(
    [row({ app_id: 'app-a', revoked_at: old }), row({ app_id: 'app-b' })],
    NOW,
  );
  assert.equal(r.size, 1);
  assert.equal(r.revoked('app-b', claims()), true);
});
