import assert from 'node:assert/strict';
import { createPublicKey, sign, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { generateKeyPair, importSigningKey, KEY_ALGORITHMS, pkiWebCrypto } from '../../../src/pki/keys.js';
import { tempDir } from '../../helpers/tools.js';
import { gatehouseError, ssl, write } from './fixtures.js';

const OPENSSL_TEXT: Record<string, RegExp> = {
  'ecdsa-p256': /NIST CURVE: P-256/,
  'ecdsa-p384': /NIST CURVE: P-384/,
  'rsa-2048': /Private-Key: \(2048 bit/,
  'rsa-3072': /Private-Key: \(3072 bit/,
  ed25519: /ED25519 Private-Key/,
};

describe('generateKeyPair / importSigningKey', () => {
  for (const alg of KEY_ALGORITHMS) {
    test(`${alg}: PKCS#8 + SPKI that openssl reads; the key is detected and signs`, async (t) => {
      const dir = await tempDir(t);
      const pair = await generateKeyPair(alg);
      assert.match(pair.privateKeyPem, /^-----BEGIN PRIVATE KEY-----\n/);
      assert.match(pair.publicKeyPem, /^-----BEGIN PUBLIC KEY-----\n/);
      const keyPath = write(dir, 'key.pem', pair.privateKeyPem);
      assert.match(await ssl(['pkey', '-in', keyPath, '-noout', '-text']), OPENSSL_TEXT[alg] as RegExp);
      assert.equal(await ssl(['pkey', '-in', keyPath, '-pubout']), pair.publicKeyPem);

      const key = await importSigningKey(pair.privateKeyPem);
      const expected = {
        'ecdsa-p256': { info: { type: 'ec', curve: 'P-256' }, alg: { name: 'ECDSA', hash: 'SHA-256' } },
        'ecdsa-p384': { info: { type: 'ec', curve: 'P-384' }, alg: { name: 'ECDSA', hash: 'SHA-384' } },
        'rsa-2048': {
          info: { type: 'rsa', bits: 2048 },
          alg: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
        },
        'rsa-3072': {
          info: { type: 'rsa', bits: 3072 },
          alg: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
        },
        ed25519: { info: { type: 'ed25519' }, alg: { name: 'Ed25519' } },
      }[alg];
      assert.deepEqual(key.info, expected.info);
      assert.deepEqual(key.signingAlgorithm, expected.alg);
      assert.equal(key.cryptoKey.extractable, false);
      assert.deepEqual(key.cryptoKey.usages, ['sign']);
      // A WebCrypto signature that node (OpenSSL) verifies with the public key.
      const data = Buffer.from('gatehouse');
      const sig = Buffer.from(await pkiWebCrypto.subtle.sign(key.signingAlgorithm, key.cryptoKey, data));
      const pub = createPublicKey(pair.publicKeyPem);
      const hash = alg === 'ed25519' ? null : alg === 'ecdsa-p384' ? 'sha384' : 'sha256';
      const ok = verify(
        hash,
        data,
        alg.startsWith('ecdsa') ? { key: pub, dsaEncoding: 'ieee-p1363' } : pub,
        sig,
      );
      assert.ok(ok);
    });
  }

  test('two calls give different keys', async () => {
    const a = await generateKeyPair('ecdsa-p256');
    const b = await generateKeyPair('ecdsa-p256');
    assert.notEqual(a.privateKeyPem, b.privateKeyPem);
  });

  test('openssl-made keys: SEC1 and PKCS#8 accepted; P-521, RSA-1024, encrypted and junk refused', async (t) => {
    const dir = await tempDir(t);
    const sec1 = join(dir, 'sec1.pem');
    await ssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', sec1]);
    const sec1Pem = readFileSync(sec1, 'utf8');
    assert.match(sec1Pem, /BEGIN EC PRIVATE KEY/);
    const key = await importSigningKey(sec1Pem);
    assert.deepEqual(key.info, { type: 'ec', curve: 'P-256' });
    // node's own signature check against the key openssl made
    const sig = sign('sha256', Buffer.from('x'), sec1Pem);
    assert.ok(verify('sha256', Buffer.from('x'), createPublicKey(sec1Pem), sig));

    const p521 = join(dir, 'p521.pem');
    await ssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-521', '-out', p521]);
    await assert.rejects(
      importSigningKey(readFileSync(p521, 'utf8')),
      gatehouseError('unsupported_key_type'),
    );

    const rsa1024 = join(dir, 'rsa1024.pem');
    await ssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024', '-out', rsa1024]);
    await assert.rejects(
      importSigningKey(readFileSync(rsa1024, 'utf8')),
      gatehouseError('weak_key', 400, /1024/),
    );

    const encrypted = join(dir, 'enc.pem');
    await ssl(['genpkey', '-algorithm', 'ED25519', '-aes256', '-pass', 'pass:secret', '-out', encrypted]);
    await assert.rejects(importSigningKey(readFileSync(encrypted, 'utf8')), gatehouseError('invalid_pem'));

    await assert.rejects(importSigningKey('junk'), gatehouseError('invalid_pem'));
    await assert.rejects(
      importSigningKey('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n'),
      gatehouseError('invalid_private_key'),
    );
  });
});
