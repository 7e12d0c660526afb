// The edge end to end: real `gatehouse serve` (API + one edge worker), a real origin, curl,
// openssl and node's TLS client presenting real certificates.
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { adminApi, gatehouse, type RunningServer, startServer } from '../helpers/gatehouse.js';
import { makeCsr, makeRootCa, makeSelfSigned, makeSignedCert } from '../helpers/openssl.js';
import { requireTool, run, runOk } from '../helpers/tools.js';

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

const ORG_CA_ID = '00000000-0000-4000-8000-000000000001';

describe('edge', () => {
  let dir: string;
  let server: RunningServer;
  let token: string;
  let rootPath: string;
  let rootPem: string;
  let origin: Server;
  let originUrl: string;
  const seen: Seen[] = [];
  let edgePort: number;
  let client: { cert: string; key: string; certPath: string; keyPath: string; id: string };
  let stranger: { cert: string; key: string };
  const hostIds: Record<string, string> = {};

  const api = adminApi(
    () => server.url,
    () => token,
    () => rootPem,
  );

  /** One request to the edge as `hostname`, optionally with a client certificate and an agent. */
  function edge(
    hostname: string,
    opts: {
      cert?: { cert: string; key: string };
      headers?: Record<string, string>;
      agent?: https.Agent;
      path?: string;
      servername?: string;
      insecure?: boolean;
    } = {},
  ): Promise<{ status: number; body: string; headers: IncomingHttpHeaders; localPort: number }> {
    return new Promise((resolve, reject) => {
      const req = https.request(
        {
          host: '127.0.0.1',
          port: edgePort,
          path: opts.path ?? '/',
          servername: opts.servername ?? hostname,
          headers: { host: hostname, ...opts.headers },
          ca: rootPem,
          rejectUnauthorized: !opts.insecure,
          ...(opts.cert ?? {}),
          agent: opts.agent ?? false,
        },
        (res) => {
          let body = '';
          const localPort = res.socket.localPort ?? 0;
          res.on('data', (d) => (body += d));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body, headers: res.headers, localPort }),
          );
        },
      );
      req.on('error', reject);
      req.end();
    });
  }

  const lastSeen = () => seen[seen.length - 1] as Seen;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-edge-'));
    origin = createServer((req, res) => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain', 'x-origin': 'yes' }).end('hello from origin');
    });
    origin.on('upgrade', (req, socket) => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
      socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n');
      socket.pipe(socket); // echo
    });
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
    originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;

    const init = await gatehouse(['init', '--data-dir', join(dir, 'data'), '--org', 'Edge Org', '--json']);
    assert.equal(init.code, 0, init.stderr);
    const out = JSON.parse(init.stdout) as { admin_token: string; root_ca_pem: string };
    token = out.admin_token;
    rootPem = out.root_ca_pem;
    rootPath = join(dir, 'root.pem');
    writeFileSync(rootPath, rootPem);
    server = await startServer(['--data-dir', join(dir, 'data')]);
    edgePort = Number(new URL(server.edgeUrl).port);

    // A client certificate from the org CA, and one from a CA nobody trusts.
    const csr = await makeCsr(dir, 'laptop');
    const issued = await api<{ id: string; certificate: string; certificate_chain: string }>(
      'POST',
      '/api/v1/client_certificates',
      { csr: csr.pem, common_name: 'laptop-1' },
    );
    assert.equal(issued.status, 201);
    client = {
      cert: issued.json.result.certificate,
      key: readFileSync(csr.keyPath, 'utf8'),
      certPath: join(dir, 'laptop.pem'),
      keyPath: csr.keyPath,
      id: issued.json.result.id,
    };
    writeFileSync(client.certPath, client.cert);
    const strangerRoot = await makeRootCa(dir, 'stranger-root');
    const strangerLeaf = await makeSignedCert(dir, 'stranger-leaf', strangerRoot, { ca: false });
    stranger = { cert: strangerLeaf.pem, key: readFileSync(strangerLeaf.keyPath, 'utf8') };

    const create = async (hostname: string, client_auth: unknown) => {
      const r = await api<{ id: string }>('POST', '/api/v1/hostnames', {
        hostname,
        origin: originUrl,
        client_auth,
      });
      assert.equal(r.status, 201, JSON.stringify(r.json));
      hostIds[hostname] = r.json.result.id;
    };
    await create('enforce.test', {
      mode: 'enforce',
      mtls_certificate_ids: [ORG_CA_ID],
      block_response: { json: { error: 'certificate needed', docs: 'https://intranet/mtls' } },
    });
    await create('report.test', {
      mode: 'report',
      mtls_certificate_ids: [ORG_CA_ID],
      forward: {
        styles: ['gatehouse', 'rfc9440', 'xfcc'],
        custom: [
          { header: 'X-Device-CN', field: 'subject.CN' },
          { header: 'X-Cert-Uri', field: 'san.uri' },
        ],
      },
    });
    await create('open.test', { mode: 'off', mtls_certificate_ids: [] });
    await waitForEdge('open.test');
  });

  after(async () => {
    if (server) {
      // An open WebSocket tunnel never ends by itself: shutdown waits the grace period, then ends it.
      const tunnel = tls.connect({ host: '127.0.0.1', port: edgePort, servername: 'open.test', ca: rootPem });
      const tunnelClosed = new Promise<void>((r) => tunnel.once('close', () => r()));
      tunnel.on('error', () => undefined);
      await new Promise<void>((resolve) => {
        tunnel.once('data', () => resolve());
        tunnel.write(
          'GET /ws HTTP/1.1\r\nhost: open.test\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n',
        );
      });
      const stopping = Date.now();
      assert.equal(await server.stop(), 0, server.output());
      await tunnelClosed;
      assert.ok(Date.now() - stopping < 14_000, 'the grace period bounds the shutdown');
    }
    await new Promise<void>((r) => origin?.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  /** Config changes reach the edge within a second (it polls every 250 ms). */
  async function waitForEdge(
    hostname: string,
    expect: (status: number) => boolean = (s) => s !== 421,
    limitMs = 1500,
  ): Promise<number> {
    const started = Date.now();
    for (;;) {
      // Until the edge knows the hostname it presents its default certificate, which fails verification.
      const status = await edge(hostname).then(
        (r) => r.status,
        (err: Error) => err.message,
      );
      if (typeof status === 'number' && expect(status)) return Date.now() - started;
      if (Date.now() - started > limitMs)
        assert.fail(`edge did not pick up the change for ${hostname} within ${limitMs} ms (last: ${status})`);
      await new Promise((res) => setTimeout(res, 50));
    }
  }

  test('enforce: curl without a certificate gets 403 and the origin never sees it; with one it gets the origin', async () => {
    const curl = requireTool('curl');
    const before = seen.length;
    const resolve = ['--resolve', `enforce.test:${edgePort}:127.0.0.1`, '--cacert', rootPath];
    const denied = await runOk(curl, [
      '-s',
      '-o',
      '-',
      '-w',
      '\n%{http_code}',
      ...resolve,
      `https://enforce.test:${edgePort}/`,
    ]);
    assert.match(denied.stdout, /\n403$/);
    assert.match(denied.stdout, /no_certificate/);
    assert.doesNotMatch(
      denied.stdout,
      /Edge Org|Issuing/,
      'the default page states the reason and nothing else',
    );
    const json = await runOk(curl, [
      '-s',
      '-H',
      'accept: application/json',
      ...resolve,
      `https://enforce.test:${edgePort}/`,
    ]);
    assert.deepEqual(JSON.parse(json.stdout), { error: 'certificate needed', docs: 'https://intranet/mtls' });
    const wrongCa = await edge('enforce.test', { cert: stranger });
    assert.equal(wrongCa.status, 403);
    assert.match(wrongCa.body, /untrusted/);
    assert.equal(seen.length, before, 'blocked requests never reach the origin');

    const allowed = await runOk(curl, [
      '-s',
      '-w',
      '\n%{http_code}',
      '--cert',
      client.certPath,
      '--key',
      client.keyPath,
      ...resolve,
      `https://enforce.test:${edgePort}/hello?x=1`,
    ]);
    assert.equal(allowed.stdout, 'hello from origin\n200');
    assert.equal(lastSeen().url, '/hello?x=1');
    assert.equal(lastSeen().headers['gatehouse-client-cert-status'], 'valid');
    assert.equal(lastSeen().headers['x-forwarded-proto'], 'https');
    assert.equal(lastSeen().headers['x-forwarded-host'], 'enforce.test');
  });

  test("openssl s_client sees a certificate request naming the hostname's CAs", async () => {
    const openssl = requireTool('openssl');
    const r = await run(
      openssl,
      ['s_client', '-connect', `127.0.0.1:${edgePort}`, '-servername', 'enforce.test', '-CAfile', rootPath],
      { input: '' },
    );
    assert.match(r.stdout, /Acceptable client certificate CA names\n(?:.*\n)*?.*CN ?= ?Edge Org Issuing CA/);
    assert.match(r.stdout, /Verify return code: 0 \(ok\)/);
  });

  test('report: none, valid and invalid all reach the origin with status, reason and SKI; spoofed headers are dropped', async () => {
    const spoof = {
      'GATEHOUSE-Client-Cert-Status': 'valid',
      'gatehouse-client-cert-ski': 'forged',
      'X-Device-CN': 'admin',
      'x-forwarded-for': '10.0.0.1',
      'client-cert': ':Zm9v:',
    };
    const none = await edge('report.test', { headers: spoof });
    assert.equal(none.status, 200);
    let h = lastSeen().headers;
    assert.equal(h['gatehouse-client-cert-status'], 'none');
    assert.equal(h['gatehouse-client-cert-ski'], undefined);
    assert.equal(h['x-device-cn'], undefined);
    assert.equal(h['client-cert'], undefined);
    assert.equal(h['x-forwarded-for'], '127.0.0.1');

    await edge('report.test', { cert: stranger, headers: spoof });
    h = lastSeen().headers;
    assert.equal(h['gatehouse-client-cert-status'], 'invalid');
    assert.equal(h['gatehouse-client-cert-reason'], 'untrusted');
    assert.equal(h['gatehouse-client-cert-ski'], undefined, 'no details for an unverified certificate');

    await edge('report.test', { cert: client, headers: spoof });
    h = lastSeen().headers;
    const x509 = new X509Certificate(client.cert);
    const der = x509.raw;
    const ski = /Subject Key Identifier[^\n]*\n\s*([0-9A-F:]+)/
      .exec(
        (await runOk(requireTool('openssl'), ['x509', '-in', client.certPath, '-noout', '-text'])).stdout,
      )?.[1]
      ?.replaceAll(':', '')
      .toLowerCase();
    assert.equal(h['gatehouse-client-cert-status'], 'valid');
    assert.equal(h['gatehouse-client-cert-reason'], undefined);
    assert.equal(h['gatehouse-client-cert-ski'], ski);
    assert.equal(h['gatehouse-client-cert-sha256'], createHash('sha256').update(der).digest('hex'));
    assert.equal(h['gatehouse-client-cert-serial'], x509.serialNumber.toLowerCase());
    assert.equal(h['gatehouse-client-cert-subject'], 'CN=laptop-1,O=Edge Org');
    assert.match(String(h['gatehouse-client-cert-issuer']), /^CN=Edge Org Issuing CA/);
    assert.equal(h['gatehouse-client-cert-not-after'], new Date(x509.validTo).toISOString());
    // RFC 9440
    assert.equal(h['client-cert'], `:${der.toString('base64')}:`);
    assert.equal(h['client-cert-chain'], `:${new X509Certificate(rootIssuing()).raw.toString('base64')}:`);
    // Envoy XFCC
    const xfcc = String(h['x-forwarded-client-cert']);
    assert.ok(xfcc.startsWith(`Hash=${createHash('sha256').update(der).digest('hex')};Cert="`), xfcc);
    assert.ok(
      decodeURIComponent(/Cert="([^"]+)"/.exec(xfcc)?.[1] ?? '').includes(
        der.toString('base64').slice(0, 64),
      ),
    );
    assert.match(xfcc, /Subject="CN=laptop-1,O=Edge Org"/);
    assert.match(xfcc, new RegExp(`URI=urn:gatehouse:client-certificate:${client.id}`));
    // custom mappings
    assert.equal(h['x-device-cn'], 'laptop-1');
    assert.equal(h['x-cert-uri'], `urn:gatehouse:client-certificate:${client.id}`);
  });

  function rootIssuing(): string {
    return /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/.exec(issuingChain)?.[0] ?? '';
  }
  let issuingChain = '';
  before(async () => {
    const org = await api<{ ca_chain: string }>('GET', '/api/v1/organization');
    issuingChain = org.json.result.ca_chain;
  });

  test('headers are sent on every request of a keep-alive connection, not only the first', async () => {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await edge('report.test', { cert: client, agent });
      const second = await edge('report.test', { cert: client, agent });
      assert.equal(first.localPort, second.localPort, 'same connection');
      assert.equal(seen[seen.length - 2]?.headers['gatehouse-client-cert-status'], 'valid');
      assert.equal(lastSeen().headers['gatehouse-client-cert-status'], 'valid');
      assert.equal(lastSeen().headers['x-device-cn'], 'laptop-1');
    } finally {
      agent.destroy();
    }
  });

  test('SNI and Host must agree: 421, and the origin never sees the request', async () => {
    const before = seen.length;
    const r = await edge('report.test', { servername: 'enforce.test', cert: client });
    assert.equal(r.status, 421);
    const unknown = await edge('nowhere.test', { insecure: true });
    assert.equal(unknown.status, 421);
    assert.equal(seen.length, before);
  });

  test('a certificate revoked after the handshake stops working on the open keep-alive connection', async () => {
    const csr = await makeCsr(dir, 'to-revoke');
    const issued = await api<{ id: string; certificate: string }>('POST', '/api/v1/client_certificates', {
      csr: csr.pem,
    });
    const victim = { cert: issued.json.result.certificate, key: readFileSync(csr.keyPath, 'utf8') };
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const ok = await edge('enforce.test', { cert: victim, agent });
      assert.equal(ok.status, 200);
      const revoked = await api(
        'DELETE',
        `/api/v1/client_certificates/${issued.json.result.id}?reason=keyCompromise`,
      );
      assert.equal(revoked.status, 200);
      const started = Date.now();
      let r = ok;
      while (r.status === 200 && Date.now() - started < 1500) {
        await new Promise((res) => setTimeout(res, 50));
        r = await edge('enforce.test', { cert: victim, agent });
      }
      assert.equal(r.localPort, ok.localPort, 'still the same TLS connection');
      assert.equal(r.status, 403);
      assert.match(r.body, /revoked/);
    } finally {
      agent.destroy();
    }
  });

  for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
    test(`${version}: a session from another hostname (or from none) cannot be resumed to skip client authentication`, async () => {
      // First connection: the open hostname, no certificate. Keep whatever session/ticket it yields.
      const sessions: Buffer[] = [];
      await new Promise<void>((resolve, reject) => {
        const socket = tls.connect(
          {
            host: '127.0.0.1',
            port: edgePort,
            servername: 'open.test',
            ca: rootPem,
            minVersion: version,
            maxVersion: version,
          },
          () => {
            socket.write('GET / HTTP/1.1\r\nhost: open.test\r\nconnection: close\r\n\r\n');
          },
        );
        socket.on('session', (s: Buffer) => sessions.push(s));
        socket.on('data', () => {});
        socket.on('end', resolve);
        socket.on('error', reject);
      });
      // TLS 1.3: no ticket at all (NumTickets = 0), so there is nothing to resume in the first place.
      if (version === 'TLSv1.3') assert.equal(sessions.length, 0, 'the edge issued TLS 1.3 session tickets');
      // Try to resume it on the enforce hostname (and on the same hostname) without a certificate.
      for (const servername of ['enforce.test', 'open.test']) {
        for (const session of sessions.length > 0 ? sessions : [undefined]) {
          const { reused, response } = await new Promise<{ reused: boolean; response: string }>(
            (resolve, reject) => {
              let response = '';
              const socket = tls.connect(
                {
                  host: '127.0.0.1',
                  port: edgePort,
                  servername,
                  ca: rootPem,
                  session,
                  minVersion: version,
                  maxVersion: version,
                },
                () => {
                  socket.write(`GET / HTTP/1.1\r\nhost: ${servername}\r\nconnection: close\r\n\r\n`);
                },
              );
              socket.on('data', (d) => (response += d));
              socket.on('end', () => resolve({ reused: socket.isSessionReused(), response }));
              socket.on('error', reject);
            },
          );
          assert.equal(reused, false, `${version} session resumed on ${servername}`);
          if (servername === 'enforce.test') assert.match(response, /^HTTP\/1\.1 403/);
        }
      }
    });
  }

  test('configuration changes reach the running edge within a second', async () => {
    const r = await api('PUT', `/api/v1/hostnames/${hostIds['open.test']}`, {
      hostname: 'open.test',
      origin: originUrl,
      client_auth: { mode: 'enforce', mtls_certificate_ids: [ORG_CA_ID] },
    });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const ms = await waitForEdge('open.test', (s) => s === 403);
    assert.ok(ms < 1500);
    const back = await api('PUT', `/api/v1/hostnames/${hostIds['open.test']}`, {
      hostname: 'open.test',
      origin: originUrl,
      client_auth: { mode: 'off', mtls_certificate_ids: [] },
    });
    assert.equal(back.status, 200);
    await waitForEdge('open.test', (s) => s === 200);
  });

  test('malformed and smuggling requests get 400 and are never forwarded', async () => {
    const attempts = [
      'POST / HTTP/1.1\r\nhost: open.test\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n',
      'GET / HTTP/1.1\r\nhost: open.test\r\nx-folded: a\r\n b\r\n\r\n',
      'POST / HTTP/1.1\r\nhost: open.test\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n',
      'GET / HTTP/1.1\r\nhost: open.test\r\nx-big: ' + 'a'.repeat(20_000) + '\r\n\r\n',
    ];
    const before = seen.length;
    for (const raw of attempts) {
      const response = await new Promise<string>((resolve, reject) => {
        let out = '';
        const socket = tls.connect(
          { host: '127.0.0.1', port: edgePort, servername: 'open.test', ca: rootPem },
          () => socket.write(raw),
        );
        socket.on('data', (d) => (out += d));
        socket.on('end', () => resolve(out));
        socket.on('close', () => resolve(out));
        socket.on('error', reject);
      });
      assert.match(
        response,
        /^HTTP\/1\.1 (400|431) /,
        `${JSON.stringify(raw.slice(0, 60))} → ${response.slice(0, 40)}`,
      );
    }
    assert.equal(seen.length, before);
  });

  test('a malformed Host or an absolute-form target naming another host is refused; one naming this host is forwarded as a path', async () => {
    const exchange = (raw: string) =>
      new Promise<string>((resolve, reject) => {
        let out = '';
        const socket = tls.connect(
          { host: '127.0.0.1', port: edgePort, servername: 'open.test', ca: rootPem },
          () => socket.write(raw),
        );
        socket.on('data', (d) => {
          out += d;
          if (/\r\n\r\n/.test(out)) socket.end();
        });
        socket.on('close', () => resolve(out));
        socket.on('error', reject);
      });
    const before = seen.length;
    for (const raw of [
      'GET / HTTP/1.1\r\nhost: open.test:@evil.example\r\n\r\n',
      'GET / HTTP/1.1\r\nhost: [::1]junk\r\n\r\n',
      'GET https://other.vhost/secret HTTP/1.1\r\nhost: open.test\r\n\r\n',
      'GET https://user@open.test/secret HTTP/1.1\r\nhost: open.test\r\n\r\n',
    ]) {
      const response = await exchange(raw);
      assert.match(response, /^HTTP\/1\.1 400 /, `${JSON.stringify(raw)} → ${response.slice(0, 60)}`);
    }
    assert.equal(seen.length, before, 'nothing reached the origin');
    const same = await exchange('GET https://OPEN.test:443/here?x=1 HTTP/1.1\r\nhost: open.test\r\n\r\n');
    assert.match(same, /^HTTP\/1\.1 200 /);
    assert.equal(lastSeen().url, '/here?x=1', 'forwarded in origin form');
  });

  test('an oversized client certificate is refused before it is parsed', async () => {
    const sans = Array.from({ length: 1500 }, (_, i) => `DNS:n${i}.big.example`).join(',');
    const big = await makeSelfSigned(dir, 'big-leaf', { extensions: [`subjectAltName=${sans}`] });
    assert.ok(big.pem.length > 20_000);
    const r = await edge('report.test', {
      cert: { cert: big.pem, key: readFileSync(big.keyPath, 'utf8') },
    });
    assert.equal(r.status, 200);
    assert.equal(lastSeen().headers['gatehouse-client-cert-status'], 'invalid');
    assert.equal(lastSeen().headers['gatehouse-client-cert-reason'], 'certificate_too_large');
  });

  test('connections refused whatever they ask get each answer with connection: close, and nothing reaches the origin', async () => {
    /** Writes `chunks` (one per tick) on a new TLS connection and returns all it receives until closed. */
    const exchange = (servername: string, chunks: string[], cert?: { cert: string; key: string }) =>
      new Promise<string>((resolve, reject) => {
        let out = '';
        const socket = tls.connect(
          {
            host: '127.0.0.1',
            port: edgePort,
            servername,
            ca: rootPem,
            // nowhere.test gets the default certificate, as it should.
            checkServerIdentity: () => undefined,
            ...(cert ?? {}),
          },
          async () => {
            for (const chunk of chunks) {
              socket.write(chunk);
              await new Promise((r) => setTimeout(r, 20));
            }
          },
        );
        socket.on('data', (d) => (out += d));
        socket.on('close', () => resolve(out));
        socket.on('error', (err: NodeJS.ErrnoException) =>
          err.code === 'ECONNRESET' || err.code === 'EPIPE' ? resolve(out) : reject(err),
        );
      });
    const before = seen.length;
    const head = (extra: string) => `GET /x HTTP/1.1\r\nhost: enforce.test\r\n${extra}\r\n`;

    // Enforce without a certificate: the hostname's JSON or its HTML page, by Accept.
    const json = await exchange('enforce.test', [head('accept: application/json\r\n')]);
    assert.match(json, /^HTTP\/1\.1 403 Forbidden\r\n/);
    assert.match(json, /\r\nconnection: close\r\n/i);
    assert.match(json, /\r\ncontent-type: application\/json/i);
    assert.deepEqual(JSON.parse(json.slice(json.indexOf('\r\n\r\n') + 4)), {
      error: 'certificate needed',
      docs: 'https://intranet/mtls',
    });
    // A head split over several packets; a body and a pipelined request after it are ignored.
    const split = await exchange('enforce.test', [
      'POST /x HTTP/1.1\r\nho',
      'st: enforce.test\r\ncontent-length: 5\r\n\r\nhello',
      'GET / HTTP/1.1\r\nhost: enforce.test\r\n\r\n',
    ]);
    assert.match(split, /^HTTP\/1\.1 403 /);
    assert.equal(split.match(/HTTP\/1\.1/g)?.length, 1, 'one answer, then the connection closes');
    // HEAD: the headers of the page, no body.
    const headOnly = await exchange('enforce.test', ['HEAD / HTTP/1.1\r\nhost: enforce.test\r\n\r\n']);
    assert.match(headOnly, /^HTTP\/1\.1 403 [^]*content-length: [1-9][0-9]*\r\n[^]*\r\n\r\n$/i);
    // A certificate from an unknown CA: the page states why.
    const untrusted = await exchange('enforce.test', [head('')], stranger);
    assert.match(untrusted, /^HTTP\/1\.1 403 [^]*untrusted/);
    // SNI and Host still have to agree, and a Host is still required.
    assert.match(
      await exchange('enforce.test', ['GET / HTTP/1.1\r\nhost: open.test\r\n\r\n']),
      /^HTTP\/1\.1 421 /,
    );
    assert.match(await exchange('enforce.test', ['GET / HTTP/1.1\r\n\r\n']), /^HTTP\/1\.1 400 /);
    // Unknown SNI: nothing is served there.
    assert.match(
      await exchange('nowhere.test', ['GET / HTTP/1.1\r\nhost: nowhere.test\r\n\r\n']),
      /^HTTP\/1\.1 421 [^]*unknown_hostname/,
    );
    // Malformed or oversized heads: 400 / 431, as on the normal path.
    for (const raw of [
      head('host: enforce.test\r\n'), // a second Host
      head('x-folded: a\r\n b\r\n'),
      'GET / HTTP/1.1\nhost: enforce.test\n\n\r\n\r\n',
      'GET /a b HTTP/1.1\r\nhost: enforce.test\r\n\r\n',
      'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
    ])
      assert.match(await exchange('enforce.test', [raw]), /^HTTP\/1\.1 400 /, JSON.stringify(raw));
    assert.match(
      await exchange('enforce.test', [head(`x-big: ${'a'.repeat(20_000)}\r\n`)]),
      /^HTTP\/1\.1 431 /,
    );
    assert.equal(seen.length, before, 'nothing reached the origin');
  });

  test('WebSocket upgrades are tunnelled to the origin, and blocked without a certificate in enforce mode', async () => {
    const upgrade = (servername: string, cert?: { cert: string; key: string }) =>
      new Promise<string>((resolve, reject) => {
        let out = '';
        const socket = tls.connect(
          { host: '127.0.0.1', port: edgePort, servername, ca: rootPem, ...(cert ?? {}) },
          () => {
            socket.write(
              `GET /ws HTTP/1.1\r\nhost: ${servername}\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n`,
            );
          },
        );
        socket.on('data', (d) => {
          out += d;
          if (out.includes('\r\n\r\n') && out.startsWith('HTTP/1.1 101') && !out.includes('ping'))
            socket.write('ping');
          if (out.endsWith('ping')) socket.end();
        });
        socket.on('close', () => resolve(out));
        socket.on('error', reject);
      });
    const tunnelled = await upgrade('enforce.test', client);
    assert.match(tunnelled, /^HTTP\/1\.1 101 /);
    assert.ok(tunnelled.endsWith('ping'), 'bytes flow both ways through the tunnel');
    assert.equal(lastSeen().url, '/ws');
    assert.equal(lastSeen().headers['gatehouse-client-cert-status'], 'valid');
    const before = seen.length;
    const blocked = await upgrade('enforce.test');
    assert.match(blocked, /^HTTP\/1\.1 403 Forbidden/);
    assert.equal(seen.length, before);
  });

  test('an origin that is down gives 502 with a clear body', async () => {
    const r = await api('POST', '/api/v1/hostnames', {
      hostname: 'down.test',
      origin: 'http://127.0.0.1:1',
      client_auth: { mode: 'off', mtls_certificate_ids: [] },
    });
    assert.equal(r.status, 201);
    await waitForEdge('down.test');
    const res = await edge('down.test', { headers: { accept: 'application/json' } });
    assert.equal(res.status, 502);
    assert.equal(JSON.parse(res.body).error, 'bad_gateway');
  });

  test("edge metrics are exported through the API's /metrics", async () => {
    const res = await new Promise<string>((resolve, reject) => {
      https
        .get(`${server.url}/metrics`, { ca: rootPem }, (r) => {
          let d = '';
          r.on('data', (c) => (d += c));
          r.on('end', () => resolve(d));
        })
        .on('error', reject);
    });
    assert.match(
      res,
      /gatehouse_edge_requests_total\{hostname="enforce.test",mode="enforce",cert_status="none",code="403"\} [1-9]/,
    );
    assert.match(
      res,
      /gatehouse_edge_tls_handshakes_total\{hostname="report.test",client_cert="presented"\} [1-9]/,
    );
    // The upstream latency histogram: cumulative buckets ending in +Inf = count, and a sum.
    const count = Number(
      /gatehouse_edge_upstream_duration_seconds_count\{hostname="enforce.test"\} (\d+)/.exec(res)?.[1],
    );
    assert.ok(count > 0, 'upstream requests were observed');
    assert.match(
      res,
      new RegExp(
        `gatehouse_edge_upstream_duration_seconds_bucket\\{hostname="enforce.test",le="\\+Inf"\\} ${count}\\n`,
      ),
    );
    assert.match(res, /gatehouse_edge_upstream_duration_seconds_sum\{hostname="enforce.test"\} [0-9.e-]+/);
    assert.match(res, /# TYPE gatehouse_edge_upstream_duration_seconds histogram/);
  });
});
