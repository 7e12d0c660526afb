// Device posture in access policies, end to end: a real `gatehouse serve`, the agent registered
// with a software key, an NSS database built with certutil/pk12util, and curl presenting the
// device's registration certificate at the edge. Passing posture lets the device through; once
// the certificate is removed and the next result reported, it is stopped (sessions included).
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startDeviceOrg } from '../helpers/device-org.js';
import { adminApi, CLI, edgeCurl, gatehouse, type RunningServer } from '../helpers/gatehouse.js';
import { deleteCertificate, importWithKey, makeNssDb } from '../helpers/nss.js';
import { type CaFiles, makeLeafCert, makeRootCa } from '../helpers/openssl.js';

const ORG = 'Edge Posture Org';
const ORG_CA_ID = '00000000-0000-4000-8000-000000000001';
const HOST = 'posture.test';
const SERIAL = 'EDGE-1';

describe('device posture at the edge', () => {
  let dir: string;
  let server: RunningServer;
  let origin: Server;
  let edgePort: number;
  let adminToken: string;
  let rootPem: string;
  let rootPath: string;
  let stateDir: string;
  let regCert: { certPath: string; keyPath: string };
  let corp: CaFiles;
  let nssdb: string;
  let ruleId: string;
  let ruleBody: Record<string, unknown>;
  let appId: string;
  let daemon: ChildProcess | undefined;
  const api = adminApi(
    () => server.url,
    () => adminToken,
    () => rootPem,
  );

  const curl = edgeCurl(
    HOST,
    () => edgePort,
    () => rootPath,
  );
  const asDevice = () => ['--cert', regCert.certPath, '--key', regCert.keyPath];

  /** Waits (up to `ms`) until a request with the registration certificate gets `status`. */
  async function until(status: number, ms = 5000, extra: string[] = []): Promise<number> {
    const started = Date.now();
    let last = 0;
    while (Date.now() - started < ms) {
      // Until it knows the hostname the edge presents its default certificate (curl exits 60).
      last = await curl('/', [...asDevice(), ...extra]).then(
        (r) => r.status,
        () => 0,
      );
      if (last === status) return Date.now() - started;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.fail(`expected ${status} within ${ms} ms, last ${last}`);
  }

  async function posture(): Promise<{ success: boolean; reasons: string[] }> {
    const r = await gatehouse(['device', 'posture', '--state-dir', stateDir, '--nssdb', nssdb, '--json'], {
      env: { GATEHOUSE_LOG_LEVEL: 'warn' },
    });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    return (JSON.parse(r.stdout) as { success: boolean; reasons: string[] }[])[0] as {
      success: boolean;
      reasons: string[];
    };
  }

  /** The application: managed devices (passing `postureRule`), or any valid certificate without one. */
  const appBody = (postureRule?: string) => ({
    name: 'Posture app',
    domain: HOST,
    session_duration: '24h',
    policies: [
      {
        name: 'managed devices',
        decision: 'non_identity',
        include: [postureRule ? { device_posture: { integration_uid: postureRule } } : { certificate: {} }],
      },
    ],
  });
  const sessionCookie = (head: string) =>
    /set-cookie: Gatehouse_Authorization=([^;]+)/i.exec(head)?.[1] ?? '';

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-posture-edge-'));
    ({ server, adminToken, rootPem, rootPath, stateDir } = await startDeviceOrg(dir, ORG, SERIAL));
    edgePort = Number(new URL(server.edgeUrl).port);

    origin = createServer((req, res) =>
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`origin ${req.url}`),
    );
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));

    // The device, registered by the agent with a (software) key and a certificate from the org CA.
    const state = JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8')) as {
      key_reference: { file: string };
    };
    regCert = { certPath: join(stateDir, 'cert.pem'), keyPath: join(stateDir, state.key_reference.file) };

    // The admin: a CA for device certificates, a posture rule, and an application requiring it.
    corp = await makeRootCa(dir, 'corp');
    const ca = await api<{ id: string }>('POST', '/api/v1/mtls_certificates', {
      name: 'corp',
      certificates: corp.pem,
      ca: true,
    });
    ruleBody = {
      name: 'corp certificate',
      type: 'client_certificate_v2',
      schedule: '5s',
      expiration: '1h',
      match: [{ platform: 'linux' }],
      input: {
        certificate_id: ca.json.result.id,
        operating_system: 'linux',
        check_private_key: true,
        cn: '${serial_number}',
        extended_key_usage: ['clientAuth'],
      },
    };
    const rule = await api<{ id: string }>('POST', '/api/v1/devices/posture', ruleBody);
    assert.equal(rule.status, 201, JSON.stringify(rule.json));
    ruleId = rule.json.result.id;
    const host = await api('POST', '/api/v1/hostnames', {
      hostname: HOST,
      origin: `http://127.0.0.1:${(origin.address() as AddressInfo).port}`,
      client_auth: { mode: 'report', mtls_certificate_ids: [ORG_CA_ID] },
    });
    assert.equal(host.status, 201, JSON.stringify(host.json));
    const app = await api<{ id: string }>('POST', '/api/v1/access/apps', appBody(ruleId));
    assert.equal(app.status, 201, JSON.stringify(app.json));
    appId = app.json.result.id;

    nssdb = await makeNssDb(join(dir, 'nssdb'));
    await importWithKey(nssdb, 'corp device', await makeLeafCert(dir, 'device', corp, { cn: SERIAL }));
  });

  after(async () => {
    if (daemon && daemon.exitCode === null) {
      daemon.kill('SIGTERM');
      await new Promise((r) => daemon?.once('exit', r));
    }
    if (server) assert.equal(await server.stop(), 0, server.output());
    await new Promise<void>((r) => origin?.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  test('no result yet: the device is stopped', async () => {
    await until(403);
    assert.equal((await curl('/')).status, 403, 'no certificate');
  });

  let cookie = '';
  test('a passing result lets the device (and only its certificate) through', async (t) => {
    const o = await posture();
    assert.equal(o.success, true, JSON.stringify(o));
    const ms = await until(200);
    assert.ok(ms < 2000, `the edge saw the result after ${ms} ms`);
    t.diagnostic(`the edge let the device through ${ms} ms after the report returned`);
    const allowed = await curl('/page', asDevice());
    assert.equal(allowed.status, 200);
    assert.match(allowed.body, /origin \/page/);
    cookie = sessionCookie(allowed.head);
    assert.ok(cookie, allowed.head);
    // Another certificate from the same org CA (not the registration's): no posture, no access.
    const other = await makeLeafCert(dir, 'stranger', corp, { cn: SERIAL });
    assert.equal((await curl('/', ['--cert', other.certPath, '--key', other.keyPath])).status, 403);
  });

  test('certificate removed and the next result reported: stopped, session cookie included', async (t) => {
    await deleteCertificate(nssdb, 'corp device');
    const o = await posture();
    assert.equal(o.success, false);
    assert.deepEqual(o.reasons, ['not_found']);
    t.diagnostic(`the edge stopped the device ${await until(403)} ms after the report returned`);
    assert.equal(
      (await curl('/', [...asDevice(), '-H', `cookie: Gatehouse_Authorization=${cookie}`])).status,
      403,
      'a session granted on posture ends with it',
    );
    const logs = await api<{ success: boolean; reasons: string[] }[]>(
      'GET',
      `/api/v1/devices/posture/logs?rule_id=${ruleId}`,
    );
    assert.deepEqual(
      logs.json.result.map((r) => r.success),
      [false, true],
    );
  });

  test('gatehouse device run re-evaluates on the rule schedule', async () => {
    daemon = spawn(process.execPath, [CLI, 'device', 'run', '--state-dir', stateDir, '--nssdb', nssdb], {
      env: { ...process.env, GATEHOUSE_AGENT_INTERVAL_MS: '600000', GATEHOUSE_LOG_LEVEL: 'warn' },
      stdio: 'ignore',
    });
    // The daemon's first round reports the failure; the certificate then comes back, and the next
    // scheduled evaluation (5 s) reports a pass without anyone running `device posture`.
    await new Promise((r) => setTimeout(r, 2000));
    await importWithKey(nssdb, 'corp device', await makeLeafCert(dir, 'device-again', corp, { cn: SERIAL }));
    await until(200, 15_000);
    daemon.kill('SIGTERM');
    await new Promise((r) => daemon?.once('exit', r));
  });

  test('a replaced rule stops the device (sessions included) until it reports under the new rule', async (t) => {
    const allowed = await curl('/', asDevice());
    assert.equal(allowed.status, 200);
    const before = sessionCookie(allowed.head);
    assert.ok(before, allowed.head);
    // Same requirements or not, the rule may have changed: the results judged under it stop counting.
    const replaced = await api('PUT', `/api/v1/devices/posture/${ruleId}`, ruleBody);
    assert.equal(replaced.status, 200, JSON.stringify(replaced.json));
    const ms = await until(403);
    assert.ok(ms < 2000, `the edge dropped the result after ${ms} ms`);
    t.diagnostic(`the edge stopped the device ${ms} ms after the rule was replaced`);
    assert.equal(
      (await curl('/', [...asDevice(), '-H', `cookie: Gatehouse_Authorization=${before}`])).status,
      403,
    );
    const o = await posture();
    assert.equal(o.success, true, JSON.stringify(o));
    await until(200);
    const logs = await api<unknown[]>('GET', `/api/v1/devices/posture/logs?rule_id=${ruleId}`);
    assert.ok(logs.json.result.length >= 4, 'the history stays');
  });

  test('a session from before the app required posture does not skip it', async () => {
    // Certificate only: the session cookie lists no posture.
    assert.equal((await api('PUT', `/api/v1/access/apps/${appId}`, appBody())).status, 200);
    const other = await api<{ id: string }>('POST', '/api/v1/devices/posture', {
      ...ruleBody,
      name: 'never reported',
    });
    assert.equal(other.status, 201, JSON.stringify(other.json));
    await deleteCertificate(nssdb, 'corp device'); // the device now passes no posture at all
    assert.equal((await posture()).success, false);
    await until(200);
    const allowed = await curl('/', asDevice());
    const early = sessionCookie(allowed.head);
    assert.ok(early, allowed.head);
    // The app now requires a rule the device does not pass: its older session must not let it in.
    const now = await api('PUT', `/api/v1/access/apps/${appId}`, appBody(other.json.result.id));
    assert.equal(now.status, 200, JSON.stringify(now.json));
    await until(403);
    assert.equal(
      (await curl('/', [...asDevice(), '-H', `cookie: Gatehouse_Authorization=${early}`])).status,
      403,
      'an older session lists no posture, yet the app requires one now',
    );
  });
});
