// The certificate-derived access rules end to end (issues 12 and 16): a real `gatehouse serve`,
// a device registered by the real agent (software key: assurance `software`), curl or node:https
// presenting certificates at the edge.
//   - device_assurance: the registration's certificate passes a `software` rule, a plain issued
//     certificate of the same CA does not; a session stops working when the rule tightens or the
//     registration ends. (tpm_attested against hardware_claimed, with a real swtpm, is in
//     test/devices/attestation-cli.test.ts.)
//   - certificate_policy: leaves made here, under an uploaded CA, pass when their path is valid
//     for the required policy — the chain counts, not the leaf's own extension.
//   - write-time refusals with their codes.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type DeviceOrg, startDeviceOrg } from '../helpers/device-org.js';
import { edgeCurl, edgeRequest } from '../helpers/gatehouse.js';
import { makeCsr } from '../helpers/openssl.js';
import { clientCertOf, makeCa, makeLeaf, makeRoot, x509 } from '../pki/verify/fixtures.js';

const ORG = 'Certificate Rules Org';
const ORG_CA_ID = '00000000-0000-4000-8000-000000000001';
const HOST = 'rules.test';
const PIV_HOST = 'piv.rules.test';
const PIV_AUTH = '2.16.840.1.101.3.2.1.3.13';
const OTHER = '2.16.840.1.101.3.2.1.3.7';
const ANY_POLICY = '2.5.29.32.0';

