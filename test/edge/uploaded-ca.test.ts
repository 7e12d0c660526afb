// An admin's own CA behind the edge: uploaded chain, attached CRL (revocation, expiry failing
// closed, forged CRLs refused), deletion refused while in use, and `gatehouse edge` run alone.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { createCrl } from '../../src/pki/index.js';
import {
  adminApi,
  CLI,
  edgeRequest,
  gatehouse,
  type RunningServer,
  startServer,
} from '../helpers/gatehouse.js';
import { type CaFiles, makeRootCa, makeSignedCert } from '../helpers/openssl.js';

describe('uploaded CAs at the edge', () => {
  let dir: string;
  let dataDir: string;
  let server: RunningServer;
  let token: string;
  let rootPem: string;
  let origin: Server;
  let originUrl: string;
  let edgePort: number;
  let adminRoot: CaFiles;
  let adminIssuing: CaFiles;
  let leaf: { cert: string; key: string; serial: string };
  let caId: string;
  let hostId: string;

  const api = adminApi(
    () => server.url,
    () => token,
    () => rootPem,
  );

  const request = (port: number, cert?: { cert: string; key: string }) =>
    edgeRequest(port, 'corp.test', rootPem, cert);

  /** Polls until the edge answers `status` (config changes land within a second). */
  async function expectSoon(status: number, cert = leaf): Promise<{ status: number; body: string }> {
    const started = Date.now();
    for (;;) {
      const r = await request(edgePort, cert).catch((err: Error) => ({ status: -1, body: err.message }));
      if (r.status === status || Date.now() - started > 1500) return r;
      await new Promise((res) => setTimeout(res, 50));
    }
  }

  const signer = (ca: CaFiles) => ({
    certificatePem: ca.pem,
    privateKeyPem: readFileSync(ca.keyPath, 'utf8'),
  });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-upload-'));
    dataDir = join(dir, 'data');
    origin = createServer((_req, res) => res.end('origin says hi'));
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
    originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
    const init = await gatehouse(['init', '--data-dir', dataDir, '--org', 'Upload Org', '--json']);
    const out = JSON.parse(init.stdout) as { admin_token: string; root_ca_pem: string };
    token = out.admin_token;
    rootPem = out.root_ca_pem;
    server = await startServer(['--data-dir', dataDir]);
    edgePort = Number(new URL(server.edgeUrl).port);

    adminRoot = await makeRootCa(dir, 'corp-root');
    adminIssuing = await makeSignedCert(dir, 'corp-issuing', adminRoot);
    const leafFiles = await makeSignedCert(dir, 'corp-device', adminIssuing, { ca: false });
    leaf = {
      cert: leafFiles.pem,
      key: readFileSync(leafFiles.keyPath, 'utf8'),
      serial: new X509Certificate(leafFiles.pem).serialNumber,
    };

    const up = await api('POST', '/api/v1/mtls_certificates', {
      name: 'Corp',
      certificates: adminIssuing.pem + adminRoot.pem,
      ca: true,
    });
    assert.equal(up.status, 201);
    caId = up.json.result.id as string;
    const host = await api('POST', '/api/v1/hostnames', {
      hostname: 'corp.test',
      origin: originUrl,
      client_auth: { mode: 'enforce', mtls_certificate_ids: [caId] },
    });
    assert.equal(host.status, 201, JSON.stringify(host.json));
    hostId = host.json.result.id as string;
  });

  after(async () => {
    if (server) assert.equal(await server.stop(), 0, server.output());
    await new Promise<void>((r) => origin?.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  test('a leaf issued by the uploaded intermediate is accepted (chain built server-side)', async () => {
    const r = await expectSoon(200);
    assert.equal(r.status, 200);
    assert.equal(r.body, 'origin says hi');
  });

  test('the CA cannot be deleted while a hostname uses it', async () => {
    const del = await api('DELETE', `/api/v1/mtls_certificates/${caId}`);
    assert.equal(del.status, 409);
    assert.equal(del.json.errors[0]?.code, 'ca_in_use');
    assert.match(del.json.errors[0]?.message ?? '', /1 hostnames/);
  });

  test('a CRL signed by someone else, or garbage, is refused and changes nothing', async () => {
    const stranger = await makeRootCa(dir, 'crl-stranger');
    const now = new Date();
    const forged = await createCrl({
      issuer: signer(stranger),
      crlNumber: 1n,
      thisUpdate: now,
      nextUpdate: new Date(now.getTime() + 86_400_000),
      revoked: [{ serialNumber: leaf.serial, revokedAt: now }],
    });
    const refused = await api('PUT', `/api/v1/mtls_certificates/${caId}/crl`, { crl: forged.pem });
    assert.equal(refused.status, 400);
    assert.equal(refused.json.errors[0]?.code, 'crl_issuer_mismatch');
    const garbage = await api('PUT', `/api/v1/mtls_certificates/${caId}/crl`, { crl: 'not a crl' });
    assert.equal(garbage.status, 400);
    assert.equal((await api('GET', `/api/v1/mtls_certificates/${caId}/crl`)).status, 404);
    assert.equal((await request(edgePort, leaf)).status, 200);
  });

  test('an attached CRL revokes at the edge; one past its nextUpdate fails closed', async () => {
    const now = new Date();
    const crl = await createCrl({
      issuer: signer(adminIssuing),
      crlNumber: 1n,
      thisUpdate: now,
      nextUpdate: new Date(now.getTime() + 86_400_000),
      revoked: [{ serialNumber: leaf.serial, revokedAt: now, reason: 'keyCompromise' }],
    });
    const attached = await api('PUT', `/api/v1/mtls_certificates/${caId}/crl`, { crl: crl.pem });
    assert.equal(attached.status, 200, JSON.stringify(attached.json));
    assert.equal(attached.json.result.revoked_count, 1);
    const revoked = await expectSoon(403);
    assert.equal(revoked.status, 403);
    assert.match(revoked.body, /revoked/);

    const stale = await createCrl({
      issuer: signer(adminIssuing),
      crlNumber: 2n,
      thisUpdate: new Date(now.getTime() - 7_200_000),
      nextUpdate: new Date(now.getTime() - 3_600_000),
      revoked: [],
    });
    assert.equal((await api('PUT', `/api/v1/mtls_certificates/${caId}/crl`, { crl: stale.pem })).status, 200);
    // Still 403 before and after the reload, so wait for the reason to change instead.
    const started = Date.now();
    let after = await request(edgePort, leaf);
    while (!/crl_expired/.test(after.body) && Date.now() - started < 1500) {
      await new Promise((res) => setTimeout(res, 50));
      after = await request(edgePort, leaf);
    }
    assert.equal(after.status, 403);
    assert.match(after.body, /crl_expired/);

    assert.equal((await api('DELETE', `/api/v1/mtls_certificates/${caId}/crl`)).status, 200);
    assert.equal((await expectSoon(200)).status, 200);
  });

  test('`gatehouse edge` runs alone against the same store', async () => {
    const child = spawn(
      process.execPath,
      [CLI, 'edge', '--data-dir', dataDir, '--edge-listen', '127.0.0.1:0', '--workers', '1'],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GATEHOUSE_LOG_LEVEL: 'warn' } },
    );
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d) => {
          out += d;
          const m = /edge listening on (https:\/\/\S+)/.exec(out);
          if (m) resolve(m[1] as string);
        });
        child.once('exit', (code) => reject(new Error(`edge exited with ${code}: ${out}`)));
      });
      const r = await request(Number(new URL(url).port), leaf);
      assert.equal(r.status, 200);
      assert.equal(r.body, 'origin says hi');
    } finally {
      const exited = new Promise((res) => child.once('exit', res));
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    }
  });

  test('deleting the hostname frees the CA', async () => {
    assert.equal((await api('DELETE', `/api/v1/hostnames/${hostId}`)).status, 200);
    assert.equal((await api('DELETE', `/api/v1/mtls_certificates/${caId}`)).status, 200);
  });
});
