// Identity registration (RFC 8628 style device login), in-process (fastify inject) with a clock
// the test moves, a real SQLite store and a real local OpenID provider: codes, polling
// (authorization_pending, slow_down, expired_token, access_denied, single use), the verification
// pages (CSRF, framing), and an approval through the IdP that yields the registration with the
// user's identity recorded. The agent's side runs end to end in test/agent/cli/identity.test.ts.
import assert from 'node:assert/strict';
import { createHash, createPrivateKey, createPublicKey, randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildApi } from '../../src/api/index.js';
import { Authority, initializeOrganization } from '../../src/authority/index.js';
import {
  DEVICE_LOGIN_STARTS_PER_MINUTE,
  DEVICE_LOGIN_TTL_S,
  type DeviceAuthorization,
  USER_CODE_MISSES_PER_WINDOW,
} from '../../src/devices/index.js';
import { createMetrics } from '../../src/observability/index.js';
import { Store } from '../../src/store/index.js';
import {
  Browser,
  defaultSubject,
  startOidcProvider,
  type TestOidcProvider,
} from '../helpers/oidc-provider.js';
import { makeCsr } from '../helpers/openssl.js';

type App = Awaited<ReturnType<typeof buildApi>>;
const HOST = 'gatehouse.test:7443';
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const USER_CODE = /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/;