const policies = (...oids: string[]) => new x509.CertificatePolicyExtension(oids);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('device_assurance and certificate_policy rules at the edge', () => {
  let dir: string;
  let org: DeviceOrg;
  let origin: Server;
  let originUrl: string;
  let edgePort: number;
  let deviceCert: { certPath: string; keyPath: string };
  let plainCert: { certPath: string; keyPath: string };
  let appId: string;
  let pivCaId: string;
  const certs: Record<string, { cert: string; key: string }> = {};

  const curl = edgeCurl(
    HOST,
    () => edgePort,
    () => org.rootPath,
  );
  const withCert = (c: { certPath: string; keyPath: string }) => ['--cert', c.certPath, '--key', c.keyPath];
  const cookieOf = (head: string) => /set-cookie: Gatehouse_Authorization=([^;]+)/i.exec(head)?.[1] ?? '';
  const deviceApp = (level: string) => ({
    name: 'Devices',
    domain: HOST,
    session_duration: '24h',
    policies: [{ name: 'devices', decision: 'non_identity', include: [{ device_assurance: { level } }] }],
  });

  /** Polls until `request` answers `status` (edges reload within a second); returns the last answer. */
  async function until<T extends { status: number }>(status: number, request: () => Promise<T>, ms = 5000) {
    const started = Date.now();
    let last: T | undefined;
    while (Date.now() - started < ms) {
      last = await request().catch(() => undefined);
      if (last?.status === status) return last;
      await sleep(100);
    }
    assert.fail(`expected ${status} within ${ms} ms, last ${last?.status}`);
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-cert-rules-'));
    org = await startDeviceOrg(dir, ORG, 'RULES-1');
    edgePort = Number(new URL(org.server.edgeUrl).port);
    origin = createServer((req, res) => res.writeHead(200).end(`origin ${req.url}`));
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
    originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;

    const state = JSON.parse(readFileSync(join(org.stateDir, 'state.json'), 'utf8')) as {
      key_reference: { file: string };
    };
    deviceCert = {
      certPath: join(org.stateDir, 'cert.pem'),
      keyPath: join(org.stateDir, state.key_reference.file),
    };
    // A certificate of the same org CA, issued by the admin: valid, but no device registration.
    const csr = await makeCsr(dir, 'plain');
    const issued = await org.api<{ certificate: string }>('POST', '/api/v1/client_certificates', {
      csr: csr.pem,
      common_name: 'plain-1',
    });
    assert.equal(issued.status, 201, JSON.stringify(issued.json));
    plainCert = { certPath: join(dir, 'plain.pem'), keyPath: csr.keyPath };
    writeFileSync(plainCert.certPath, issued.json.result.certificate);

    // A PKI with certificate policies: a root, and an intermediate that only allows OTHER.
    const root = await makeRoot({ name: 'CN=PIV Root' });
    const narrow = await makeCa(root, { name: 'CN=Narrow CA', extensions: [policies(OTHER)] });
    const leaf = (name: string, issuer = root, ...oids: string[]) =>
      makeLeaf(issuer, { name: `CN=${name}`, ...(oids.length ? { extensions: [policies(...oids)] } : {}) });
    certs.piv = await clientCertOf(await leaf('piv', root, PIV_AUTH));
    certs.other = await clientCertOf(await leaf('other', root, OTHER));
    certs.none = await clientCertOf(await leaf('none'));
    certs.any = await clientCertOf(await leaf('any', root, ANY_POLICY));
    certs.narrowPiv = await clientCertOf(await leaf('narrow-piv', narrow, PIV_AUTH, OTHER));
    const up = await org.api<{ id: string }>('POST', '/api/v1/mtls_certificates', {
      name: 'PIV',
      certificates: narrow.pem + root.pem,
      ca: true,
    });
    assert.equal(up.status, 201, JSON.stringify(up.json));
    pivCaId = up.json.result.id;

    for (const [hostname, caId] of [
      [HOST, ORG_CA_ID],
      [PIV_HOST, pivCaId],
    ] as const) {
      const host = await org.api('POST', '/api/v1/hostnames', {
        hostname,
        origin: originUrl,
        client_auth: { mode: 'report', mtls_certificate_ids: [caId] },
      });
      assert.equal(host.status, 201, JSON.stringify(host.json));
    }
    const app = await org.api<{ id: string }>('POST', '/api/v1/access/apps', deviceApp('software'));
    assert.equal(app.status, 201, JSON.stringify(app.json));
    appId = app.json.result.id;
    const piv = await org.api('POST', '/api/v1/access/apps', {
      name: 'PIV only',
      domain: PIV_HOST,
      policies: [
        { name: 'piv', decision: 'non_identity', include: [{ certificate_policy: { oids: [PIV_AUTH] } }] },
      ],
    });
    assert.equal(piv.status, 201, JSON.stringify(piv.json));
  });

  after(async () => {
    if (org?.server) assert.equal(await org.server.stop(), 0, org.server.output());
    await new Promise<void>((r) => origin?.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  test('write time: a misspelt level or a malformed OID is a 400 with its code, nothing stored', async () => {
    const count = async () => (await org.api<unknown[]>('GET', '/api/v1/access/apps')).json.result.length;
    const before = await count();
    for (const [rule, code] of [
      [{ device_assurance: { level: 'TPM_ATTESTED' } }, 'invalid_assurance_level'],
      [{ device_assurance: { level: ' tpm_attested' } }, 'invalid_assurance_level'],
      [{ certificate_policy: { oids: ['2.16.840.01.101'] } }, 'invalid_policy_oid'],
      [{ certificate_policy: { oids: ['2.16.x'] } }, 'invalid_policy_oid'],
      [{ certificate_policy: { oids: [ANY_POLICY] } }, 'invalid_policy_oid'],
      [{ certificate_policy: { oids: [] } }, 'invalid_request'],
      [{ device_assurance: { level: 'software', extra: 1 } }, 'invalid_request'],
    ] as const) {
      const r = await org.api('POST', '/api/v1/access/apps', {
        name: 'bad',
        domain: 'bad.rules.test',
        policies: [{ name: 'p', decision: 'non_identity', include: [rule] }],
      });
      assert.equal(r.status, 400, JSON.stringify(r.json));
      assert.equal(r.json.errors[0]?.code, code, JSON.stringify(r.json));
    }
    assert.equal(await count(), before);
  });

  let cookie = '';
  test('device_assurance software: the registration certificate passes; a plain issued one and none do not', async () => {
    const allowed = await until(200, () => curl('/page', withCert(deviceCert)));
    assert.match(allowed.body, /origin \/page/);
    cookie = cookieOf(allowed.head);
    assert.ok(cookie, allowed.head);
    assert.equal(
      (await curl('/', withCert(plainCert))).status,
      403,
      'a valid certificate of no registration',
    );
    assert.equal((await curl('/')).status, 403, 'no certificate');
    // The session goes with the certificate it was earned with.
    assert.equal(
      (await curl('/', [...withCert(plainCert), '-b', `Gatehouse_Authorization=${cookie}`])).status,
      403,
    );
  });

  test('the rule tightens to hardware_claimed: the session of a software device stops working', async () => {
    const withCookie = () => curl('/', [...withCert(deviceCert), '-b', `Gatehouse_Authorization=${cookie}`]);
    assert.equal((await withCookie()).status, 200);
    assert.equal(
      (await org.api('PUT', `/api/v1/access/apps/${appId}`, deviceApp('hardware_claimed'))).status,
      200,
    );
    await until(403, withCookie);
    // And back: it was the level that refused it, nothing else.
    assert.equal((await org.api('PUT', `/api/v1/access/apps/${appId}`, deviceApp('software'))).status, 200);
    await until(200, withCookie);
  });

  test('the registration ends: its certificate and its session stop working', async () => {
    const regs = await org.api<{ id: string; status: string }[]>('GET', '/api/v1/registrations');
    const active = regs.json.result.filter((r) => r.status === 'active');
    assert.equal(active.length, 1);
    assert.equal((await org.api('DELETE', `/api/v1/registrations/${active[0]!.id}`)).status, 200);
    await until(403, () => curl('/', [...withCert(deviceCert), '-b', `Gatehouse_Authorization=${cookie}`]));
    assert.equal((await curl('/', withCert(deviceCert))).status, 403);
  });

  test('certificate_policy: the validated path must be good for the policy', async () => {
    const request = (name: string) => edgeRequest(edgePort, PIV_HOST, org.rootPem, certs[name]);
    await until(200, () => request('piv'));
    assert.equal((await request('other')).status, 403, 'another policy');
    assert.equal((await request('none')).status, 403, 'no certificatePolicies');
    // RFC 5280 §6.1.5 (g)(iii): an anyPolicy branch down to the leaf is good for every policy.
    assert.equal((await request('any')).status, 200, 'anyPolicy from the anchor to the leaf');
    // The leaf asserts PIV_AUTH, but its CA only allows OTHER: the path is not good for PIV_AUTH.
    assert.equal((await request('narrowPiv')).status, 403, 'asserted by the leaf, not allowed by its CA');
    assert.equal((await edgeRequest(edgePort, PIV_HOST, org.rootPem)).status, 403, 'no certificate');
  });
});
