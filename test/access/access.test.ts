// Access end to end: real `gatehouse serve`, a real origin verifying tokens with jose, curl with
// client certificates, service tokens, and an OIDC login through a real OpenID provider.
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose';
import { Agent } from 'undici';
import { adminApi, edgeCurl, gatehouse, type RunningServer, startServer } from '../helpers/gatehouse.js';
import { Browser, startOidcProvider, type TestOidcProvider } from '../helpers/oidc-provider.js';
import { makeCsr } from '../helpers/openssl.js';
import { requireTool, runOk } from '../helpers/tools.js';

const ORG_CA_ID = '00000000-0000-4000-8000-000000000001';
const HOST = 'app.test';

describe('access applications at the edge', () => {
  let dir: string;
  let server: RunningServer;
  let token: string;
  let rootPem: string;
  let rootPath: string;
  let origin: Server;
  let edgePort: number;
  let op: TestOidcProvider;
  const seen: { url: string; headers: IncomingHttpHeaders }[] = [];
  const auds: Record<string, string> = {};
  const appIds: Record<string, string> = {};
  const appBodies: Record<string, Record<string, unknown>> = {};
  let laptop: { certPath: string; keyPath: string; cert: string; key: string };
  let serviceToken: { id: string; client_id: string; client_secret: string };
  const api = adminApi(
    () => server.url,
    () => token,
    () => rootPem,
  );

  /** curl against the edge; returns status, headers and body. */
  const curl = edgeCurl(
    HOST,
    () => edgePort,
    () => rootPath,
  );
  const withCert = () => ['--cert', laptop.certPath, '--key', laptop.keyPath];
  const lastSeen = () => seen[seen.length - 1] as { url: string; headers: IncomingHttpHeaders };

  async function verifyAssertion(assertion: string, aud: string) {
    const res = await runOk(requireTool('curl'), [
      '-s',
      '--cacert',
      rootPath,
      `${server.url}/.well-known/jwks.json`,
    ]);
    const { payload, protectedHeader } = await jwtVerify(
      assertion,
      createLocalJWKSet(JSON.parse(res.stdout)),
      { audience: aud, algorithms: ['ES256'] },
    );
    assert.equal(protectedHeader.alg, 'ES256');
    assert.ok(protectedHeader.kid);
    return payload;
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-access-'));
    origin = createServer((req, res) => {
      seen.push({ url: req.url ?? '', headers: req.headers });
      req.resume();
      res
        .writeHead(200, { 'content-type': 'text/plain', 'set-cookie': 'origin_cookie=1; Path=/' })
        .end(`origin: ${req.url}`);
    });
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
    const originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;

    const init = await gatehouse(['init', '--data-dir', join(dir, 'data'), '--org', 'Access Org', '--json']);
    const out = JSON.parse(init.stdout) as { admin_token: string; root_ca_pem: string };
    token = out.admin_token;
    rootPem = out.root_ca_pem;
    rootPath = join(dir, 'root.pem');
    writeFileSync(rootPath, rootPem);
    server = await startServer(['--data-dir', join(dir, 'data')]);
    edgePort = Number(new URL(server.edgeUrl).port);

    const csr = await makeCsr(dir, 'laptop');
    const issued = await api<{ certificate: string }>('POST', '/api/v1/client_certificates', {
      csr: csr.pem,
      common_name: 'laptop-1',
    });
    laptop = {
      certPath: join(dir, 'laptop.pem'),
      keyPath: csr.keyPath,
      cert: issued.json.result.certificate,
      key: readFileSync(csr.keyPath, 'utf8'),
    };
    writeFileSync(laptop.certPath, laptop.cert);

    op = await startOidcProvider({
      clients: [
        {
          client_id: 'gatehouse',
          client_secret: 'idp-secret',
          redirect_uris: [`https://${HOST}:${edgePort}/.gatehouse/callback`],
        },
      ],
    });
    const idp = await api<{ id: string }>('POST', '/api/v1/identity_providers', {
      name: 'Test IdP',
      type: 'oidc',
      issuer: op.issuer,
      client_id: 'gatehouse',
      client_secret: 'idp-secret',
      scopes: ['openid', 'email', 'profile'],
    });
    assert.equal(idp.status, 201, JSON.stringify(idp.json));
    assert.equal(
      (idp.json.result as Record<string, unknown>).client_secret,
      undefined,
      'the IdP secret is never returned',
    );

    const st = await api<{ id: string; client_id: string; client_secret: string }>(
      'POST',
      '/api/v1/access/service_tokens',
      { name: 'ci', duration: '720h' },
    );
    assert.equal(st.status, 201);
    serviceToken = st.json.result;

    assert.equal(
      (
        await api('POST', '/api/v1/hostnames', {
          hostname: HOST,
          origin: originUrl,
          client_auth: { mode: 'report', mtls_certificate_ids: [ORG_CA_ID] },
        })
      ).status,
      201,
    );
    const apps: [string, unknown][] = [
      [
        'root',
        {
          name: 'Wiki',
          domain: HOST,
          session_duration: '24h',
          policies: [{ name: 'devices', decision: 'non_identity', include: [{ certificate: {} }] }],
        },
      ],
      [
        'iot',
        {
          name: 'IoT',
          domain: `${HOST}/iot`,
          session_duration: '0s',
          policies: [
            {
              name: 'devices',
              decision: 'non_identity',
              include: [{ common_name: { common_name: 'laptop-1' } }],
            },
          ],
        },
      ],
      [
        'api',
        {
          name: 'API',
          domain: `${HOST}/api`,
          session_duration: '1h',
          policies: [
            {
              name: 'ci',
              decision: 'non_identity',
              include: [{ service_token: { token_id: serviceToken.id } }],
            },
          ],
        },
      ],
      [
        'public',
        {
          name: 'Public',
          domain: `${HOST}/public`,
          policies: [
            { name: 'deny loopback', decision: 'deny', include: [{ ip: { ip: '127.0.0.0/8' } }] },
            { name: 'open', decision: 'non_identity', include: [{ everyone: {} }] },
          ],
        },
      ],
      [
        'docs',
        {
          name: 'Docs',
          domain: `${HOST}/docs`,
          policies: [{ name: 'open', decision: 'bypass', include: [{ everyone: {} }] }],
        },
      ],
      [
        'admin',
        {
          name: 'Admin',
          domain: `${HOST}/admin`,
          allowed_idps: [idp.json.result.id],
          policies: [
            {
              name: 'alice with her laptop',
              decision: 'allow',
              include: [{ email: { email: 'alice@example.com' } }],
              require: [{ certificate: {} }],
            },
          ],
        },
      ],
    ];
    for (const [key, body] of apps) {
      const r = await api<{ aud: string; id: string }>('POST', '/api/v1/access/apps', body);
      assert.equal(r.status, 201, JSON.stringify(r.json));
      auds[key] = r.json.result.aud;
      appIds[key] = r.json.result.id;
      appBodies[key] = body as Record<string, unknown>;
    }
    // Changes reach the edge within a second.
    const started = Date.now();
    // Until it knows the hostname the edge presents its default certificate (curl exits 60).
    const status = () =>
      curl('/').then(
        (r) => r.status,
        () => 0,
      );
    while ((await status()) !== 403 && Date.now() - started < 3000)
      await new Promise((r) => setTimeout(r, 50));
  });

  after(async () => {
    if (server) assert.equal(await server.stop(), 0, server.output());
    await op?.stop();
    await new Promise<void>((r) => origin?.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  test('non_identity certificate policy: no certificate → 403; with one → 200, a session cookie and a verifiable assertion', async () => {
    const before = seen.length;
    const denied = await curl('/');
    assert.equal(denied.status, 403);
    assert.match(denied.body, /access_denied/);
    assert.equal(seen.length, before);

    const allowed = await curl('/page', withCert());
    assert.equal(allowed.status, 200, allowed.body);
    const cookie = /set-cookie: Gatehouse_Authorization=([^;]+);([^\r\n]*)/i.exec(allowed.head);
    assert.ok(cookie, allowed.head);
    assert.match(cookie[2] ?? '', /HttpOnly/);
    assert.match(cookie[2] ?? '', /Secure/);
    assert.match(cookie[2] ?? '', /SameSite=Lax/);
    assert.match(cookie[2] ?? '', /Max-Age=86400/);
    assert.match(
      allowed.head,
      /set-cookie: origin_cookie=1/i,
      "the origin's own cookies still reach the client",
    );
    const assertion = String(lastSeen().headers['gatehouse-jwt-assertion']);
    assert.equal(assertion, cookie[1]);
    const claims = await verifyAssertion(assertion, auds.root as string);
    assert.equal(claims.common_name, 'laptop-1');
    assert.equal(claims.type, 'app');
    assert.ok(claims.identity_nonce);
    const der = new X509Certificate(laptop.cert).raw;
    assert.deepEqual(claims.cnf, { 'x5t#S256': createHash('sha256').update(der).digest('base64url') });

    // The cookie alone, replayed from a connection without the certificate, is refused.
    const replay = await curl('/page', ['-H', `cookie: Gatehouse_Authorization=${cookie[1]}`]);
    assert.equal(replay.status, 403);
    // With the certificate the cookie is accepted as is (no new token issued).
    const again = await curl('/page', [...withCert(), '-H', `cookie: Gatehouse_Authorization=${cookie[1]}`]);
    assert.equal(again.status, 200);
    assert.doesNotMatch(again.head, /set-cookie: Gatehouse_Authorization/i);
    assert.equal(lastSeen().headers['gatehouse-jwt-assertion'], cookie[1]);
  });

  test('forged and foreign tokens are refused', async () => {
    const r = await curl('/page', withCert());
    const good = /set-cookie: Gatehouse_Authorization=([^;]+)/i.exec(r.head)?.[1] as string;
    const [h, p] = good.split('.') as [string, string, string];
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${p}.`;
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...decodeJwt(good), common_name: 'admin' })).toString('base64url')}.${good.split('.')[2]}`;
    const iot = await curl('/iot/x', withCert());
    const foreign = String(lastSeen().headers['gatehouse-jwt-assertion']);
    assert.equal(iot.status, 200);
    for (const forged of [none, tampered, foreign]) {
      const res = await curl('/page', ['-H', `cookie: Gatehouse_Authorization=${forged}`]);
      assert.equal(res.status, 403, forged.slice(0, 40));
    }
  });

  test('session duration 0s: a per-request token, never a cookie', async () => {
    const r = await curl('/iot/reading', withCert());
    assert.equal(r.status, 200);
    assert.doesNotMatch(r.head, /Gatehouse_Authorization/);
    const claims = await verifyAssertion(
      String(lastSeen().headers['gatehouse-jwt-assertion']),
      auds.iot as string,
    );
    assert.ok((claims.exp as number) - (claims.iat as number) <= 60);
  });

  test('service tokens: valid credentials pass, a wrong secret does not, rotation retires the old secret', async () => {
    const headers = (secret: string) => [
      '-H',
      `Gatehouse-Access-Client-Id: ${serviceToken.client_id}`,
      '-H',
      `Gatehouse-Access-Client-Secret: ${secret}`,
    ];
    assert.equal((await curl('/api/things', headers(serviceToken.client_secret))).status, 200);
    const claims = await verifyAssertion(
      String(lastSeen().headers['gatehouse-jwt-assertion']),
      auds.api as string,
    );
    assert.equal(claims.common_name, serviceToken.client_id);
    assert.equal((await curl('/api/things', headers('0'.repeat(64)))).status, 403);
    const rotated = await api<{ client_secret: string }>(
      'POST',
      `/api/v1/access/service_tokens/${serviceToken.id}/rotate`,
    );
    assert.equal(rotated.status, 200);
    const started = Date.now();
    let old = await curl('/api/things', headers(serviceToken.client_secret));
    while (old.status === 200 && Date.now() - started < 1500)
      old = await curl('/api/things', headers(serviceToken.client_secret));
    assert.equal(old.status, 403);
    assert.equal((await curl('/api/things', headers(rotated.json.result.client_secret))).status, 200);
  });

  test('deny before non_identity and allow, bypass without a token, longest prefix selects the app', async () => {
    assert.equal((await curl('/public/x')).status, 403, 'the deny policy wins over the non_identity one');
    const before = seen.length;
    const docs = await curl('/docs/intro');
    assert.equal(docs.status, 200);
    assert.equal(seen.length, before + 1);
    assert.equal(lastSeen().headers['gatehouse-jwt-assertion'], undefined, 'bypass forwards without a token');
    assert.equal((await curl('/docsy')).status, 403, '/docsy is not under /docs: the root app applies');
  });

  test('WebSocket upgrades go through Access too', async () => {
    const before = seen.length;
    const response = await new Promise<string>((resolve, reject) => {
      let out = '';
      const socket = tls.connect({ host: '127.0.0.1', port: edgePort, servername: HOST, ca: rootPem }, () =>
        socket.write(
          `GET /ws HTTP/1.1\r\nhost: ${HOST}\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n`,
        ),
      );
      socket.on('data', (d) => (out += d));
      socket.on('close', () => resolve(out));
      socket.on('error', reject);
    });
    assert.match(response, /^HTTP\/1\.1 403 /);
    assert.match(response, /access_denied/);
    assert.equal(seen.length, before);
  });

  test('JWKS on the edge and on the API', async () => {
    const edge = await curl('/.well-known/jwks.json');
    const apiKeys = await runOk(requireTool('curl'), [
      '-s',
      '--cacert',
      rootPath,
      `${server.url}/.well-known/jwks.json`,
    ]);
    assert.equal(edge.status, 200);
    assert.deepEqual(JSON.parse(edge.body), JSON.parse(apiKeys.stdout));
    assert.equal(JSON.parse(edge.body).keys[0].alg, 'ES256');
    assert.equal(JSON.parse(edge.body).keys[0].d, undefined);
  });

  test('identity: login through the IdP plus the certificate; a user the policy does not name is refused', async () => {
    // app.test resolves to loopback for this client only; it presents the laptop's certificate.
    const lookup = (_host: string, opts: { all?: boolean }, cb: (...args: unknown[]) => void) =>
      opts?.all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4);
    const dispatcher = new Agent({
      connect: { ca: rootPem, cert: laptop.cert, key: laptop.key, lookup } as never,
    });
    const browser = new Browser({ dispatcher, headers: { accept: 'text/html' } });
    op.loginAs('alice@example.com');
    const page = await browser.navigate(`https://${HOST}:${edgePort}/admin/settings`);
    assert.equal(page.status, 200, `${page.url}: ${page.body.slice(0, 200)}`);
    assert.equal(page.body, 'origin: /admin/settings');
    assert.ok(
      page.visited.some((u) => u.startsWith(op.issuer)),
      'went through the IdP',
    );
    const claims = await verifyAssertion(
      String(lastSeen().headers['gatehouse-jwt-assertion']),
      auds.admin as string,
    );
    assert.equal(claims.email, 'alice@example.com');
    assert.ok(browser.jar.get('Gatehouse_Authorization'));

    // Later requests ride on the cookie: no new trip to the IdP.
    const interactions = op.interactions;
    const next = await browser.navigate(`https://${HOST}:${edgePort}/admin/other`);
    assert.equal(next.status, 200);
    assert.equal(op.interactions, interactions);

    const bob = new Browser({ dispatcher, headers: { accept: 'text/html' } });
    op.loginAs('bob@example.com');
    const refused = await bob.navigate(`https://${HOST}:${edgePort}/admin/settings`);
    assert.equal(refused.status, 403);

    // An API client gets 401 instead of a redirect.
    const json = await curl('/admin/settings', [...withCert(), '-H', 'accept: application/json']);
    assert.equal(json.status, 401);
    await dispatcher.close();
  });

  test('a login session records its identity and is judged again: a deny rule on the e-mail refuses it', async () => {
    const lookup = (_host: string, opts: { all?: boolean }, cb: (...args: unknown[]) => void) =>
      opts?.all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4);
    const dispatcher = new Agent({
      connect: { ca: rootPem, cert: laptop.cert, key: laptop.key, lookup } as never,
    });
    try {
      const browser = new Browser({ dispatcher, headers: { accept: 'text/html' } });
      op.loginAs('alice@example.com');
      const page = await browser.navigate(`https://${HOST}:${edgePort}/admin/x`);
      assert.equal(page.status, 200, page.body.slice(0, 200));
      const cookie = browser.jar.get('Gatehouse_Authorization') as string;
      const claims = decodeJwt(cookie);
      assert.equal(claims.email, 'alice@example.com');
      assert.ok(typeof claims.idp === 'string' && Array.isArray(claims.groups) && claims.sid);
      const withSession = [...withCert(), '-H', `cookie: Gatehouse_Authorization=${cookie}`];
      assert.equal((await curl('/admin/x', withSession)).status, 200);

      const body = appBodies.admin as { policies: unknown[] };
      const deny = {
        name: 'not alice',
        decision: 'deny',
        include: [{ email: { email: 'ALICE@example.com' } }],
      };
      const put = (policies: unknown[]) =>
        api('PUT', `/api/v1/access/apps/${appIds.admin}`, { ...body, policies });
      assert.equal((await put([deny, ...body.policies])).status, 200);
      const started = Date.now();
      let r = await curl('/admin/x', withSession);
      while (r.status === 200 && Date.now() - started < 4000) r = await curl('/admin/x', withSession);
      assert.equal(r.status, 403, 'the session must not outlive a deny rule naming its user');
      assert.match(r.body, /deny_policy/);
      assert.equal((await put(body.policies)).status, 200);
    } finally {
      await dispatcher.close();
    }
  });

  test('gatehouse keys rotate: new tokens use the new key, earlier sessions keep working', async () => {
    const first = await curl('/page', withCert());
    const oldCookie = /set-cookie: Gatehouse_Authorization=([^;]+)/i.exec(first.head)?.[1] as string;
    const oldKid = JSON.parse(Buffer.from(oldCookie.split('.')[0] as string, 'base64url').toString()).kid;
    const rotated = await gatehouse(['keys', 'rotate', '--data-dir', join(dir, 'data'), '--json']);
    assert.equal(rotated.code, 0, rotated.stderr);
    const { kid } = JSON.parse(rotated.stdout) as { kid: string };
    assert.notEqual(kid, oldKid);
    const started = Date.now();
    let fresh = await curl('/page', withCert());
    const kidOf = (head: string) => {
      const t = /set-cookie: Gatehouse_Authorization=([^;]+)/i.exec(head)?.[1] ?? '';
      return JSON.parse(Buffer.from(t.split('.')[0] ?? '', 'base64url').toString() || '{}').kid;
    };
    while (kidOf(fresh.head) !== kid && Date.now() - started < 1500) fresh = await curl('/page', withCert());
    assert.equal(kidOf(fresh.head), kid, 'new sessions are signed with the new key');
    const jwks = JSON.parse((await curl('/.well-known/jwks.json')).body) as { keys: { kid: string }[] };
    assert.deepEqual(jwks.keys.map((k) => k.kid).sort(), [kid, oldKid].sort());
    const old = await curl('/page', [...withCert(), '-H', `cookie: Gatehouse_Authorization=${oldCookie}`]);
    assert.equal(old.status, 200);
    assert.doesNotMatch(
      old.head,
      /set-cookie: Gatehouse_Authorization/i,
      'the old session is still accepted as is',
    );
  });

  test('unknown rule types are rejected at write time and nothing is stored', async () => {
    const before = (await api<unknown[]>('GET', '/api/v1/access/apps')).json.result.length;
    const bad = await api('POST', '/api/v1/access/apps', {
      name: 'x',
      domain: 'x.test',
      policies: [{ name: 'p', decision: 'allow', include: [{ geo: { country: 'FR' } }] }],
    });
    assert.equal(bad.status, 400);
    assert.equal((await api<unknown[]>('GET', '/api/v1/access/apps')).json.result.length, before);
  });
});
