// ETag/If-Match and Idempotency-Key, through the real API on a real SQLite store.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { ORG_CA_ID } from '../../src/authority/index.js';
import { x509 } from '../../src/pki/x509.js';
import { type App, openTestApi, type TestApi } from '../helpers/api.js';

describe('optimistic concurrency and idempotent retries', () => {
  let api: TestApi;
  let app: App;
  let token: string;
  let csr: string;

  before(async () => {
    api = await openTestApi();
    ({ app, adminToken: token } = api);
    const keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
    const cryptoKeys = {
      privateKey: await crypto.subtle.importKey(
        'pkcs8',
        keys.privateKey.export({ type: 'pkcs8', format: 'der' }),
        alg,
        false,
        ['sign'],
      ),
      publicKey: await crypto.subtle.importKey(
        'spki',
        keys.publicKey.export({ type: 'spki', format: 'der' }),
        alg,
        true,
        ['verify'],
      ),
    };
    csr = (
      await x509.Pkcs10CertificateRequestGenerator.create({
        name: 'CN=idem',
        keys: cryptoKeys,
        signingAlgorithm: alg,
      })
    ).toString('pem');
  });
  after(async () => {
    await api?.close();
  });

  const call = (
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    url: string,
    payload?: object,
    headers: Record<string, string> = {},
  ) =>
    app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${token}`, ...headers },
      ...(payload ? { payload } : {}),
    });

  test('a stale If-Match is refused with 412 and changes nothing; the current one passes', async () => {
    const body = (origin: string) => ({
      hostname: 'etag.example.test',
      origin,
      client_auth: { mode: 'report', mtls_certificate_ids: [ORG_CA_ID] },
    });
    const created = await call('POST', '/api/v1/hostnames', body('http://127.0.0.1:1'));
    assert.equal(created.statusCode, 201);
    const id = created.json().result.id as string;
    const read = await call('GET', `/api/v1/hostnames/${id}`);
    const etag = read.headers.etag as string;
    assert.match(etag, /^"[0-9a-f]{32}"$/);
    assert.equal(created.headers.etag, etag, 'the created resource carries the same ETag as a GET');

    // Admin A saves on top of what they read: accepted, and the ETag moves.
    const first = await call('PUT', `/api/v1/hostnames/${id}`, body('http://127.0.0.1:2'), {
      'if-match': etag,
    });
    assert.equal(first.statusCode, 200, first.body);
    assert.notEqual(first.headers.etag, etag);
    // Admin B still holds the old ETag: refused, and A's edit stands.
    const stale = await call('PUT', `/api/v1/hostnames/${id}`, body('http://127.0.0.1:3'), {
      'if-match': etag,
    });
    assert.equal(stale.statusCode, 412);
    assert.equal(stale.json().errors[0].code, 'precondition_failed');
    assert.equal((await call('GET', `/api/v1/hostnames/${id}`)).json().result.origin, 'http://127.0.0.1:2');
    const staleDelete = await call('DELETE', `/api/v1/hostnames/${id}`, undefined, { 'if-match': etag });
    assert.equal(staleDelete.statusCode, 412);
    assert.equal((await call('GET', `/api/v1/hostnames/${id}`)).statusCode, 200);
    // Without If-Match the write is unconditional (last writer wins, as before).
    const current = (await call('GET', `/api/v1/hostnames/${id}`)).headers.etag as string;
    const removed = await call('DELETE', `/api/v1/hostnames/${id}`, undefined, { 'if-match': current });
    assert.ok(removed.statusCode < 300, removed.body);
  });

  test('Idempotency-Key: a retried issuance returns the first certificate, not a second one', async () => {
    const before = (await call('GET', '/api/v1/client_certificates')).json().result_info
      .total_count as number;
    const headers = { 'idempotency-key': 'issue-1' };
    const [a, b] = [
      await call('POST', '/api/v1/client_certificates', { csr, validity_days: 10 }, headers),
      await call('POST', '/api/v1/client_certificates', { csr, validity_days: 10 }, headers),
    ];
    assert.equal(a.statusCode, 201, a.body);
    assert.equal(b.statusCode, 201);
    assert.equal(b.headers['idempotent-replayed'], 'true');
    assert.equal(b.json().result.id, a.json().result.id);
    assert.equal(
      (await call('GET', '/api/v1/client_certificates')).json().result_info.total_count,
      before + 1,
    );

    // The same key with another body is a client bug: 422, nothing issued.
    const other = await call('POST', '/api/v1/client_certificates', { csr, validity_days: 11 }, headers);
    assert.equal(other.statusCode, 422);
    assert.equal(other.json().errors[0].code, 'idempotency_key_reused');
    // A malformed key is refused before anything runs.
    const bad = await call(
      'POST',
      '/api/v1/client_certificates',
      { csr, validity_days: 10 },
      { 'idempotency-key': 'with space' },
    );
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().errors[0].code, 'invalid_idempotency_key');
    assert.equal(
      (await call('GET', '/api/v1/client_certificates')).json().result_info.total_count,
      before + 1,
    );

    // A retried revocation answers like the first (200), not 409 already_revoked.
    const id = a.json().result.id as string;
    const r1 = await call('DELETE', `/api/v1/client_certificates/${id}`, undefined, {
      'idempotency-key': 'revoke-1',
    });
    const r2 = await call('DELETE', `/api/v1/client_certificates/${id}`, undefined, {
      'idempotency-key': 'revoke-1',
    });
    assert.equal(r1.statusCode, 200, r1.body);
    assert.equal(r2.statusCode, 200);
    assert.equal(r2.body, r1.body);
    const r3 = await call('DELETE', `/api/v1/client_certificates/${id}`);
    assert.equal(r3.statusCode, 409, 'without the key a second revocation is still refused');
  });
});
