import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { verifyCsr } from '../../../src/pki/csr.js';
import { tempDir } from '../../helpers/tools.js';
import { derToPem, flipCsrSignature, gatehouseError, makeCsr, pemToDer, ssl, write } from './fixtures.js';

describe('verifyCsr', () => {
  test('accepts openssl CSRs for P-256, P-384, RSA-2048 and Ed25519 and reports the key', async (t) => {
    const dir = await tempDir(t);
    const cases = [
      { kind: 'p256', key: { type: 'ec', curve: 'P-256' } },
      { kind: 'p384', key: { type: 'ec', curve: 'P-384' } },
      { kind: 'rsa2048', key: { type: 'rsa', bits: 2048 } },
      { kind: 'ed25519', key: { type: 'ed25519' } },
    ] as const;
    for (const c of cases) {
      const pem = await makeCsr(dir, c.kind, c.kind, '/CN=x');
      const csr = await verifyCsr(pem);
      assert.deepEqual(csr.key, c.key, c.kind);
      assert.equal(csr.subject, 'CN=x');
      assert.equal(csr.commonName, 'x');
      assert.deepEqual(csr.sans, { dns: [], ip: [], email: [], uri: [] });
      // The public key is the one openssl put in the request.
      const expected = await ssl(['req', '-in', write(dir, `${c.kind}.in`, pem), '-noout', '-pubkey']);
      assert.equal(csr.publicKeyPem.trim(), expected.trim(), c.kind);
      assert.ok(csr.publicKeyDer.equals(pemToDer(csr.publicKeyPem)));
      createPublicKey({ key: csr.publicKeyDer, format: 'der', type: 'spki' });
    }
  });

  test('reports the subject in RFC 4514 order and the requested SANs', async (t) => {
    const dir = await tempDir(t);
    const pem = await makeCsr(dir, 'sans', 'p256', '/O=Acme, Inc./OU=eng+UID=u1/CN=alice', [
      '-addext',
      'subjectAltName=DNS:alice.example,IP:10.0.0.1,IP:::1,email:alice@example.com,URI:spiffe://acme/alice',
    ]);
    const csr = await verifyCsr(pem);
    // Multi-valued RDN members appear in their (DER SET) encoded order.
    assert.equal(csr.subject, 'CN=alice,OU=eng+UID=u1,O=Acme\\, Inc.');
    assert.equal(csr.commonName, 'alice');
    assert.deepEqual(csr.sans, {
      dns: ['alice.example'],
      ip: ['10.0.0.1', '::1'],
      email: ['alice@example.com'],
      uri: ['spiffe://acme/alice'],
    });
  });

  test('accepts the legacy NEW CERTIFICATE REQUEST label', async (t) => {
    const dir = await tempDir(t);
    const pem = await makeCsr(dir, 'legacy', 'p256');
    const legacy = pem.replaceAll('CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST');
    assert.equal((await verifyCsr(legacy)).commonName, 'legacy');
  });

  test('RSA-1024 → weak_key naming the size', async (t) => {
    const dir = await tempDir(t);
    const pem = await makeCsr(dir, 'weak', 'rsa1024');
    await assert.rejects(verifyCsr(pem), gatehouseError('weak_key', 400, /1024/));
  });

  test('P-521 and DSA → unsupported_key_type', async (t) => {
    const dir = await tempDir(t);
    await assert.rejects(
      verifyCsr(await makeCsr(dir, 'p521', 'p521')),
      gatehouseError('unsupported_key_type'),
    );
    await assert.rejects(verifyCsr(await makeCsr(dir, 'dsa', 'dsa')), gatehouseError('unsupported_key_type'));
  });

  test('flipped signature bytes → csr_signature_invalid, for every key type', async (t) => {
    const dir = await tempDir(t);
    for (const kind of ['p256', 'p384', 'rsa2048', 'ed25519'] as const) {
      const flipped = flipCsrSignature(await makeCsr(dir, `flip-${kind}`, kind));
      // openssl agrees that the request is well-formed but its signature is wrong.
      const r = await ssl(['req', '-in', write(dir, `flip-${kind}.pem`, flipped), '-noout', '-text']);
      assert.match(r, /Certificate Request:/);
      await assert.rejects(verifyCsr(flipped), gatehouseError('csr_signature_invalid'), kind);
    }
  });

  test('a changed subject (signature over other bytes) → csr_signature_invalid', async (t) => {
    const dir = await tempDir(t);
    const der = pemToDer(await makeCsr(dir, 'aaaa', 'p256'));
    const at = der.indexOf(Buffer.from('aaaa'));
    der.write('bbbb', at, 'latin1');
    await assert.rejects(
      verifyCsr(derToPem(der, 'CERTIFICATE REQUEST')),
      gatehouseError('csr_signature_invalid'),
    );
  });

  test('garbage → invalid_pem / invalid_csr', async (t) => {
    await assert.rejects(verifyCsr('hello'), gatehouseError('invalid_pem'));
    await assert.rejects(verifyCsr(''), gatehouseError('invalid_pem'));
    await assert.rejects(
      verifyCsr('-----BEGIN CERTIFICATE REQUEST-----\n!!!\n-----END CERTIFICATE REQUEST-----\n'),
      gatehouseError('invalid_pem'),
    );
    // Right label, wrong contents.
    await assert.rejects(
      verifyCsr(derToPem(Buffer.from('definitely not DER'), 'CERTIFICATE REQUEST')),
      gatehouseError('invalid_csr'),
    );
    const dir = await tempDir(t);
    const good = await makeCsr(dir, 'good', 'p256');
    // Truncated DER and trailing junk after the request.
    const der = pemToDer(good);
    await assert.rejects(
      verifyCsr(derToPem(der.subarray(0, der.length - 10), 'CERTIFICATE REQUEST')),
      gatehouseError('invalid_csr'),
    );
    await assert.rejects(
      verifyCsr(derToPem(Buffer.concat([der, Buffer.from([0, 0])]), 'CERTIFICATE REQUEST')),
      gatehouseError('invalid_csr'),
    );
    // A certificate relabelled as a request.
    const certPath = join(dir, 'c.pem');
    await ssl(
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-subj',
        '/CN=c',
      ].concat(['-keyout', join(dir, 'c.key'), '-out', certPath]),
    );
    const cert = readFileSync(certPath, 'utf8');
    await assert.rejects(verifyCsr(cert), gatehouseError('invalid_pem'));
    await assert.rejects(
      verifyCsr(cert.replaceAll('CERTIFICATE', 'CERTIFICATE REQUEST')),
      gatehouseError('invalid_csr'),
    );
    // Exactly one block.
    await assert.rejects(verifyCsr(good + good), gatehouseError('invalid_pem', 400, /exactly one/));
  });
});
