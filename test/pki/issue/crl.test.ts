import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { issueClientCertificate } from '../../../src/pki/certificates.js';
import { CRL_REASONS, createCrl, type RevokedCertificateEntry } from '../../../src/pki/crl.js';
import { parseCrl } from '../../../src/pki/verify/parse.js';
import { generateKeyPair, importSigningKey, pkiWebCrypto, x509 } from '../../../src/pki/keys.js';
import { tempDir } from '../../helpers/tools.js';
import {
  CA_ALGORITHMS,
  chainFor,
  EXPECTED_SIGNATURE,
  gatehouseError,
  ISSUING_CRL_URL,
  ssl,
  sslAny,
  write,
} from './fixtures.js';

const HOUR = 3_600_000;

describe('createCrl', () => {
  test('exports the reason list', () => {
    assert.deepEqual(CRL_REASONS, [
      'unspecified',
      'keyCompromise',
      'caCompromise',
      'affiliationChanged',
      'superseded',
      'cessationOfOperation',
      'certificateHold',
      'privilegeWithdrawn',
    ]);
  });

  for (const caAlg of CA_ALGORITHMS) {
    test(`${caAlg}: v2 CRL with AKI, cRLNumber, serials and reasons; openssl verifies it`, async (t) => {
      const dir = await tempDir(t);
      const { intermediate } = await chainFor(caAlg);
      const thisUpdate = new Date(Math.floor(Date.now() / 1000) * 1000);
      const nextUpdate = new Date(thisUpdate.getTime() + 24 * HOUR);
      const { der, pem } = await createCrl({
        issuer: intermediate,
        crlNumber: 4242n,
        thisUpdate,
        nextUpdate,
        revoked: [
          {
            serialNumber: '0a1b2c3d4e5f60718293a4b5c6d7e8f9',
            revokedAt: thisUpdate,
            reason: 'keyCompromise',
          },
          {
            serialNumber: '7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF',
            revokedAt: thisUpdate,
            reason: 'certificateHold',
          },
          {
            serialNumber: '8000000000000000000000000000abcd',
            revokedAt: thisUpdate,
            reason: 'privilegeWithdrawn',
          },
          { serialNumber: '01', revokedAt: thisUpdate, reason: 'unspecified' },
          { serialNumber: '02', revokedAt: thisUpdate },
          { serialNumber: '03', revokedAt: thisUpdate, reason: 'caCompromise' },
          { serialNumber: '04', revokedAt: thisUpdate, reason: 'superseded' },
          { serialNumber: '05', revokedAt: thisUpdate, reason: 'affiliationChanged' },
          { serialNumber: '06', revokedAt: thisUpdate, reason: 'cessationOfOperation' },
        ],
      });
      assert.match(pem, /^-----BEGIN X509 CRL-----\n/);
      const derPath = write(dir, 'crl.der', der);
      const text = await ssl(['crl', '-inform', 'DER', '-in', derPath, '-text', '-noout']);
      assert.match(text, /Version 2 \(0x1\)/);
      assert.match(text, new RegExp(`Signature Algorithm: ${EXPECTED_SIGNATURE[caAlg]}`));
      assert.match(text, /Next Update: /);
      assert.match(text, /X509v3 CRL Number: \s*\n\s+4242\n/);
      assert.match(text, /X509v3 Authority Key Identifier: \s*\n\s+([0-9A-F]{2}:)+/);
      assert.ok(text.replace(/[:\s]/g, '').toLowerCase().includes(intermediate.ski), 'AKI is the issuer SKI');
      assert.match(
        text,
        /Serial Number: 0A1B2C3D4E5F60718293A4B5C6D7E8F9\n[^\n]*\n\s+CRL entry extensions:\s+X509v3 CRL Reason Code:\s+Key Compromise/,
      );
      assert.match(text, /Serial Number: 7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF\n[\s\S]*?Certificate Hold/);
      // A serial with the high bit set gets its 0x00 sign pad (openssl prints it without).
      assert.match(text, /Serial Number: 8000000000000000000000000000ABCD\n[\s\S]*?Privilege Withdrawn/);
      assert.match(text, /CA Compromise/);
      assert.match(text, /Superseded/);
      assert.match(text, /Affiliation Changed/);
      assert.match(text, /Cessation Of Operation/);
      // "unspecified" is expressed by omitting the reason code (RFC 5280 §5.3.1).
      assert.match(
        text,
        /Serial Number: 01\n\s+Revocation Date: [^\n]+\n\s+Serial Number: 02\n\s+Revocation Date: [^\n]+\n\s+Serial Number: 03\n/,
      );

      const interPath = write(dir, 'intermediate.pem', intermediate.certificatePem);
      const verify = await ssl([
        'crl',
        '-inform',
        'DER',
        '-in',
        derPath,
        '-noout',
        '-verify',
        '-CAfile',
        interPath,
      ]);
      assert.match(verify, /verify OK/);
      // PEM and DER are the same CRL.
      const pemPath = write(dir, 'crl.pem', pem);
      assert.equal(await ssl(['crl', '-in', pemPath, '-text', '-noout']), text);
    });
  }

  test('openssl -crl_check rejects a revoked client certificate and accepts the others', async (t) => {
    const dir = await tempDir(t);
    const { root, intermediate } = await chainFor('ecdsa-p384');
    const key = await generateKeyPair('ecdsa-p256');
    const issue = (cn: string) =>
      issueClientCertificate({
        issuer: intermediate,
        publicKeyPem: key.publicKeyPem,
        subject: { commonName: cn },
        crlDistributionPoint: ISSUING_CRL_URL,
      });
    const revoked = await issue('revoked');
    const good = await issue('good');
    const now = Date.now();
    const issuingCrl = await createCrl({
      issuer: intermediate,
      crlNumber: 1n,
      thisUpdate: new Date(now - HOUR),
      nextUpdate: new Date(now + HOUR),
      revoked: [
        { serialNumber: revoked.serialNumber, revokedAt: new Date(now - 1000), reason: 'keyCompromise' },
      ],
    });
    const rootCrl = await createCrl({
      issuer: root,
      crlNumber: 1n,
      thisUpdate: new Date(now - HOUR),
      nextUpdate: new Date(now + HOUR),
      revoked: [],
    });
    const args = [
      'verify',
      '-crl_check_all',
      '-CAfile',
      write(dir, 'root.pem', root.certificatePem),
      '-untrusted',
      write(dir, 'inter.pem', intermediate.certificatePem),
      '-CRLfile',
      write(dir, 'crls.pem', issuingCrl.pem + rootCrl.pem),
    ];
    const bad = await sslAny([...args, write(dir, 'revoked.pem', revoked.certificatePem)]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.out, /certificate revoked/);
    const ok = await sslAny([...args, write(dir, 'good.pem', good.certificatePem)]);
    assert.equal(ok.code, 0, ok.out);
    assert.match(ok.out, /good.pem: OK/);
  });

  // Every entry has a reason here: for entries without one the library writes an empty
  // crlEntryExtensions SEQUENCE, which RFC 5280 forbids (SIZE (1..MAX)); we omit the field.
  test('the DER written by hand is the DER @peculiar/x509 writes, byte for byte (RSA signs deterministically)', async () => {
    const REASONS_WITH_CODE = CRL_REASONS.filter((r) => r !== 'unspecified');
    const { intermediate } = await chainFor('rsa-3072');
    const thisUpdate = new Date('2049-12-31T23:59:59Z');
    const nextUpdate = new Date('2050-01-07T00:00:00Z'); // GeneralizedTime from 2050
    const revoked: RevokedCertificateEntry[] = [
      { serialNumber: '7f', revokedAt: new Date('1999-01-02T03:04:05Z'), reason: 'keyCompromise' },
      { serialNumber: '80', revokedAt: new Date('2030-06-30T12:00:00Z'), reason: 'superseded' }, // sign pad
      { serialNumber: '00ff00', revokedAt: new Date('2055-01-01T00:00:01Z'), reason: 'certificateHold' },
      ...Array.from({ length: 300 }, (_, i) => ({
        serialNumber: (0x10000 + i * 7919).toString(16),
        revokedAt: new Date(Date.UTC(2026, 0, 1, 0, 0, i)),
        reason: REASONS_WITH_CODE[i % REASONS_WITH_CODE.length],
      })),
    ];
    const ours = await createCrl({
      issuer: intermediate,
      crlNumber: 2n ** 64n,
      thisUpdate,
      nextUpdate,
      revoked,
    });

    const issuerCert = new x509.X509Certificate(intermediate.certificatePem);
    const key = await importSigningKey(intermediate.privateKeyPem);
    // The library's own reason enum is the oracle (it spells caCompromise "cACompromise").
    const code = (reason: string) =>
      x509.X509CrlReason[
        (reason === 'caCompromise' ? 'cACompromise' : reason) as keyof typeof x509.X509CrlReason
      ];
    const reference = await x509.X509CrlGenerator.create(
      {
        issuer: issuerCert.subjectName,
        thisUpdate,
        nextUpdate,
        entries: revoked.map((r) => ({
          serialNumber: r.serialNumber
            .replace(/^0+/, '')
            .padStart(2 * Math.ceil(r.serialNumber.replace(/^0+/, '').length / 2), '0'),
          revocationDate: r.revokedAt,
          ...(r.reason && r.reason !== 'unspecified' ? { reason: code(r.reason) } : {}),
        })),
        extensions: [
          new x509.AuthorityKeyIdentifierExtension(intermediate.ski, false),
          new x509.Extension('2.5.29.20', false, Buffer.from('0209010000000000000000', 'hex')),
        ],
        signingAlgorithm: key.signingAlgorithm,
        signingKey: key.cryptoKey,
      },
      pkiWebCrypto,
    );
    assert.equal(ours.der.toString('hex'), Buffer.from(reference.rawData).toString('hex'));
  });

  test('a CRL of 20,000 entries: every serial listed once, openssl verifies it', async (t) => {
    const dir = await tempDir(t);
    const { intermediate } = await chainFor('ecdsa-p256');
    const now = new Date(Math.floor(Date.now() / 1000) * 1000);
    const serials = Array.from({ length: 20_000 }, (_, i) => (0x1000000 + i).toString(16));
    const { der } = await createCrl({
      issuer: intermediate,
      crlNumber: 7n,
      thisUpdate: now,
      nextUpdate: new Date(now.getTime() + HOUR),
      revoked: serials.map((serialNumber, i) => ({
        serialNumber,
        revokedAt: now,
        reason: i % 2 ? 'keyCompromise' : 'unspecified',
      })),
    });
    const derPath = write(dir, 'big.der', der);
    const interPath = write(dir, 'intermediate.pem', intermediate.certificatePem);
    assert.match(
      await ssl(['crl', '-inform', 'DER', '-in', derPath, '-noout', '-verify', '-CAfile', interPath]),
      /verify OK/,
    );
    const text = await ssl(['crl', '-inform', 'DER', '-in', derPath, '-text', '-noout']);
    const listed = [...text.matchAll(/Serial Number: ([0-9A-F]+)/g)].map((m) => m[1]!.toLowerCase());
    assert.deepEqual(
      listed,
      serials.map((s) => s.padStart(8, '0')),
    );
    // Gatehouse reads CRLs this large too (attached to uploaded CAs): asn1js's default node
    // limit used to refuse anything above ≈ 2,500 entries.
    assert.equal(parseCrl(der).entries.size, 20_000);
    // No entry carries an empty extension list (the `unspecified` half has none at all).
    assert.equal(text.match(/CRL entry extensions/g)?.length, 10_000);
    assert.equal(text.match(/Key Compromise/g)?.length, 10_000);
  });

  test('rejects bad input', async () => {
    const { intermediate } = await chainFor('ecdsa-p256');
    const now = new Date();
    const base = {
      issuer: intermediate,
      crlNumber: 1n,
      thisUpdate: now,
      nextUpdate: new Date(now.getTime() + HOUR),
      revoked: [],
    };
    await assert.rejects(createCrl({ ...base, nextUpdate: now }), gatehouseError('invalid_crl_dates'));
    // Encoded in whole seconds: a nextUpdate within the same second would equal thisUpdate.
    const second = new Date(Math.floor(now.getTime() / 1000) * 1000);
    await assert.rejects(
      createCrl({ ...base, thisUpdate: second, nextUpdate: new Date(second.getTime() + 999) }),
      gatehouseError('invalid_crl_dates'),
    );
    // GeneralizedTime has four year digits.
    await assert.rejects(
      createCrl({ ...base, nextUpdate: new Date('+010000-01-01T00:00:00Z') }),
      gatehouseError('invalid_crl_dates'),
    );
    await assert.rejects(
      createCrl({
        ...base,
        revoked: [{ serialNumber: '01', revokedAt: new Date('+010000-01-01T00:00:00Z') }],
      }),
      gatehouseError('invalid_crl_dates'),
    );
    await assert.rejects(createCrl({ ...base, crlNumber: -1n }), gatehouseError('invalid_crl_number'));
    await assert.rejects(createCrl({ ...base, crlNumber: 2n ** 160n }), gatehouseError('invalid_crl_number'));
    await assert.rejects(
      createCrl({ ...base, revoked: [{ serialNumber: 'xyz', revokedAt: now }] }),
      gatehouseError('invalid_serial_number'),
    );
    await assert.rejects(
      createCrl({
        ...base,
        revoked: [
          { serialNumber: 'abcd', revokedAt: now },
          { serialNumber: '00ABCD', revokedAt: now },
        ],
      }),
      gatehouseError('invalid_serial_number', 400, /twice/),
    );
    const { root } = await chainFor('ecdsa-p256');
    await assert.rejects(
      createCrl({
        ...base,
        issuer: { certificatePem: root.certificatePem, privateKeyPem: intermediate.privateKeyPem },
      }),
      gatehouseError('issuer_key_mismatch'),
    );
  });
});