describe('identity registration (device login)', () => {
  let app: App;
  let store: Store;
  let adminToken: string;
  let dir: string;
  let op: TestOidcProvider;
  let clock = Date.now();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-device-login-'));
    store = await Store.open({ url: join(dir, 'api.db') });
    const masterKey = randomBytes(32);
    const init = await initializeOrganization({
      store,
      masterKey,
      orgName: 'Login Org',
      algorithm: 'ecdsa-p256',
      sans: [],
      publicUrl: `https://${HOST}`,
    });
    adminToken = init.adminToken;
    const authority = await Authority.load(store, masterKey, () => new Date(clock));
    app = await buildApi({ authority, metrics: createMetrics() });
    op = await startOidcProvider({
      clients: [
        {
          client_id: 'gatehouse',
          client_secret: 'idp-secret',
          redirect_uris: [`https://${HOST}/device/callback`],
        },
      ],
    });
  });
  after(async () => {
    await app?.close();
    await store?.close();
    await op?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const inject = (
    method: 'GET' | 'POST' | 'DELETE',
    url: string,
    opts: {
      json?: unknown;
      form?: Record<string, string>;
      cookie?: string;
      admin?: boolean;
      /** The client's address (default 127.0.0.1). */
      from?: string;
    } = {},
  ) =>
    app.inject({
      method,
      url,
      ...(opts.from ? { remoteAddress: opts.from } : {}),
      headers: {
        host: HOST,
        ...(opts.admin ? { authorization: `Bearer ${adminToken}` } : {}),
        ...(opts.cookie ? { cookie: opts.cookie } : {}),
        ...(opts.form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
      ...(opts.json !== undefined ? { payload: opts.json as object } : {}),
      ...(opts.form ? { payload: new URLSearchParams(opts.form).toString() } : {}),
    });

  const device = { name: 'alice-laptop', serial_number: 'ID-1', hostname: 'alice.local', os: 'linux' };

  async function start(body: Record<string, unknown> = { ...device, key_protection: 'software' }) {
    const r = await inject('POST', '/api/v1/registrations/device_authorization', { json: body });
    assert.equal(r.statusCode, 200, r.body);
    return r.json().result as DeviceAuthorization;
  }
  const poll = (deviceCode: string) =>
    inject('POST', '/api/v1/registrations/device_token', { json: { device_code: deviceCode } });
  const pollCode = async (deviceCode: string) => {
    const r = await poll(deviceCode);
    return { status: r.statusCode, code: r.json().errors[0]?.code as string | undefined, r };
  };
  /** The verification page for a code: its CSRF cookie and form token. */
  async function openPage(userCode: string) {
    const r = await inject('GET', `/device?user_code=${encodeURIComponent(userCode)}`);
    assert.equal(r.statusCode, 200, r.body);
    const setCookie = String(r.headers['set-cookie']);
    const cookie = /^(Gatehouse_Device_Csrf=[^;]+)/.exec(setCookie)?.[1] ?? '';
    const csrf = /name="csrf" value="([^"]+)"/.exec(r.body)?.[1] ?? '';
    return { r, setCookie, cookie, csrf };
  }

  test('without an identity provider there is no identity registration', async () => {
    const r = await inject('POST', '/api/v1/registrations/device_authorization', {
      json: { ...device, key_protection: 'software' },
    });
    assert.equal(r.statusCode, 409);
    assert.equal(r.json().errors[0].code, 'identity_login_unavailable');
    const idp = await inject('POST', '/api/v1/identity_providers', {
      admin: true,
      json: {
        name: 'Test IdP',
        type: 'oidc',
        issuer: op.issuer,
        client_id: 'gatehouse',
        client_secret: 'idp-secret',
        scopes: ['openid', 'email'],
      },
    });
    assert.equal(idp.statusCode, 201, idp.body);
  });

  test('start: codes per RFC 8628, stored hashed; a request that cannot succeed is refused up front', async () => {
    const a = await start();
    assert.match(a.user_code, USER_CODE);
    assert.ok(a.device_code.length >= 43, 'a 256-bit device code');
    assert.equal(a.verification_uri, `https://${HOST}/device`);
    assert.equal(a.verification_uri_complete, `https://${HOST}/device?user_code=${a.user_code}`);
    assert.equal(a.expires_in, 600);
    assert.equal(a.interval, 5);
    const row = await store.deviceLogins.byDeviceCodeHash(sha256(a.device_code));
    assert.ok(row);
    assert.equal(row.user_code_hash, sha256(a.user_code.replace('-', '')));
    const stored = JSON.stringify(row);
    assert.ok(!stored.includes(a.device_code) && !stored.includes(a.user_code.replace('-', '')));
    assert.equal(row.status, 'pending');

    const b = await start();
    assert.notEqual(b.user_code, a.user_code);
    assert.notEqual(b.device_code, a.device_code);

    const refused = await inject('POST', '/api/v1/registrations/device_authorization', {
      json: { ...device, key_protection: 'tpm2' },
    });
    assert.equal(refused.statusCode, 400);
    assert.equal(refused.json().errors[0].code, 'csr_required');
  });

  test('polling: authorization_pending, slow_down (+5 s each time), invalid_grant for unknown codes', async () => {
    const a = await start();
    assert.equal((await pollCode(a.device_code)).code, 'authorization_pending');
    const fast = await pollCode(a.device_code);
    assert.equal(fast.status, 400);
    assert.equal(fast.code, 'slow_down');
    assert.equal((await store.deviceLogins.byDeviceCodeHash(sha256(a.device_code)))?.interval_s, 10);
    clock += 6_000; // less than the new interval
    assert.equal((await pollCode(a.device_code)).code, 'slow_down');
    assert.equal((await store.deviceLogins.byDeviceCodeHash(sha256(a.device_code)))?.interval_s, 15);
    clock += 15_000;
    assert.equal((await pollCode(a.device_code)).code, 'authorization_pending');
    assert.equal((await pollCode('not-a-device-code')).code, 'invalid_grant');
  });

  test('the verification page: the code and the device it names, a Strict CSRF cookie, no framing', async () => {
    const a = await start();
    const entry = await inject('GET', '/device');
    assert.equal(entry.statusCode, 200);
    assert.match(entry.body, /<input name="user_code"/);

    // Typed in lower case with spaces: still the code.
    const typed = a.user_code.toLowerCase().replace('-', ' ');
    const { r, setCookie, cookie, csrf } = await openPage(typed);
    assert.match(r.headers['content-type'] as string, /^text\/html/);
    assert.equal(r.headers['x-frame-options'], 'DENY');
    assert.match(String(r.headers['content-security-policy']), /frame-ancestors 'none'/);
    assert.ok(r.body.includes(a.user_code));
    assert.ok(r.body.includes('alice-laptop') && r.body.includes('alice.local') && r.body.includes('ID-1'));
    assert.match(setCookie, /Path=\/device; .*HttpOnly; Secure; SameSite=Strict/);
    assert.ok(cookie && csrf && cookie.endsWith(csrf));

    const bad = await inject('GET', '/device?user_code=BCDF-GHJ');
    assert.equal(bad.statusCode, 404);
    assert.match(bad.body, /not valid, was already used, or has expired/);
    assert.match(bad.headers['content-type'] as string, /^text\/html/);

    // A form posted without the page's cookie (another site's form) is refused.
    const forged = await inject('POST', '/device/deny', { form: { user_code: a.user_code, csrf } });
    assert.equal(forged.statusCode, 403);
    assert.match(forged.body, /did not come from the page/);
    const wrong = await inject('POST', '/device/approve', {
      form: { user_code: a.user_code, csrf: 'x'.repeat(csrf.length) },
      cookie,
    });
    assert.equal(wrong.statusCode, 403);
    assert.equal((await store.deviceLogins.byDeviceCodeHash(sha256(a.device_code)))?.status, 'pending');
  });

  test('deny: the device gets access_denied once, then its code is gone', async () => {
    const a = await start();
    const { cookie, csrf } = await openPage(a.user_code);
    const denied = await inject('POST', '/device/deny', { form: { user_code: a.user_code, csrf }, cookie });
    assert.equal(denied.statusCode, 200, denied.body);
    assert.match(denied.body, /alice-laptop was not registered/);
    assert.equal((await inject('GET', `/device?user_code=${a.user_code}`)).statusCode, 404);
    clock += 5_000;
    assert.equal((await pollCode(a.device_code)).code, 'access_denied');
    assert.equal((await pollCode(a.device_code)).code, 'invalid_grant');
  });

  test('expiry: after 10 minutes the code is expired_token for the device and unknown to the page', async () => {
    const a = await start();
    clock += 600_000;
    assert.equal((await inject('GET', `/device?user_code=${a.user_code}`)).statusCode, 404);
    assert.equal((await pollCode(a.device_code)).code, 'expired_token');
    assert.equal((await pollCode(a.device_code)).code, 'invalid_grant');
  });

  test('approve: sign in through the IdP; the device receives its hardware-backed registration, once, in the name of the user', async () => {
    const csr = await makeCsr(dir, 'identity-device');
    const a = await start({ ...device, key_protection: 'pkcs11', csr: csr.pem });
    const { cookie, csrf } = await openPage(a.user_code);
    const approve = await inject('POST', '/device/approve', {
      form: { user_code: a.user_code, csrf },
      cookie,
    });
    assert.equal(approve.statusCode, 303, approve.body);
    const authorizationUrl = String(approve.headers.location);
    assert.ok(authorizationUrl.startsWith(op.issuer), authorizationUrl);
    assert.equal(
      new URL(authorizationUrl).searchParams.get('redirect_uri'),
      `https://${HOST}/device/callback`,
    );
    const loginCookie = String(approve.headers['set-cookie']);
    assert.match(
      loginCookie,
      /^Gatehouse_Device_Login=v1\.[^;]+; Max-Age=600; Path=\/device\/callback; HttpOnly; Secure; SameSite=Lax$/,
    );

    // The user signs in at the IdP (a real one, over HTTP), which sends the browser back.
    op.loginAs('alice@example.com');
    const atIdp = await new Browser().navigate(authorizationUrl, {
      stopAt: (u) => u.pathname === '/device/callback',
    });
    assert.ok(atIdp.stopped, `${atIdp.status} ${atIdp.url}`);
    const back = new URL(atIdp.url);
    assert.equal((await pollCode(a.device_code)).code, 'authorization_pending', 'not before the callback');

    // The callback needs the login cookie set with the approval.
    const noCookie = await inject('GET', `${back.pathname}${back.search}`);
    assert.equal(noCookie.statusCode, 400);
    const done = await inject('GET', `${back.pathname}${back.search}`, {
      cookie: /^(Gatehouse_Device_Login=[^;]+)/.exec(loginCookie)?.[1] ?? '',
    });
    assert.equal(done.statusCode, 200, done.body);
    assert.match(done.body, /Signed in as <strong>alice@example\.com<\/strong>/);
    assert.match(String(done.headers['set-cookie']), /^Gatehouse_Device_Login=; .*Max-Age=0/);
    assert.equal((await inject('GET', `/device?user_code=${a.user_code}`)).statusCode, 404, 'used up');

    clock += 15_000;
    const got = await poll(a.device_code);
    assert.equal(got.statusCode, 201, got.body);
    const reg = got.json().result as Record<string, string>;
    assert.equal(reg.mode, 'hardware_backed');
    assert.match(reg.token ?? '', /^ghd_/);
    const cert = new X509Certificate(reg.certificate ?? '');
    const csrKey = createPublicKey(createPrivateKey(readFileSync(csr.keyPath)));
    assert.ok(cert.publicKey.equals(csrKey), "the certificate is for the CSR's key");
    assert.match(cert.subjectAltName ?? '', new RegExp(`urn:gatehouse:registration:${reg.registration_id}`));
    clock += 5_000;
    assert.equal((await pollCode(a.device_code)).code, 'invalid_grant', 'the device code works once');
    assert.equal(await store.deviceLogins.byDeviceCodeHash(sha256(a.device_code)), undefined);

    // The admin sees who registered it.
    const list = await inject('GET', '/api/v1/registrations', { admin: true });
    const view = (list.json().result as Record<string, unknown>[]).find((r) => r.id === reg.registration_id);
    assert.equal(view?.enrolled_by, 'identity:alice@example.com');
    assert.deepEqual(view?.enrolled_identity, {
      issuer: op.issuer,
      subject: defaultSubject('alice@example.com'),
      email: 'alice@example.com',
    });
    const devices = await inject('GET', '/api/v1/devices', { admin: true });
    const listed = (devices.json().result as { registrations: Record<string, unknown>[] }[]).find((d) =>
      d.registrations.some((r) => r.id === reg.registration_id),
    );
    const entry = listed?.registrations.find((r) => r.id === reg.registration_id);
    assert.equal((entry?.enrolled_identity as { email?: string })?.email, 'alice@example.com');
    // Every field, as the response schema (docs/openapi.json) describes it.
    assert.deepEqual(Object.keys(listed ?? {}).sort(), [
      'created_at',
      'hostname',
      'id',
      'last_seen_at',
      'model',
      'name',
      'os',
      'os_version',
      'registrations',
      'serial_number',
    ]);
    assert.deepEqual(Object.keys(entry ?? {}).sort(), [
      'assurance',
      'certificate_expires_on',
      'enrolled_by',
      'enrolled_identity',
      'hardware_backed',
      'id',
      'key_protection',
      'last_seen',
      'mode',
      'status',
    ]);
    const audit = await inject('GET', `/api/v1/audit?resource_id=${reg.registration_id}`, { admin: true });
    assert.equal(audit.json().result[0]?.actor, 'identity:alice@example.com');
  });
  test('rate limits (RFC 8628 §5.2): wrong user codes and device-login starts, per client address', async () => {
    const guesser = '192.0.2.7';
    const a = await start();
    for (let i = 0; i < USER_CODE_MISSES_PER_WINDOW; i++) {
      const miss = await inject('GET', `/device?user_code=BCDF-GHJ${'BCDFGHJKLM'[i]}`, { from: guesser });
      assert.equal(miss.statusCode, 404, `guess ${i}`);
    }
    // Now even the right code is refused to that address, before any lookup; others are not affected.
    const blocked = await inject('GET', `/device?user_code=${a.user_code}`, { from: guesser });
    assert.equal(blocked.statusCode, 429, blocked.body);
    assert.match(blocked.body, /too many wrong codes/);
    const form = await inject('POST', '/device/deny', {
      form: { user_code: a.user_code, csrf: 'x' },
      from: guesser,
    });
    assert.equal(form.statusCode, 403, 'the CSRF check comes first');
    assert.equal((await inject('GET', `/device?user_code=${a.user_code}`)).statusCode, 200);
    clock += DEVICE_LOGIN_TTL_S * 1000;
    const b = await start();
    assert.equal(
      (await inject('GET', `/device?user_code=${b.user_code}`, { from: guesser })).statusCode,
      200,
    );

    const flooder = '192.0.2.8';
    const body = { ...device, key_protection: 'software' };
    for (let i = 0; i < DEVICE_LOGIN_STARTS_PER_MINUTE; i++) {
      const r = await inject('POST', '/api/v1/registrations/device_authorization', {
        json: body,
        from: flooder,
      });
      assert.equal(r.statusCode, 200, `start ${i}: ${r.body}`);
    }
    const over = await inject('POST', '/api/v1/registrations/device_authorization', {
      json: body,
      from: flooder,
    });
    assert.equal(over.statusCode, 429, over.body);
    assert.equal(over.json().errors[0].code, 'rate_limited');
    assert.equal(
      (await inject('POST', '/api/v1/registrations/device_authorization', { json: body })).statusCode,
      200,
    );
    clock += 60_000;
    const later = await inject('POST', '/api/v1/registrations/device_authorization', {
      json: body,
      from: flooder,
    });
    assert.equal(later.statusCode, 200, later.body);
  });
});
