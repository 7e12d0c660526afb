// The foundation's acceptance scenario, with the real binary, curl and openssl:
// init --json → serve → upload CA chains → issue from an openssl CSR → openssl verify → revoke → CRL.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gatehouse, type RunningServer, startServer } from '../helpers/gatehouse.js';
import {
  corruptCsrSignature,
  makeCsr,
  makeRootCa,
  makeSelfSignedLeaf,
  makeSignedCert,
} from '../helpers/openssl.js';
import { requireTool, run, runOk } from '../helpers/tools.js';

interface Envelope<T> {
  success: boolean;
  errors: { code: string; message: string }[];
  result: T;
}

describe('acceptance: init, serve, CA upload, issuance, revocation, CRL', () => {
  let dir: string;
  let server: RunningServer;
  let token: string;
  let rootCaPath: string;
  const curl = () => requireTool('curl');
  const openssl = () => requireTool('openssl');

  /** curl against the API, trusting only the org root printed by init. */
  async function api<T>(
    method: string,
    path: string,
    body?: unknown,
    headers: string[] = [],
  ): Promise<{ status: number; body: Envelope<T> }> {
    const args = [
      '-sS',
      '--cacert',
      rootCaPath,
      '-X',
      method,
      '-H',
      `authorization: Bearer ${token}`,
      '-w',
      '\n%{http_code}',
      ...headers.flatMap((h) => ['-H', h]),
    ];
    if (body !== undefined) args.push('-H', 'content-type: application/json', '--data-binary', '@-');
    const r = await runOk(curl(), [...args, `${server.url}${path}`], {
      input: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const nl = r.stdout.lastIndexOf('\n');
    return { status: Number(r.stdout.slice(nl + 1)), body: JSON.parse(r.stdout.slice(0, nl)) };
  }

  before(async (t) => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-test-'));
    const init = await gatehouse(['init', '--data-dir', join(dir, 'data'), '--org', 'Acme Corp', '--json']);
    assert.equal(init.code, 0, init.stderr);
    const out = JSON.parse(init.stdout) as {
      org: string;
      admin_token: string;
      api_url: string;
      root_ca_pem: string;
    };
    assert.equal(out.org, 'Acme Corp');
    assert.match(out.admin_token, /^gha_[A-Za-z0-9_-]{43}$/);
    assert.equal(out.api_url, 'https://127.0.0.1:7443');
    token = out.admin_token;
    rootCaPath = join(dir, 'org-root.pem');
    writeFileSync(rootCaPath, out.root_ca_pem);
    server = await startServer(['--data-dir', join(dir, 'data')]);
    void t;
  });
  after(async () => {
    if (server) assert.equal(await server.stop(), 0, server.output());
    rmSync(dir, { recursive: true, force: true });
  });

  test('init refuses to run twice on the same data directory', async () => {
    const again = await gatehouse(['init', '--data-dir', join(dir, 'data'), '--org', 'Other']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already initialised; refusing to overwrite/);
  });

  test('the API is served over TLS with a certificate the org root verifies, and requires the token', async () => {
    const r = await run(curl(), [
      '-sS',
      '--cacert',
      rootCaPath,
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      `${server.url}/api/v1/mtls_certificates`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '401');
    const health = await runOk(curl(), ['-sS', '--cacert', rootCaPath, `${server.url}/healthz`]);
    assert.deepEqual(JSON.parse(health.stdout), { status: 'ok' });
  });

  test('a CA chain uploads and gets a UUID; a non-CA and a broken chain get 400 and change nothing', async () => {
    const root = await makeRootCa(dir, 'admin-root');
    const intermediate = await makeSignedCert(dir, 'admin-intermediate', root);
    const created = await api<{
      id: string;
      name: string;
      fingerprint_sha256: string;
      expires_on: string;
      uploaded_on: string;
      issuer: string;
      serial_number: string;
    }>('POST', '/api/v1/mtls_certificates', {
      name: 'Corporate PKI',
      certificates: root.pem + intermediate.pem,
      ca: true,
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.match(
      created.body.result.id,
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    assert.equal(created.body.result.issuer, 'CN=admin-root');
    for (const key of ['fingerprint_sha256', 'expires_on', 'uploaded_on', 'serial_number'] as const)
      assert.ok(created.body.result[key], key);

    const before = await api<unknown[]>('GET', '/api/v1/mtls_certificates');
    const leaf = await makeSelfSignedLeaf(dir, 'not-a-ca');
    const nonCa = await api('POST', '/api/v1/mtls_certificates', {
      name: 'leaf',
      certificates: leaf.pem,
      ca: true,
    });
    assert.equal(nonCa.status, 400);
    assert.equal(nonCa.body.errors[0]?.code, 'not_a_ca');
    assert.match(nonCa.body.errors[0]?.message ?? '', /CN=not-a-ca.*CA:TRUE/);

    const strangerRoot = await makeRootCa(dir, 'stranger-root');
    const broken = await api('POST', '/api/v1/mtls_certificates', {
      name: 'broken',
      certificates: intermediate.pem + strangerRoot.pem,
      ca: true,
    });
    assert.equal(broken.status, 400);
    assert.equal(broken.body.errors[0]?.code, 'chain_broken');

    const garbage = await api('POST', '/api/v1/mtls_certificates', {
      name: 'x',
      certificates: '-----BEGIN CERTIFICATE-----\n@@@\n-----END CERTIFICATE-----',
      ca: true,
    });
    assert.equal(garbage.status, 400);
    assert.equal(garbage.body.errors[0]?.code, 'invalid_pem');

    const afterList = await api<unknown[]>('GET', '/api/v1/mtls_certificates');
    assert.deepEqual(afterList.body.result, before.body.result);
  });

  test('issue from an openssl CSR, verify with openssl, revoke, and find the serial in the CRL', async () => {
    const csr = await makeCsr(dir, 'laptop-42');
    const issued = await api<{
      id: string;
      serial_number: string;
      fingerprint_sha256: string;
      ski: string;
      expires_on: string;
      certificate: string;
      certificate_chain: string;
      status: string;
      common_name: string;
    }>('POST', '/api/v1/client_certificates', { csr: csr.pem, validity_days: 30 });
    assert.equal(issued.status, 201, JSON.stringify(issued.body));
    const cert = issued.body.result;
    assert.equal(cert.status, 'active');
    assert.equal(
      cert.common_name,
      cert.id,
      'the CSR subject is not copied: CN defaults to the certificate id',
    );
    const days = (Date.parse(cert.expires_on) - Date.now()) / 86_400_000;
    assert.ok(days > 29.9 && days <= 30.01, `validity ${days} days`);

    const [intermediatePem] = cert.certificate_chain.split(/(?<=-----END CERTIFICATE-----\n)/);
    writeFileSync(join(dir, 'issued.pem'), cert.certificate);
    writeFileSync(join(dir, 'org-intermediate.pem'), intermediatePem ?? '');
    const verify = await run(openssl(), [
      'verify',
      '-CAfile',
      rootCaPath,
      '-untrusted',
      join(dir, 'org-intermediate.pem'),
      '-purpose',
      'sslclient',
      join(dir, 'issued.pem'),
    ]);
    assert.equal(verify.code, 0, verify.stderr);
    assert.match(verify.stdout, /issued\.pem: OK/);
    const text = (
      await runOk(openssl(), ['x509', '-in', join(dir, 'issued.pem'), '-noout', '-text', '-serial'])
    ).stdout;
    assert.match(text, /TLS Web Client Authentication/);
    assert.match(text, /CA:FALSE/);
    assert.doesNotMatch(text, /Requested Org/, 'subject attributes from the CSR are not copied');
    // Serials are always 16 content bytes; openssl prints whole bytes, leading 0 nibble included.
    assert.equal(/serial=([0-9A-F]+)/.exec(text)?.[1]?.toLowerCase(), cert.serial_number);

    const revoked = await api<{ status: string; revocation_reason: string }>(
      'DELETE',
      `/api/v1/client_certificates/${cert.id}?reason=keyCompromise`,
    );
    assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
    assert.equal(revoked.body.result.status, 'revoked');
    const again = await api('DELETE', `/api/v1/client_certificates/${cert.id}`);
    assert.equal(again.status, 409);

    const org = await api<{ crl_urls: string[]; ca_id: string }>('GET', '/api/v1/organization');
    const crlUrl = `${server.url}/crl/${org.body.result.ca_id}.crl`;
    const crlPath = join(dir, 'org.crl');
    const fetched = await runOk(curl(), ['-sS', '--cacert', rootCaPath, '-D', '-', '-o', crlPath, crlUrl]);
    assert.match(fetched.stdout, /content-type: application\/pkix-crl/i);
    assert.match(fetched.stdout, /cache-control: public, max-age=\d+/i);
    const crlText = (await runOk(openssl(), ['crl', '-inform', 'DER', '-in', crlPath, '-text', '-noout']))
      .stdout;
    assert.match(crlText, /Next Update:/);
    assert.ok(crlText.toUpperCase().includes(`SERIAL NUMBER: ${cert.serial_number.toUpperCase()}`), crlText);
    assert.match(crlText, /Key Compromise/);
    const crlVerify = await run(openssl(), [
      'crl',
      '-inform',
      'DER',
      '-in',
      crlPath,
      '-noout',
      '-CAfile',
      join(dir, 'org-intermediate.pem'),
    ]);
    assert.match(crlVerify.stderr + crlVerify.stdout, /verify OK/);
  });

  test('a CSR whose signature does not verify, and a 1024-bit RSA CSR, are refused with 400', async () => {
    const count = async () => (await api<unknown[]>('GET', '/api/v1/client_certificates')).body.result.length;
    const before = await count();
    const good = await makeCsr(dir, 'tampered');
    const tampered = await api('POST', '/api/v1/client_certificates', {
      csr: corruptCsrSignature(good.pem),
      validity_days: 30,
    });
    assert.equal(tampered.status, 400);
    assert.equal(tampered.body.errors[0]?.code, 'csr_signature_invalid');
    const weak = await makeCsr(dir, 'weak', 'rsa:1024');
    const refused = await api('POST', '/api/v1/client_certificates', { csr: weak.pem, validity_days: 30 });
    assert.equal(refused.status, 400);
    assert.equal(refused.body.errors[0]?.code, 'weak_key');
    assert.match(refused.body.errors[0]?.message ?? '', /1024/);
    assert.equal(await count(), before);
  });

  test('malformed JSON gets a 400 envelope, never a stack trace', async () => {
    const r = await api('POST', '/api/v1/client_certificates', '{"csr": ');
    assert.equal(r.status, 400);
    assert.equal(r.body.success, false);
    assert.equal(r.body.errors[0]?.code, 'invalid_json');
    assert.doesNotMatch(JSON.stringify(r.body), /at .*\.js:\d+/);
  });
});
