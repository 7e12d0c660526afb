import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { issueClientCertificate } from '../../../src/pki/certificates.js';
import { CRL_REASONS, createCrl } from '../../../src/pki/crl.js';
import { generateKeyPair } from '../../../src/pki/keys.js';
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
