// The console's server side without a browser: which file answers which path, the overview's
// numbers, and the admin session cookie's checks.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { SignJWT } from 'jose';
import { adminSignInConfig, isAllowedAdmin, verifyAdminSession } from '../../src/access/index.js';
import { edgeRequestsByCertStatus, expiryBuckets } from '../../src/api/overview.js';
import { resolveConsolePath } from '../../src/console/index.js';

describe('console static files', () => {
  const root = '/srv/web';
  test('client-side routes fall back to index.html; files keep their path; assets are immutable', () => {
    assert.equal(resolveConsolePath(root, '/'), 'index');
    assert.equal(resolveConsolePath(root, '/logs/posture'), 'index');
    assert.deepEqual(resolveConsolePath(root, '/assets/index-abc.js'), {
      path: '/srv/web/assets/index-abc.js',
      immutable: true,
    });
    assert.deepEqual(resolveConsolePath(root, '/favicon.ico'), {
      path: '/srv/web/favicon.ico',
      immutable: false,
    });
  });
  test('the API, CRLs, health and metrics are never the console; nothing escapes the root', () => {
    for (const p of [
      '/api/v1/x',
      '/api',
      '/crl/x.crl',
      '/metrics',
      '/healthz',
      '/readyz',
      '/.well-known/jwks.json',
    ])
      assert.equal(resolveConsolePath(root, p), undefined, p);
    for (const p of ['/%2e%2e/secret.txt', '/assets/%2e%2e/%2e%2e/etc/passwd', '/a%00.js', '/%E0%A4%A.js'])
      assert.equal(resolveConsolePath(root, p), undefined, p);
  });
});

describe('overview numbers', () => {
  const now = new Date('2026-01-01T00:00:00Z');
  const at = (days: number) => new Date(now.getTime() + days * 86_400_000).toISOString();
  test('expiry buckets: weekly from now, the last one shorter, outside the window ignored', () => {
    const b = expiryBuckets(now, 90, 7, [at(0), at(6.9), at(7), at(89.9), at(90), at(-1)], [at(20)]);
    assert.equal(b.length, 13);
    assert.equal(b[0]?.client_certificates, 2);
    assert.equal(b[1]?.client_certificates, 1);
    assert.equal(b[2]?.certificate_authorities, 1);
    assert.equal(b[12]?.client_certificates, 1);
    assert.equal(b[12]?.end, at(90));
    assert.equal(
      b.reduce((s, x) => s + x.client_certificates, 0),
      4,
    );
  });
  test('edge requests are summed by certificate status from Prometheus text', () => {
    const text = [
      '# TYPE gatehouse_edge_requests_total counter',
      'gatehouse_edge_requests_total{hostname="a",mode="enforce",cert_status="valid",code="200"} 3',
      'gatehouse_edge_requests_total{cert_status="valid",hostname="b",mode="report",code="200"} 2',
      'gatehouse_edge_requests_total{hostname="a",mode="enforce",cert_status="none",code="403"} 1',
      'gatehouse_edge_requests_totally{cert_status="x"} 9',
      'gatehouse_http_requests_total{route="/",cert_status="valid"} 100',
    ].join('\n');
    assert.deepEqual(edgeRequestsByCertStatus(text), [
      { cert_status: 'none', count: 1 },
      { cert_status: 'valid', count: 5 },
    ]);
  });
});

describe('admin sign-in allow-list and sessions', () => {
  const config = adminSignInConfig({
    identityProviderId: 'idp-1',
    emails: ['Alice@Example.com, root@example.com'],
    groups: ['admins'],
  });
  assert.ok(config);
  test('e-mails compare case-insensitively, groups exactly; an IdP without a list is refused', () => {
    assert.ok(isAllowedAdmin(config, { email: 'alice@example.COM', groups: [] }));
    assert.ok(isAllowedAdmin(config, { email: 'root@example.com', groups: [] }));
    assert.ok(isAllowedAdmin(config, { email: 'x@example.com', groups: ['admins'] }));
    assert.ok(!isAllowedAdmin(config, { email: 'x@example.com', groups: ['Admins'] }));
    assert.equal(adminSignInConfig({}), undefined);
    assert.throws(() => adminSignInConfig({ identityProviderId: 'idp-1' }), /admin-email/);
  });

  const key = randomBytes(32);
  const now = new Date('2026-01-01T12:00:00Z');
  const session = (
    claims: Record<string, unknown>,
    opts: { key?: Buffer; exp?: number; typ?: string } = {},
  ) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', typ: opts.typ ?? 'gatehouse-admin+jwt' })
      .setSubject(String(claims.sub ?? 'alice@example.com'))
      .setIssuedAt(Math.floor(now.getTime() / 1000))
      .setExpirationTime(opts.exp ?? Math.floor(now.getTime() / 1000) + 3600)
      .sign(opts.key ?? key);
  const verify = (cookie: string, cfg = config) =>
    verifyAdminSession({
      config: cfg,
      cookieHeader: `other=1; Gatehouse_Admin=${cookie}`,
      sessionKey: key,
      now,
    });

  test('a valid session names the admin; every other cookie is no session', async () => {
    assert.deepEqual(await verify(await session({ idp: 'idp-1', groups: [] })), {
      email: 'alice@example.com',
      groups: [],
    });
    assert.equal(
      await verify(await session({ idp: 'idp-1' }, { key: randomBytes(32) })),
      undefined,
      'other key',
    );
    assert.equal(await verify(await session({ idp: 'idp-2' })), undefined, 'other IdP');
    assert.equal(await verify(await session({ idp: 'idp-1' }, { exp: 1 })), undefined, 'expired');
    assert.equal(
      await verify(await session({ idp: 'idp-1' }, { typ: 'JWT' })),
      undefined,
      'another kind of JWT',
    );
    assert.equal(await verify(await session({ idp: 'idp-1', sub: 'mallory@example.com' })), undefined);
    assert.equal(await verify('not-a-jwt'), undefined);
    // Taken off the list (and the server restarted): the same cookie stops working.
    const cookie = await session({ idp: 'idp-1', groups: ['admins'], sub: 'x@example.com' });
    assert.ok(await verify(cookie));
    const narrower = adminSignInConfig({ identityProviderId: 'idp-1', emails: ['alice@example.com'] });
    assert.equal(await verify(cookie, narrower), undefined);
    assert.equal(
      await verifyAdminSession({
        config: undefined,
        cookieHeader: `Gatehouse_Admin=${cookie}`,
        sessionKey: key,
        now,
      }),
      undefined,
      'no OIDC sign-in configured: no cookie session',
    );
  });
});
