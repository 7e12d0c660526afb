import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { issueClientCertificate } from '../../../src/pki/certificates.js';
import { describeCertificate, formatDistinguishedName } from '../../../src/pki/describe.js';
import { generateKeyPair } from '../../../src/pki/keys.js';
import { tempDir } from '../../helpers/tools.js';
import {
  chainFor,
  derToPem,
  gatehouseError,
  ISSUING_CRL_URL,
  pemToDer,
  ssl,
  unhex,
  write,
} from './fixtures.js';

describe('describeCertificate', () => {
  test('root, intermediate and client certificate', async () => {
    const { root, intermediate } = await chainFor('ecdsa-p256');
    const r = describeCertificate(root.certificatePem);
    assert.equal(r.subject, 'CN=Test Root ecdsa-p256,O=Acme');
    assert.equal(r.issuer, r.subject);
    assert.equal(r.commonName, 'Test Root ecdsa-p256');
    assert.equal(r.isCa, true);
    assert.equal(r.pathLength, undefined);
    assert.deepEqual(r.keyUsage, ['keyCertSign', 'cRLSign']);
    assert.equal(r.extendedKeyUsage, undefined);
    assert.equal(r.ski, root.ski);
    assert.equal(r.aki, undefined);
    assert.equal(r.serialNumber, root.serialNumber);
    assert.equal(r.fingerprintSha256, root.fingerprintSha256);
    assert.deepEqual(r.notBefore, root.notBefore);
    assert.deepEqual(r.notAfter, root.notAfter);

    const i = describeCertificate(intermediate.certificatePem);
    assert.equal(i.issuer, r.subject);
    assert.equal(i.isCa, true);
    assert.equal(i.pathLength, 0);
    assert.deepEqual(i.keyUsage, ['digitalSignature', 'keyCertSign', 'cRLSign']);
    assert.equal(i.aki, root.ski);

    const key = await generateKeyPair('ed25519');
    const leaf = await issueClientCertificate({
      issuer: intermediate,
      publicKeyPem: key.publicKeyPem,
      subject: { commonName: 'bob', organization: 'Acme', organizationalUnit: 'Ops' },
      crlDistributionPoint: ISSUING_CRL_URL,
    });
    // DER input works the same as PEM.
    const l = describeCertificate(pemToDer(leaf.certificatePem));
    assert.deepEqual(l, {
      subject: 'CN=bob,OU=Ops,O=Acme',
      issuer: 'CN=Test Issuing ecdsa-p256,O=Acme',
      commonName: 'bob',
      serialNumber: leaf.serialNumber,
      fingerprintSha256: leaf.fingerprintSha256,
      ski: leaf.ski,
      aki: intermediate.ski,
      notBefore: leaf.notBefore,
      notAfter: leaf.notAfter,
      isCa: false,
      keyUsage: ['digitalSignature'],
      extendedKeyUsage: ['clientAuth'],
    });
  });

  test('agrees with openssl on a certificate openssl made', async (t) => {
    const dir = await tempDir(t);
    const keyPath = join(dir, 'k.pem');
    const certPath = join(dir, 'c.pem');
    await ssl([
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      keyPath,
      '-out',
      certPath,
      '-days',
      '5',
      '-subj',
      '/C=DE/O=Example GmbH/OU=a+OU=b/CN=server, "one"',
      '-set_serial',
      '0x00ff',
      '-addext',
      'basicConstraints=critical,CA:TRUE,pathlen:3',
      '-addext',
      'keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign',
      '-addext',
      'extendedKeyUsage=serverAuth,clientAuth,1.2.3.4.5',
    ]);
    const pem = readFileSync(certPath, 'utf8');
    const d = describeCertificate(pem);
    assert.equal(d.subject, 'CN=server\\, \\"one\\",OU=a+OU=b,O=Example GmbH,C=DE');
    assert.equal(d.commonName, 'server, "one"');
    assert.equal(d.serialNumber, 'ff');
    assert.equal(d.isCa, true);
    assert.equal(d.pathLength, 3);
    assert.deepEqual(d.keyUsage, ['digitalSignature', 'keyEncipherment', 'keyCertSign']);
    assert.deepEqual(d.extendedKeyUsage, ['serverAuth', 'clientAuth', '1.2.3.4.5']);
    const fp = await ssl(['x509', '-in', certPath, '-noout', '-fingerprint', '-sha256']);
    assert.equal(d.fingerprintSha256, unhex(fp.split('=')[1] ?? ''));
    const ski = await ssl(['x509', '-in', certPath, '-noout', '-ext', 'subjectKeyIdentifier']);
    assert.equal(d.ski, unhex(ski.split('\n')[1] ?? ''));
    const dates = await ssl(['x509', '-in', certPath, '-noout', '-startdate', '-enddate']);
    const [start, end] = dates
      .trim()
      .split('\n')
      .map((l) => new Date(l.split('=')[1] ?? ''));
    assert.deepEqual(d.notBefore, start);
    assert.deepEqual(d.notAfter, end);
  });

  test('invalid input', async () => {
    assert.throws(
      () => describeCertificate(Buffer.from('not a certificate')),
      gatehouseError('invalid_certificate'),
    );
    assert.throws(
      () => describeCertificate(derToPem(Buffer.from([0x30, 0x03, 1, 2, 3]), 'CERTIFICATE')),
      gatehouseError('invalid_certificate'),
    );
    assert.throws(() => describeCertificate('garbage'), gatehouseError('invalid_pem'));
    const { root, intermediate } = await chainFor('ecdsa-p256');
    assert.throws(
      () => describeCertificate(root.certificatePem + intermediate.certificatePem),
      gatehouseError('invalid_pem'),
    );
    // A truncated certificate.
    const der = pemToDer(root.certificatePem);
    assert.throws(
      () => describeCertificate(der.subarray(0, der.length - 20)),
      gatehouseError('invalid_certificate'),
    );
  });
});

describe('formatDistinguishedName', () => {
  test('RFC 4514: reversed RDNs, escaping, unknown types as OID=#hex', async (t) => {
    const dir = await tempDir(t);
    const certPath = write(dir, 'x', '');
    await ssl([
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      join(dir, 'k'),
      '-out',
      certPath,
      '-subj',
      '/DC=com/DC=example/CN= lead;trail <x> ',
      '-utf8',
    ]);
    const d = describeCertificate(readFileSync(certPath, 'utf8'));
    assert.equal(d.subject, 'CN=\\ lead\\;trail \\<x\\>\\ ,DC=example,DC=com');
    // An attribute type without a short name: dotted OID and the value's DER as #hex.
    const custom = Buffer.from('3011310f300d06032a03040c06637573746f6d', 'hex');
    assert.equal(formatDistinguishedName(custom), '1.2.3.4=#0c06637573746f6d');
    assert.equal(formatDistinguishedName(Buffer.from('3000', 'hex')), '');
    // Control characters are hex-escaped so names are safe to log.
    const name = Buffer.from('3010310e300c06035504030c05610a620063', 'hex');
    assert.equal(formatDistinguishedName(name), 'CN=a\\0ab\\00c');
  });
});
