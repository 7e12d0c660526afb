// Session attacks against a real edge (two workers) and a real origin: cookies replayed after the
// policy, the service token, the certificate or the client address changed; per-request
// assertions replayed as cookies; revoked sessions on open keep-alive connections; forged,
// expired, foreign-signed and cross-application tokens.
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import { Client } from 'undici';
import { keysFromRows } from '../../src/access/index.js';
import { KeySet, signAccessToken } from '../../src/access/tokens/index.js';
import { withDataDir } from '../../src/cli/context.js';
import { startDeviceOrg } from '../helpers/device-org.js';
import { adminApi, edgeCurl, gatehouse, type RunningServer } from '../helpers/gatehouse.js';
import { makeCsr } from '../helpers/openssl.js';

const ORG_CA_ID = '00000000-0000-4000-8000-000000000001';
const HOST = 'sessions.test';
const COOKIE = 'Gatehouse_Authorization';
/** Edges poll every 250 ms; a change must show within this. */
const PROPAGATION_MS = 4000;
/** More than one edge worker's config poll interval (250 ms): every worker has reloaded by then. */
const WORKER_SETTLE_MS = 750;

interface Cert {
  id: string;
  certPath: string;
  keyPath: string;
  cert: string;
  key: string;
  sha256: string;
}

