import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { generateKeyPair } from '../../../src/pki/keys.js';
import {
  generateMasterKey,
  openPrivateKey,
  parseMasterKey,
  sealPrivateKey,
} from '../../../src/pki/keywrap.js';
import { gatehouseError } from './fixtures.js';

const unwrapFailed = gatehouseError('key_unwrap_failed', 500);

describe('sealPrivateKey / openPrivateKey', () => {
  test('roundtrip, compact v1 format, fresh IV each time', async () => {
    const kek = generateMasterKey();
    const { privateKeyPem } = await generateKeyPair('ecdsa-p256');
    const sealed = sealPrivateKey(kek, privateKeyPem, 'ca_123');
    assert.match(sealed, /^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/);
    const [, iv, body] = sealed.split('.');
    assert.equal(Buffer.from(iv ?? '', 'base64url').length, 12);
    assert.equal(Buffer.from(body ?? '', 'base64url').length, Buffer.byteLength(privateKeyPem) + 16);
    assert.ok(!sealed.includes('PRIVATE'));
    assert.equal(openPrivateKey(kek, sealed, 'ca_123'), privateKeyPem);
    const again = sealPrivateKey(kek, privateKeyPem, 'ca_123');
    assert.notEqual(again, sealed);
    assert.equal(openPrivateKey(kek, again, 'ca_123'), privateKeyPem);
  });

  test('wrong KEK, swapped AAD, tampering and malformed input → key_unwrap_failed (500)', () => {
    const kek = generateMasterKey();
    const sealed = sealPrivateKey(kek, 'secret pem', 'ca_1');
    assert.throws(() => openPrivateKey(generateMasterKey(), sealed, 'ca_1'), unwrapFailed);
    // A row copied onto another CA does not open.
    assert.throws(() => openPrivateKey(kek, sealed, 'ca_2'), unwrapFailed);
    assert.throws(() => openPrivateKey(kek, sealed, ''), unwrapFailed);
    const [v, iv, body] = sealed.split('.') as [string, string, string];
    const flip = (b64: string, at: number) => {
      const bytes = Buffer.from(b64, 'base64url');
      bytes[at] = (bytes[at] as number) ^ 1;
      return bytes.toString('base64url');
    };
    assert.throws(() => openPrivateKey(kek, `${v}.${flip(iv, 0)}.${body}`, 'ca_1'), unwrapFailed);
    assert.throws(() => openPrivateKey(kek, `${v}.${iv}.${flip(body, 0)}`, 'ca_1'), unwrapFailed);
    assert.throws(
      () =>
        openPrivateKey(kek, `${v}.${iv}.${flip(body, Buffer.from(body, 'base64url').length - 1)}`, 'ca_1'),
      unwrapFailed,
    );
    for (const bad of [
      '',
      'v1',
      `v2.${iv}.${body}`,
      `v1.${iv}`,
      `v1.${iv}.${body}.x`,
      `v1.${iv}.AAAA`,
      `v1.!!.${body}`,
    ]) {
      assert.throws(() => openPrivateKey(kek, bad, 'ca_1'), unwrapFailed, bad);
    }
  });

  test('KEK must be 32 bytes', () => {
    assert.throws(() => sealPrivateKey(Buffer.alloc(16), 'x', 'a'), gatehouseError('invalid_master_key'));
    assert.throws(
      () => openPrivateKey(Buffer.alloc(31), 'v1.a.b', 'a'),
      gatehouseError('invalid_master_key'),
    );
  });
});

describe('parseMasterKey / generateMasterKey', () => {
  test('hex, base64 and base64url of 32 bytes', () => {
    const key = generateMasterKey();
    assert.equal(key.length, 32);
    assert.notDeepEqual(key, generateMasterKey());
    assert.deepEqual(parseMasterKey(key.toString('hex')), key);
    assert.deepEqual(parseMasterKey(key.toString('hex').toUpperCase()), key);
    assert.deepEqual(parseMasterKey(`  ${key.toString('hex')}\n`), key);
    assert.deepEqual(parseMasterKey(key.toString('base64')), key);
    assert.deepEqual(parseMasterKey(key.toString('base64').replace(/=$/, '')), key);
    assert.deepEqual(parseMasterKey(key.toString('base64url')), key);
    const fixed = Buffer.from('fb'.repeat(32), 'hex'); // base64 uses '+' and '/', base64url '-' and '_'
    assert.deepEqual(parseMasterKey(fixed.toString('base64')), fixed);
    assert.deepEqual(parseMasterKey(fixed.toString('base64url')), fixed);
  });

  test('anything else → invalid_master_key', () => {
    const bad = [
      '',
      'a'.repeat(63),
      'a'.repeat(65),
      'g'.repeat(64),
      Buffer.alloc(31, 1).toString('base64'),
      Buffer.alloc(33, 1).toString('base64'),
      `${Buffer.alloc(32, 1).toString('base64').slice(0, 42)}B=`, // non-canonical trailing bits
      '+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/-_A', // mixed alphabets
      'correct horse battery staple',
    ];
    for (const text of bad)
      assert.throws(() => parseMasterKey(text), gatehouseError('invalid_master_key'), text);
  });
});
