// The API conventions, in-process (fastify inject): envelope, auth, validation, status codes,
// audit, OpenAPI and metrics. Real store (SQLite) and real certificates.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { type Authority, ORG_CA_ID } from '../../src/authority/index.js';
import { createIntermediateCa, createRootCa, generateKeyPair } from '../../src/pki/index.js';
import { OPENAPI_PATH } from '../../scripts/generate-openapi.js';
import { type App, openTestApi, type TestApi } from '../helpers/api.js';
import { makeCsr, makeSelfSigned } from '../helpers/openssl.js';

describe('control-plane API', () => {
  let api: TestApi;
  let app: App;
  let token: string;
  let authority: Authority;

  before(async () => {
    api = await openTestApi();
    ({ app, authority, adminToken: token } = api);
  });
  after(async () => {
    await api?.close();
  });

  const call = (
    method: 'GET' | 'POST' | 'DELETE',
    url: string,
    payload?: unknown,
    auth: string | null = token,
  ) =>
    app.inject({
      method,
      url,
      headers: {
        ...(auth ? { authorization: `Bearer ${auth}` } : {}),
        ...(typeof payload === 'string' ? { 'content-type': 'application/json' } : {}),
      },
      ...(payload === undefined ? {} : { payload: payload as string }),
    });

  test('missing and wrong tokens get 401 in the envelope', async () => {
    const missing = await call('GET', '/api/v1/client_certificates', undefined, null);
    assert.equal(missing.statusCode, 401);
    assert.deepEqual(missing.json().errors[0].code, 'unauthenticated');
    assert.match(String(missing.headers['www-authenticate']), /^Bearer/);
    const wrong = await call('GET', '/api/v1/client_certificates', undefined, 'gha_not-a-real-token');
    assert.equal(wrong.statusCode, 401);
    assert.equal(wrong.json().errors[0].code, 'invalid_token');
  });

  test('schema validation: missing fields, unknown fields, wrong types and bad ids are precise 400s', async () => {
    const missing = await call('POST', '/api/v1/mtls_certificates', { name: 'x', ca: true });
    assert.equal(missing.statusCode, 400);
    assert.equal(missing.json().errors[0].code, 'invalid_request');
    assert.match(missing.json().errors[0].message, /certificates/);
    const unknown = await call('POST', '/api/v1/mtls_certificates', {
      name: 'x',
      ca: true,
      certificates: 'x',
      extra: 1,
    });
    assert.equal(unknown.statusCode, 400);
    assert.match(unknown.json().errors[0].message, /extra/);
    const notCa = await call('POST', '/api/v1/mtls_certificates', {
      name: 'x',
      ca: false,
      certificates: 'x',
    });
    assert.equal(notCa.statusCode, 400);
    const days = await call('POST', '/api/v1/client_certificates', { csr: 'x', validity_days: 0 });
    assert.equal(days.statusCode, 400);
    assert.match(days.json().errors[0].message, /validity_days/);
    const badId = await call('GET', '/api/v1/client_certificates/not-a-uuid');
    assert.equal(badId.statusCode, 400);
  });

  test('unknown resources and routes are 404 in the envelope', async () => {
    const cert = await call('GET', '/api/v1/client_certificates/3f1c1d4e-0000-4000-8000-000000000000');
    assert.equal(cert.statusCode, 404);
    assert.deepEqual(cert.json(), {
      success: false,
      errors: [
        {
          code: 'not_found',
          message: 'client certificate 3f1c1d4e-0000-4000-8000-000000000000 does not exist',
        },
      ],
      messages: [],
      result: null,
    });
    const route = await call('GET', '/api/v1/nope');
    assert.equal(route.statusCode, 404);
    assert.equal(route.json().errors[0].code, 'not_found');
  });

  test('the org CA is listed under its well-known id, managed, and cannot be deleted', async () => {
    const list = await call('GET', '/api/v1/mtls_certificates');
    const org = list.json().result.find((c: { id: string }) => c.id === ORG_CA_ID);
    assert.equal(org.managed, true);
    assert.equal(org.issuer, 'CN=Test Org Root CA,O=Test Org');
    const del = await call('DELETE', `/api/v1/mtls_certificates/${ORG_CA_ID}`);
    assert.equal(del.statusCode, 409);
    assert.equal(del.json().errors[0].code, 'ca_managed');
  });

  test('an uploaded CA is deleted once, then 404; every change lands in the audit log', async () => {
    const root = await createRootCa({
      commonName: 'Upload Root',
      organization: 'U',
      algorithm: 'ecdsa-p256',
    });
    const intermediate = await createIntermediateCa({
      issuer: root,
      commonName: 'Upload Issuing',
      organization: 'U',
      algorithm: 'ecdsa-p256',
      pathLength: 0,
    });
    // Pasted root first: Gatehouse orders the chain itself, lowest CA first.
    const up = await call('POST', '/api/v1/mtls_certificates', {
      name: 'u',
      certificates: root.certificatePem + intermediate.certificatePem,
      ca: true,
    });
    assert.equal(up.statusCode, 201, up.body);
    const created = up.json().result;
    assert.match(created.subject, /Upload Issuing/);
    assert.ok(
      created.certificates.startsWith('-----BEGIN CERTIFICATE-----') &&
        created.certificates.split('BEGIN CERTIFICATE').length === 3,
    );
    assert.equal((await call('GET', `/api/v1/mtls_certificates/${created.id}`)).statusCode, 200);
    assert.equal((await call('DELETE', `/api/v1/mtls_certificates/${created.id}`)).statusCode, 200);
    assert.equal((await call('DELETE', `/api/v1/mtls_certificates/${created.id}`)).statusCode, 404);

    const audit = (await call('GET', `/api/v1/audit?resource_id=${created.id}`)).json();
    assert.deepEqual(
      audit.result.map((e: { action: string }) => e.action),
      ['mtls_certificate.delete', 'mtls_certificate.create'],
    );
    assert.match(audit.result[0].actor, /^token:[0-9a-f-]{36}$/);
    assert.equal(audit.result[0].before.name, 'u');
  });

  test('issuance honours common_name, keeps nothing else from the CSR, and lists by status', async () => {
    const csr = await makeCsr(api.dir, 'api-client');
    const res = await call('POST', '/api/v1/client_certificates', { csr: csr.pem, common_name: 'printer-7' });
    assert.equal(res.statusCode, 201, res.body);
    const cert = res.json().result;
    assert.equal(cert.common_name, 'printer-7');
    assert.equal(cert.subject, 'CN=printer-7,O=Test Org');
    assert.equal(cert.issuer_id, ORG_CA_ID);
    assert.match(cert.fingerprint_sha256, /^[0-9a-f]{64}$/);
    assert.match(cert.ski, /^[0-9a-f]{40}$/);
    const days = (Date.parse(cert.expires_on) - Date.now()) / 86_400_000;
    assert.ok(days > 89.9 && days <= 90.01, 'default validity is 90 days');

    const active = (await call('GET', '/api/v1/client_certificates?status=active')).json();
    assert.ok(active.result.some((c: { id: string }) => c.id === cert.id));
    assert.equal(active.result_info.total_count, active.result.length);
    const del = await call('DELETE', `/api/v1/client_certificates/${cert.id}`);
    assert.equal(del.statusCode, 200, del.body);
    const revoked = (await call('GET', '/api/v1/client_certificates?status=revoked')).json();
    assert.ok(
      revoked.result.some(
        (c: { id: string; revocation_reason: string }) =>
          c.id === cert.id && c.revocation_reason === 'unspecified',
      ),
    );
    const bad = await call('GET', '/api/v1/client_certificates?status=bogus');
    assert.equal(bad.statusCode, 400);
  });

  test('an Ed25519 key is certified as Ed25519', async () => {
    const keys = await generateKeyPair('ed25519');
    const cert = await authority.issueFromPublicKey(
      { publicKeyPem: keys.publicKeyPem, validityDays: 1 },
      'test',
    );
    assert.equal(new X509Certificate(cert.certificate_pem).publicKey.asymmetricKeyType, 'ed25519');
  });

  test('hostnames: validation errors are precise, a custom certificate must fit, and nothing is stored on error', async () => {
    const serverCert = async (name: string, san: string) => {
      const made = await makeSelfSigned(api.dir, name, {
        days: 10,
        subject: `/CN=${san}`,
        extensions: [`subjectAltName=DNS:${san}`],
      });
      return { certificate: made.pem, private_key: readFileSync(made.keyPath, 'utf8') };
    };
    const good = await serverCert('custom', 'custom.test');
    const other = await serverCert('other', 'other.test');
    const base = {
      hostname: 'custom.test',
      origin: 'http://127.0.0.1:9000',
      client_auth: { mode: 'report', mtls_certificate_ids: [ORG_CA_ID] },
    };
    const cases: [unknown, number, string][] = [
      [{ ...base, hostname: '*.bad' }, 400, 'invalid_hostname'],
      [{ ...base, origin: 'ftp://x' }, 400, 'invalid_origin'],
      [{ ...base, origin: 'http://127.0.0.1:9000/path' }, 400, 'invalid_origin'],
      [{ ...base, client_auth: { mode: 'enforce', mtls_certificate_ids: [] } }, 400, 'missing_ca'],
      [
        {
          ...base,
          client_auth: { mode: 'enforce', mtls_certificate_ids: ['3f1c1d4e-0000-4000-8000-000000000000'] },
        },
        400,
        'unknown_ca',
      ],
      [{ ...base, client_auth: { mode: 'strict', mtls_certificate_ids: [] } }, 400, 'invalid_request'],
      [
        {
          ...base,
          client_auth: { ...base.client_auth, forward: { custom: [{ header: 'X-A', field: 'subject.XX' }] } },
        },
        400,
        'invalid_request',
      ],
      [
        { ...base, tls: { certificate: good.certificate, private_key: other.private_key } },
        400,
        'key_mismatch',
      ],
      [{ ...base, tls: other }, 400, 'certificate_hostname_mismatch'],
      [{ ...base, tls: { certificate: 'nope', private_key: good.private_key } }, 400, 'invalid_pem'],
    ];
    for (const [body, status, code] of cases) {
      const r = await call('POST', '/api/v1/hostnames', body);
      assert.equal(r.statusCode, status, `${JSON.stringify(body).slice(0, 120)} → ${r.body}`);
      assert.equal(r.json().errors[0].code, code, r.body);
    }
    assert.equal((await call('GET', '/api/v1/hostnames')).json().result_info.total_count, 0);

    const created = await call('POST', '/api/v1/hostnames', { ...base, tls: good });
    assert.equal(created.statusCode, 201, created.body);
    assert.equal(created.json().result.tls.source, 'custom');
    assert.equal(created.json().result.client_auth.forward.styles[0], 'gatehouse');
    assert.equal((await call('POST', '/api/v1/hostnames', base)).statusCode, 409);
    const inUse = await call('DELETE', `/api/v1/mtls_certificates/${ORG_CA_ID}`);
    assert.equal(inUse.statusCode, 409);
  });

  test('the CRL endpoint serves DER with cache headers and an ETag', async () => {
    const crl = await call('GET', `/crl/${ORG_CA_ID}.crl`, undefined, null);
    assert.equal(crl.statusCode, 200);
    assert.equal(crl.headers['content-type'], 'application/pkix-crl');
    assert.equal(crl.rawPayload[0], 0x30, 'DER SEQUENCE');
    const etag = String(crl.headers.etag);
    const cached = await app.inject({
      method: 'GET',
      url: `/crl/${ORG_CA_ID}.crl`,
      headers: { 'if-none-match': etag },
    });
    assert.equal(cached.statusCode, 304);
    assert.equal(
      (await call('GET', '/crl/3f1c1d4e-0000-4000-8000-000000000000.crl', undefined, null)).statusCode,
      404,
    );
  });

  test('OpenAPI is generated from the schemas and metrics count requests', async () => {
    const doc = (await call('GET', '/api/v1/openapi.json', undefined, null)).json();
    assert.equal(doc.openapi, '3.0.3');
    assert.ok(doc.paths['/api/v1/client_certificates'].post.requestBody);
    assert.ok(doc.paths['/api/v1/mtls_certificates/{id}'].delete);
    const committed = JSON.parse(readFileSync(OPENAPI_PATH, 'utf8'));
    assert.deepEqual(committed, doc, 'docs/openapi.json is stale: run `npm run docs:openapi`');
    const metrics = await call('GET', '/metrics', undefined, null);
    assert.match(
      metrics.body,
      /gatehouse_api_requests_total\{route="\/api\/v1\/client_certificates",method="POST",status="201"\} \d+/,
    );
    assert.match(metrics.body, /gatehouse_client_certificates_issued_total \d+/);
  });
});
