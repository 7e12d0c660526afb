// The strict certificate profile at the edge (issue 12): a weak-key leaf, a CA certificate used
// as a client certificate and an uploaded root that expires after upload are refused with their
// verifyChain code — 403 in enforce mode, `invalid` plus the reason header in report mode.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { adminApi, edgeRequest, gatehouse, type RunningServer, startServer } from '../helpers/gatehouse.js';
import {
  type CaFiles,
  makeLeafCert,
  makeRootCa,
  makeRsaKey,
  makeSelfSigned,
  makeSignedCert,
} from '../helpers/openssl.js';
import { clientCertOf, type Issued, makeLeaf, makeRoot, x509 } from '../pki/verify/fixtures.js';

interface ClientCert {
  cert: string;
  key: string;
}

describe('edge: the strict certificate profile', () => {
  let dir: string;
  let server: RunningServer;
  let token: string;
  let rootPem: string;
  let origin: Server;
  let edgePort: number;
  let corpRoot: CaFiles;
  let good: ClientCert;
  let weak: ClientCert & { ciphers?: string };
  let caAsLeaf: ClientCert;
  let shortLived: ClientCert;
  let shortLivedUntil: number;
  let originUrl: string;

  const api = adminApi(
    () => server.url,
    () => token,
    () => rootPem,
  );

  /** Status and body (the origin echoes the headers it received). */
  const request = (hostname: string, cert: ClientCert & { ciphers?: string }) =>
    edgeRequest(edgePort, hostname, rootPem, cert, { accept: 'application/json' });

  const originSaw = (body: string) => JSON.parse(body) as Record<string, string | undefined>;

  /** A client certificate made by the verifyChain fixtures, with its key as PKCS#8 PEM. */
  const clientOf = (leaf: Issued): Promise<ClientCert> => clientCertOf(leaf);

  const files = (f: CaFiles): ClientCert => ({ cert: f.pem, key: readFileSync(f.keyPath, 'utf8') });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-strict-'));
    const dataDir = join(dir, 'data');
    origin = createServer((req, res) => res.end(JSON.stringify(req.headers)));
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
    originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
    const init = await gatehouse(['init', '--data-dir', dataDir, '--org', 'Strict Org', '--json']);
    const out = JSON.parse(init.stdout) as { admin_token: string; root_ca_pem: string };
    token = out.admin_token;
    rootPem = out.root_ca_pem;
    server = await startServer(['--data-dir', dataDir]);
    edgePort = Number(new URL(server.edgeUrl).port);

    corpRoot = await makeRootCa(dir, 'corp-root');
    good = files(await makeLeafCert(dir, 'good', corpRoot));
    const weakKey = await makeRsaKey(dir, 'weak', 1024);
    weak = {
      ...files(await makeLeafCert(dir, 'weak', corpRoot, { keyPath: weakKey })),
      // OpenSSL 3.5 (Node 26) refuses to present a 1024-bit key at its default security level.
      ciphers: 'DEFAULT:@SECLEVEL=0',
    };
    caAsLeaf = files(await makeSignedCert(dir, 'sub-ca', corpRoot));

    // A root that is valid at upload and expires a few seconds later.
    shortLivedUntil = Date.now() + 6_000;
    const brief = await makeRoot({ name: 'CN=Brief Root', notAfter: new Date(shortLivedUntil) });
    const briefLeaf = await makeLeaf(brief, { name: 'CN=brief-device' });
    shortLived = await clientOf(briefLeaf);

    const ids: string[] = [];
    for (const [name, certificates] of [
      ['Corp', corpRoot.pem],
      ['Brief', brief.pem],
    ] as const) {
      const up = await api('POST', '/api/v1/mtls_certificates', { name, certificates, ca: true });
      assert.equal(up.status, 201, JSON.stringify(up.json));
      ids.push(up.json.result.id as string);
    }
    for (const [hostname, mode] of [
      ['strict.test', 'enforce'],
      ['strict-report.test', 'report'],
    ] as const) {
      const host = await api('POST', '/api/v1/hostnames', {
        hostname,
        origin: originUrl,
        client_auth: { mode, mtls_certificate_ids: ids },
      });
      assert.equal(host.status, 201, JSON.stringify(host.json));
    }
    // Both hostnames: the edge may load a snapshot taken between the two creations.
    const started = Date.now();
    for (const hostname of ['strict.test', 'strict-report.test']) {
      while ((await request(hostname, good).catch(() => ({ status: 0 }))).status !== 200) {
        assert.ok(Date.now() - started < 5_000, `the edge never served ${hostname}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  });

  after(async () => {
    if (server) assert.equal(await server.stop(), 0, server.output());
    await new Promise<void>((r) => origin?.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  for (const [what, cert, code] of [
    ['a 1024-bit RSA leaf', () => weak, 'weak_key'],
    ['a CA certificate as the client certificate', () => caAsLeaf, 'ca_as_leaf'],
  ] as const) {
    test(`${what}: enforce → 403 ${code}, report → invalid with reason ${code}`, async () => {
      const refused = await request('strict.test', cert());
      assert.equal(refused.status, 403);
      assert.equal(JSON.parse(refused.body).reason, code);
      const reported = await request('strict-report.test', cert());
      assert.equal(reported.status, 200);
      const headers = originSaw(reported.body);
      assert.equal(headers['gatehouse-client-cert-status'], 'invalid');
      assert.equal(headers['gatehouse-client-cert-reason'], code);
    });
  }

  test('an uploaded root that expires after upload stops working (anchor_expired)', async () => {
    assert.ok(Date.now() < shortLivedUntil - 1_000, 'setup took too long for this test');
    assert.equal((await request('strict.test', shortLived)).status, 200, 'valid while the root is');
    await new Promise((r) => setTimeout(r, shortLivedUntil - Date.now() + 1_100));
    const refused = await request('strict.test', shortLived);
    assert.equal(refused.status, 403, refused.body);
    assert.equal(JSON.parse(refused.body).reason, 'anchor_expired');
    const headers = originSaw((await request('strict-report.test', shortLived)).body);
    assert.equal(headers['gatehouse-client-cert-status'], 'invalid');
    assert.equal(headers['gatehouse-client-cert-reason'], 'anchor_expired');
  });

  /** A clientAuth leaf signed by `issuer` with SHA-1. */
  const sha1Leaf = async (name: string, issuer: CaFiles) => ({
    ...files(await makeSignedCert(dir, name, issuer, { ca: false, md: 'sha1' })),
    // Node's OpenSSL refuses to present a SHA-1-signed certificate at its default security level.
    ciphers: 'DEFAULT:@SECLEVEL=0',
  });

  test('legacy allowances are per uploaded CA, shown and audited; weak chains are refused at upload', async () => {
    // A CA with a 1024-bit key: refused unless allow_rsa_1024, and nothing is stored.
    const weakRoot = await makeSelfSigned(dir, 'weak-root', {
      key: 'rsa:1024',
      extensions: ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign'],
    });
    const before = (await api('GET', '/api/v1/mtls_certificates')).json.result.length as number;
    const refused = await api('POST', '/api/v1/mtls_certificates', {
      name: 'Weak',
      certificates: weakRoot.pem,
      ca: true,
    });
    assert.equal(refused.status, 400);
    assert.equal(refused.json.errors[0]?.code, 'weak_key');
    assert.equal((await api('GET', '/api/v1/mtls_certificates')).json.result.length, before);
    const bad = await api('POST', '/api/v1/mtls_certificates', {
      name: 'x',
      certificates: weakRoot.pem,
      ca: true,
      allow_rsa_1024: 'yes',
    });
    assert.equal(bad.status, 400);

    const legacyRoot = await makeRootCa(dir, 'legacy-root');
    const up = await api('POST', '/api/v1/mtls_certificates', {
      name: 'Legacy',
      certificates: legacyRoot.pem,
      ca: true,
      allow_sha1_signatures: true,
    });
    assert.equal(up.status, 201, JSON.stringify(up.json));
    assert.equal(up.json.result.allow_sha1_signatures, true);
    assert.equal(up.json.result.allow_rsa_1024, false);
    const audit = await api<{ after: { allow_sha1_signatures?: boolean } }[]>(
      'GET',
      `/api/v1/audit?resource_id=${up.json.result.id as string}`,
    );
    const entry = audit.json.result[0];
    assert.equal(entry?.after.allow_sha1_signatures, true);

    const host = await api('POST', '/api/v1/hostnames', {
      hostname: 'legacy.test',
      origin: originUrl,
      client_auth: { mode: 'enforce', mtls_certificate_ids: [up.json.result.id] },
    });
    assert.equal(host.status, 201, JSON.stringify(host.json));
    const legacyLeaf = await sha1Leaf('legacy-sha1', legacyRoot);
    const started = Date.now();
    let r = await request('legacy.test', legacyLeaf).catch((err: Error) => ({
      status: 0,
      body: err.message,
    }));
    while (r.status !== 200 && Date.now() - started < 5_000) {
      await new Promise((res) => setTimeout(res, 50));
      r = await request('legacy.test', legacyLeaf).catch((err: Error) => ({ status: 0, body: err.message }));
    }
    assert.equal(r.status, 200, `SHA-1 accepted under the CA that allows it: ${r.status} ${r.body}`);
    // The same kind of leaf under a CA without the allowance is refused.
    const corpSha1 = await request('strict.test', await sha1Leaf('corp-sha1', corpRoot));
    assert.equal(corpSha1.status, 403);
    assert.equal(JSON.parse(corpSha1.body).reason, 'weak_signature');
  });

  test('a hostname requiring a certificate policy OID (PIV) refuses leaves without it (policy_required)', async () => {
    const PIV_AUTH = '2.16.840.1.101.3.2.1.3.13';
    const pivRoot = await makeRoot({
      name: 'CN=PIV Root',
      extensions: [new x509.CertificatePolicyExtension(['2.5.29.32.0'])],
    });
    const piv = await clientOf(
      await makeLeaf(pivRoot, {
        name: 'CN=piv-card',
        extensions: [new x509.CertificatePolicyExtension([PIV_AUTH])],
      }),
    );
    const plain = await clientOf(await makeLeaf(pivRoot, { name: 'CN=plain' }));
    const up = await api('POST', '/api/v1/mtls_certificates', {
      name: 'PIV',
      certificates: pivRoot.pem,
      ca: true,
    });
    assert.equal(up.status, 201, JSON.stringify(up.json));
    const bad = await api('POST', '/api/v1/hostnames', {
      hostname: 'bad-policy.test',
      origin: originUrl,
      client_auth: {
        mode: 'enforce',
        mtls_certificate_ids: [up.json.result.id],
        required_policies: ['not.an.oid'],
      },
    });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.errors[0]?.code, 'invalid_policy_oid');
    const host = await api<{ client_auth: { required_policies: string[] } }>('POST', '/api/v1/hostnames', {
      hostname: 'piv.test',
      origin: originUrl,
      client_auth: {
        mode: 'enforce',
        mtls_certificate_ids: [up.json.result.id],
        required_policies: [PIV_AUTH],
      },
    });
    assert.equal(host.status, 201, JSON.stringify(host.json));
    assert.deepEqual(host.json.result.client_auth.required_policies, [PIV_AUTH]);
    const started = Date.now();
    let r = await request('piv.test', piv).catch((err: Error) => ({ status: 0, body: err.message }));
    while (r.status !== 200 && Date.now() - started < 5_000) {
      await new Promise((res) => setTimeout(res, 50));
      r = await request('piv.test', piv).catch((err: Error) => ({ status: 0, body: err.message }));
    }
    assert.equal(r.status, 200, r.body);
    const refused = await request('piv.test', plain);
    assert.equal(refused.status, 403);
    assert.equal(JSON.parse(refused.body).reason, 'policy_required');
  });

  test('a well-formed leaf of the same CA still passes', async () => {
    assert.equal((await request('strict.test', good)).status, 200);
  });
});