describe('session attacks', () => {
  let dir: string;
  let dataDir: string;
  let server: RunningServer;
  let token: string;
  let rootPem: string;
  let rootPath: string;
  let origin: Server;
  let edgePort: number;
  const seen: { url: string; headers: IncomingHttpHeaders }[] = [];
  const apps: Record<string, { id: string; aud: string; body: Record<string, unknown> }> = {};
  let laptop: Cert;
  let phone: Cert;
  let tablet: Cert;
  /** The registered device's certificate (`id` unused). */
  let device: Cert;
  let stSvc: { id: string; client_id: string; client_secret: string };
  let stOnce: { id: string; client_id: string; client_secret: string };
  const api = adminApi(
    () => server.url,
    () => token,
    () => rootPem,
  );
  const curl = edgeCurl(
    HOST,
    () => edgePort,
    () => rootPath,
  );
  const withCert = (c: Cert) => ['--cert', c.certPath, '--key', c.keyPath];
  const withCookie = (value: string) => ['-H', `cookie: ${COOKIE}=${value}`];
  const withServiceToken = (t: { client_id: string; client_secret: string }) => [
    '-H',
    `Gatehouse-Access-Client-Id: ${t.client_id}`,
    '-H',
    `Gatehouse-Access-Client-Secret: ${t.client_secret}`,
  ];
  const sessionOf = (head: string) => new RegExp(`set-cookie: ${COOKIE}=([^;]+)`, 'i').exec(head)?.[1];
  const lastAssertion = () => String(seen[seen.length - 1]?.headers['gatehouse-jwt-assertion']);

  /** A fresh session for `path`: the cookie the edge set. */
  async function session(path: string, args: string[]): Promise<string> {
    const r = await curl(path, args);
    assert.equal(r.status, 200, r.body);
    const cookie = sessionOf(r.head);
    assert.ok(cookie, r.head);
    return cookie;
  }

  /** Polls `probe` until it returns true (a change reached every worker), bounded. */
  async function eventually(what: string, probe: () => Promise<boolean>, ms = PROPAGATION_MS): Promise<void> {
    const started = Date.now();
    while (Date.now() - started < ms) {
      if (await probe()) {
        // Seen on one worker; the other polls on its own: give it a poll interval to catch up.
        await new Promise((r) => setTimeout(r, WORKER_SETTLE_MS));
        return;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.fail(`${what}: not seen within ${ms} ms`);
  }

  /** A replay must be refused and must not reach the origin. */
  async function assertRefused(path: string, args: string[], message: string) {
    const before = seen.length;
    const r = await curl(path, args);
    assert.ok(r.status === 401 || r.status === 403, `${message}: got ${r.status} ${r.body.slice(0, 200)}`);
    assert.equal(seen.length, before, `${message}: the origin was reached`);
    return r;
  }

  async function issueCert(name: string): Promise<Cert> {
    const csr = await makeCsr(dir, name);
    const issued = await api<{ id: string; certificate: string }>('POST', '/api/v1/client_certificates', {
      csr: csr.pem,
      common_name: name,
    });
    assert.equal(issued.status, 201, JSON.stringify(issued.json));
    const certPath = join(dir, `${name}.pem`);
    writeFileSync(certPath, issued.json.result.certificate);
    return {
      id: issued.json.result.id,
      certPath,
      keyPath: csr.keyPath,
      cert: issued.json.result.certificate,
      key: readFileSync(csr.keyPath, 'utf8'),
      sha256: createHash('sha256')
        .update(new X509Certificate(issued.json.result.certificate).raw)
        .digest('hex'),
    };
  }

  async function createApp(key: string, body: Record<string, unknown>) {
    const r = await api<{ id: string; aud: string }>('POST', '/api/v1/access/apps', body);
    assert.equal(r.status, 201, JSON.stringify(r.json));
    apps[key] = { id: r.json.result.id, aud: r.json.result.aud, body };
  }

  /** Tokens signed with the org's real signing key (read from the data directory). */
  async function realKeys(): Promise<KeySet> {
    return withDataDir(dataDir, async (ctx) =>
      KeySet.from(keysFromRows(await ctx.store.signingKeys.all(), ctx.authority)),
    );
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-attacks-sessions-'));
    dataDir = join(dir, 'data');
    origin = createServer((req, res) => {
      seen.push({ url: req.url ?? '', headers: req.headers });
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`origin: ${req.url}`);
    });
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
    const originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;

    // An org with one device registered by the real agent, behind a two-worker edge.
    let stateDir: string;
    ({
      server,
      adminToken: token,
      rootPem,
      rootPath,
      stateDir,
    } = await startDeviceOrg(dir, 'Session Attacks', 'SA-1', ['--workers', '2']));
    edgePort = Number(new URL(server.edgeUrl).port);
    const state = JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8')) as {
      key_reference: { file: string };
    };
    const devicePem = readFileSync(join(stateDir, 'cert.pem'), 'utf8');
    device = {
      id: '',
      certPath: join(stateDir, 'cert.pem'),
      keyPath: join(stateDir, state.key_reference.file),
      cert: devicePem,
      key: '',
      sha256: createHash('sha256').update(new X509Certificate(devicePem).raw).digest('hex'),
    };

    laptop = await issueCert('laptop');
    phone = await issueCert('phone');
    tablet = await issueCert('tablet');
    const st = async (name: string) => {
      const r = await api<{ id: string; client_id: string; client_secret: string }>(
        'POST',
        '/api/v1/access/service_tokens',
        { name, duration: '720h' },
      );
      assert.equal(r.status, 201);
      return r.json.result;
    };
    stSvc = await st('svc');
    stOnce = await st('once');

    const host = await api('POST', '/api/v1/hostnames', {
      hostname: HOST,
      origin: originUrl,
      client_auth: { mode: 'report', mtls_certificate_ids: [ORG_CA_ID] },
    });
    assert.equal(host.status, 201, JSON.stringify(host.json));
    // One non_identity policy per application, at `/${key}` (the root app: `/`).
    const app = (key: string, duration: string, include: unknown[]) =>
      createApp(key, {
        name: key,
        domain: key === 'root' ? HOST : `${HOST}/${key}`,
        session_duration: duration,
        policies: [{ name: key, decision: 'non_identity', include }],
      });
    for (const key of ['root', 'forge', 'other']) await app(key, '24h', [{ certificate: {} }]);
    await app('ip', '24h', [{ ip: { ip: '127.0.0.1/32' } }]);
    await app('svc', '24h', [{ service_token: { token_id: stSvc.id } }]);
    await app('once', '0s', [{ service_token: { token_id: stOnce.id } }]);
    // Posture as an alternative and as an exclusion: a device failing that rule still qualifies.
    const rule = '5a0c3c9e-7f6b-4a57-9a3e-0f0b8d7c6e51';
    await createApp('alt', {
      name: 'Posture optional',
      domain: `${HOST}/alt`,
      session_duration: '24h',
      policies: [
        {
          name: 'cert or posture',
          decision: 'non_identity',
          include: [{ certificate: {} }, { device_posture: { integration_uid: rule } }],
          exclude: [{ device_posture: { integration_uid: rule } }],
        },
      ],
    });
    await app('net', '24h', [{ everyone: {} }]);
    // The last application created answers 200 on every worker (fresh connections): all are loaded.
    await eventually(
      'the edge knows the applications',
      async () => {
        for (let i = 0; i < 6; i++) {
          const ok = await curl('/net/probe').then(
            (r) => r.status === 200,
            () => false,
          );
          if (!ok) return false;
        }
        return true;
      },
      15_000,
    );
  });

  after(async () => {
    if (server) {
      const output = server.output();
      assert.equal(await server.stop(), 0, output);
      // Every worker death is a failure.
      assert.doesNotMatch(output, /edge worker died/, output);
    }
    await new Promise<void>((r) => origin?.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  test('a session is judged on the current policies: a deny rule added later refuses it', async () => {
    const cookie = await session('/net/a', []);
    assert.equal((await curl('/net/a', withCookie(cookie))).status, 200);
    const { body } = apps.net as { body: Record<string, unknown> };
    const updated = await api('PUT', `/api/v1/access/apps/${apps.net?.id}`, {
      ...body,
      policies: [
        { name: 'no loopback', decision: 'deny', include: [{ ip: { ip: '127.0.0.1/32' } }] },
        ...(body.policies as unknown[]),
      ],
    });
    assert.equal(updated.status, 200, JSON.stringify(updated.json));
    await eventually('the deny rule', async () => (await curl('/net/b')).status === 403);
    await assertRefused('/net/a', withCookie(cookie), 'a cookie after a deny rule matching it was added');
  });

  test('a session from another client address is judged on that address', async () => {
    const cookie = await session('/ip/a', []);
    assert.equal((await curl('/ip/a', withCookie(cookie))).status, 200);
    await assertRefused(
      '/ip/a',
      ['--interface', '127.0.0.2', ...withCookie(cookie)],
      'the cookie replayed from 127.0.0.2',
    );
  });

  test('a session earned by a service token ends when the token is revoked', async () => {
    const cookie = await session('/svc/a', withServiceToken(stSvc));
    assert.equal(decodeJwt(cookie).service_token, stSvc.id);
    assert.equal((await curl('/svc/a', withCookie(cookie))).status, 200, 'the session alone is enough');
    const deleted = await api('DELETE', `/api/v1/access/service_tokens/${stSvc.id}`);
    assert.equal(deleted.status, 200);
    await eventually(
      'the deletion',
      async () => (await curl('/svc/b', withServiceToken(stSvc))).status === 403,
    );
    await assertRefused('/svc/a', withCookie(cookie), 'a session earned by a deleted service token');
  });

  test('a session bound to a certificate: not with another certificate, not once it is revoked', async () => {
    const cookie = await session('/cert', withCert(laptop));
    assert.equal((await curl('/cert', [...withCert(laptop), ...withCookie(cookie)])).status, 200);
    // The phone's own certificate passes the policy, yet the laptop's session must not ride on it.
    const other = await curl('/cert', [...withCert(phone), ...withCookie(cookie)]);
    assert.equal(other.status, 200);
    assert.ok(sessionOf(other.head), 'a new session of its own, not the laptop one');
    assert.notEqual(lastAssertion(), cookie);
    await assertRefused('/cert', withCookie(cookie), 'the cookie without any certificate');

    const revoked = await api('DELETE', `/api/v1/client_certificates/${phone.id}`);
    assert.equal(revoked.status, 200, JSON.stringify(revoked.json));
    const phoneCookie = sessionOf(other.head) as string;
    await eventually('the revocation', async () => (await curl('/cert/x', withCert(phone))).status === 403);
    await assertRefused('/cert', [...withCert(phone), ...withCookie(phoneCookie)], 'a revoked certificate');
  });

  test('posture named only as an alternative or an exclusion does not void a session', async () => {
    const cookie = await session('/alt', withCert(laptop));
    const again = await curl('/alt', [...withCert(laptop), ...withCookie(cookie)]);
    assert.equal(again.status, 200);
    assert.equal(sessionOf(again.head), undefined, 'the session is honoured, not replaced');
    assert.equal(lastAssertion(), cookie);
  });

  test('a per-request (0s) assertion is never accepted back: same connection or any other', async () => {
    const client = new Client(`https://${HOST}:${edgePort}`, {
      connect: {
        ca: rootPem,
        lookup: (_h: string, opts: { all?: boolean }, cb: (...args: unknown[]) => void) =>
          opts?.all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4),
      } as never,
    });
    let connects = 0;
    client.on('connect', () => connects++);
    try {
      const first = await client.request({
        path: '/once/a',
        method: 'GET',
        headers: {
          'gatehouse-access-client-id': stOnce.client_id,
          'gatehouse-access-client-secret': stOnce.client_secret,
        },
      });
      assert.equal(first.statusCode, 200);
      await first.body.text();
      assert.equal(first.headers['set-cookie'], undefined);
      const assertion = lastAssertion();
      assert.equal(decodeJwt(assertion).sid, undefined);
      const before = seen.length;
      // On the same keep-alive connection (the same worker)…
      const replay = await client.request({
        path: '/once/b',
        method: 'GET',
        headers: { cookie: `${COOKIE}=${assertion}` },
      });
      await replay.body.text();
      assert.equal(replay.statusCode, 403);
      assert.equal(seen.length, before);
      assert.equal(connects, 1);
      // … and on fresh connections, which the kernel spreads over both workers.
      for (let i = 0; i < 6; i++) await assertRefused('/once/c', withCookie(assertion), `replay ${i}`);
    } finally {
      await client.close();
    }
  });

  test('a revoked session is refused at once on a keep-alive connection already open', async () => {
    const client = new Client(`https://${HOST}:${edgePort}`, {
      connect: {
        ca: rootPem,
        cert: laptop.cert,
        key: laptop.key,
        lookup: (_h: string, opts: { all?: boolean }, cb: (...args: unknown[]) => void) =>
          opts?.all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4),
      } as never,
    });
    let connects = 0;
    client.on('connect', () => connects++);
    const get = async (cookie: string) => {
      const r = await client.request({
        path: '/keep',
        method: 'GET',
        headers: { cookie: `${COOKIE}=${cookie}` },
      });
      const body = await r.body.text();
      return { status: r.statusCode, setCookie: r.headers['set-cookie'], body };
    };
    try {
      const cookie = await session('/keep', withCert(laptop));
      const ok = await get(cookie);
      assert.equal(ok.status, 200);
      assert.equal(ok.setCookie, undefined, 'the session is used as is');

      const revoked = await api<{ revoked_at: string; certificates: string[] }>(
        'POST',
        '/api/v1/access/sessions/revocations',
        { app_id: apps.root?.id },
      );
      assert.equal(revoked.status, 201, JSON.stringify(revoked.json));
      assert.equal(revoked.json.result.certificates, null);
      // Bounded: within the propagation time the same connection sees the revocation.
      const started = Date.now();
      let after = await get(cookie);
      while (after.status === 200 && after.setCookie === undefined && Date.now() - started < PROPAGATION_MS)
        after = await get(cookie);
      // Refused as a session: without the cookie's help the request is judged afresh, and the
      // certificate still earns a new session (the old one is not used).
      assert.notEqual(after.setCookie, undefined, `the revoked session was still honoured: ${after.body}`);
      assert.equal(connects, 1, 'on the connection that was already open');
      assert.notEqual(lastAssertion(), cookie);
      // Every further use of the old cookie, on any connection, is refused likewise.
      await new Promise((r) => setTimeout(r, WORKER_SETTLE_MS));
      const replay = await curl('/keep', [...withCert(laptop), ...withCookie(cookie)]);
      assert.ok(sessionOf(replay.head));
      assert.notEqual(lastAssertion(), cookie);
      await assertRefused('/keep', withCookie(cookie), 'the revoked cookie without the certificate');
      // A session started after the revocation is not affected.
      await new Promise((r) => setTimeout(r, 1100)); // revocations cover the whole second they fall in
      const fresh = await session('/keep', withCert(laptop));
      const used = await get(fresh);
      assert.equal(used.status, 200);
      assert.equal(used.setCookie, undefined);
    } finally {
      await client.close();
    }
  });

  test('revocation by user and by certificate; selectors combine; bad input is a precise 400', async () => {
    // By user: the certificate's subject (a session's `sub`), limited to the `other` application.
    const cookie = await session('/other', withCert(laptop));
    const rootCookie = await session('/', withCert(laptop));
    const sub = decodeJwt(cookie).sub as string;
    const byUser = await api('POST', '/api/v1/access/sessions/revocations', {
      user: sub,
      app_id: apps.other?.id,
    });
    assert.equal(byUser.status, 201, JSON.stringify(byUser.json));
    await eventually('the user revocation', async () => {
      const r = await curl('/other', [...withCert(laptop), ...withCookie(cookie)]);
      return sessionOf(r.head) !== undefined;
    });
    const root = await curl('/', [...withCert(laptop), ...withCookie(rootCookie)]);
    assert.equal(root.status, 200);
    assert.equal(sessionOf(root.head), undefined, 'a session of another application is untouched');

    // By certificate (the device): every application.
    const byCert = await api<{ certificates: string[] }>('POST', '/api/v1/access/sessions/revocations', {
      certificate_sha256: laptop.sha256.toUpperCase(),
    });
    assert.equal(byCert.status, 201, JSON.stringify(byCert.json));
    assert.deepEqual(byCert.json.result.certificates, [laptop.sha256]);
    await eventually('the certificate revocation', async () => {
      const r = await curl('/', [...withCert(laptop), ...withCookie(rootCookie)]);
      return sessionOf(r.head) !== undefined;
    });
    const listed = await api<unknown[]>('GET', '/api/v1/access/sessions/revocations');
    assert.equal(listed.status, 200);
    assert.ok(listed.json.result.length >= 2);

    const before = listed.json.result.length;
    const bad: [unknown, number, string][] = [
      [{}, 400, 'invalid_request'],
      [{ app_id: 'nope' }, 400, 'invalid_request'],
      [{ user: 'x', extra: 1 }, 400, 'invalid_request'],
      [{ certificate_sha256: 'zz' }, 400, 'invalid_request'],
      [{ app_id: '7b1f3c52-1d2e-4f3a-9b8c-0d1e2f3a4b5c' }, 400, 'unknown_application'],
      [{ device_id: '7b1f3c52-1d2e-4f3a-9b8c-0d1e2f3a4b5c' }, 400, 'unknown_device'],
      [{ registration_id: '7b1f3c52-1d2e-4f3a-9b8c-0d1e2f3a4b5c' }, 400, 'unknown_registration'],
      [
        { device_id: '7b1f3c52-1d2e-4f3a-9b8c-0d1e2f3a4b5c', certificate_sha256: laptop.sha256 },
        400,
        'conflicting_selectors',
      ],
    ];
    for (const [body, status, code] of bad) {
      const r = await api('POST', '/api/v1/access/sessions/revocations', body);
      assert.equal(r.status, status, JSON.stringify(body));
      assert.equal(r.json.errors[0]?.code, code, JSON.stringify(body));
    }
    assert.equal(
      (await api<unknown[]>('GET', '/api/v1/access/sessions/revocations')).json.result.length,
      before,
    );
  });

  test('revocation by device and by registration: sessions bound to its certificate', async () => {
    const devices = await api<{ id: string; registrations: { id: string }[] }[]>('GET', '/api/v1/devices');
    assert.equal(devices.status, 200);
    assert.equal(devices.json.result.length, 1);
    const [{ id: deviceId, registrations }] = devices.json.result as [
      { id: string; registrations: { id: string }[] },
    ];
    const cookie = await session('/forge/d', withCert(device));
    const tabletCookie = await session('/forge/t', withCert(tablet));
    const kept = await curl('/forge/d', [...withCert(device), ...withCookie(cookie)]);
    assert.equal(sessionOf(kept.head), undefined, 'the session is used as is');

    const revoked = await api<{ certificates: string[] }>('POST', '/api/v1/access/sessions/revocations', {
      device_id: deviceId,
    });
    assert.equal(revoked.status, 201, JSON.stringify(revoked.json));
    assert.deepEqual(revoked.json.result.certificates, [device.sha256], "the device's certificate");
    await eventually('the device revocation', async () => {
      const r = await curl('/forge/d', [...withCert(device), ...withCookie(cookie)]);
      return r.status === 200 && sessionOf(r.head) !== undefined;
    });
    assert.notEqual(lastAssertion(), cookie);
    await assertRefused('/forge/d', withCookie(cookie), 'the revoked device session without its certificate');
    const other = await curl('/forge/t', [...withCert(tablet), ...withCookie(tabletCookie)]);
    assert.equal(sessionOf(other.head), undefined, "another device's session is untouched");

    // The CLI, on the data directory: the same service, the same schema.
    const cli = await gatehouse([
      'sessions',
      'revoke',
      '--data-dir',
      dataDir,
      '--registration',
      registrations[0]?.id as string,
      '--json',
    ]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.deepEqual((JSON.parse(cli.stdout) as { certificates: string[] }).certificates, [device.sha256]);
    const bad = await gatehouse(['sessions', 'revoke', '--data-dir', dataDir, '--app', 'nope', '--json']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stdout + bad.stderr, /invalid_request/);
  });

  test('forged tokens: tampered, alg none, foreign key, expired, without a session id, another application', async () => {
    // Its own application and device: no revocation above can be what refuses these.
    const good = await session('/forge', withCert(tablet));
    const [h, p, sig] = good.split('.') as [string, string, string];
    const claims = decodeJwt(good);
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const tampered = `${h}.${b64({ ...claims, sub: 'admin', common_name: 'admin' })}.${sig}`;
    const none = `${b64({ alg: 'none', typ: 'JWT' })}.${p}.`;
    // The same header (kid of the real key) with a signature by an attacker's own P-256 key.
    const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const foreignSignature = sign('sha256', Buffer.from(`${h}.${p}`), {
      key: attacker.privateKey,
      dsaEncoding: 'ieee-p1363',
    });
    const foreign = `${h}.${p}.${foreignSignature.toString('base64url')}`;
    const keys = await realKeys();
    const genuine = {
      iss: claims.iss as string,
      aud: apps.forge?.aud as string,
      sub: claims.sub as string,
      identity_nonce: 'n',
      cnf: claims.cnf as { 'x5t#S256': string },
    };
    const hourAgo = new Date(Date.now() - 3_600_000);
    const expired = signAccessToken(keys, { ...genuine, sid: 'e' }, { lifetimeMs: 1_800_000, now: hourAgo });
    const noSid = signAccessToken(keys, genuine, { lifetimeMs: 60_000, now: new Date() });
    const control = signAccessToken(keys, { ...genuine, sid: 'c' }, { lifetimeMs: 60_000, now: new Date() });
    const otherApp = await session('/other', withCert(tablet));
    // The control token (same key, still valid) passes: the refusals below are about what changed.
    const ok = await curl('/forge', [...withCert(tablet), ...withCookie(control)]);
    assert.equal(ok.status, 200);
    assert.equal(sessionOf(ok.head), undefined);
    for (const [name, forged] of Object.entries({ tampered, none, foreign, expired, noSid, otherApp })) {
      // With the certificate a fresh session is issued: the forged one must not be what is used.
      const r = await curl('/forge', [...withCert(tablet), ...withCookie(forged)]);
      assert.equal(r.status, 200, name);
      assert.ok(sessionOf(r.head), `${name}: was accepted as a session`);
      assert.notEqual(lastAssertion(), forged, name);
      await assertRefused('/forge', withCookie(forged), name);
    }
  });
});
