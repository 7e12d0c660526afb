// The edge builds what it tells origins about a client certificate from the parse path
// validation made (no second decode); it must say exactly what describeCertificate says.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { clientCertInfo } from '../../src/edge/cert-info.js';
import { describeCertificate, parseCertificate, serialNumberText } from '../../src/pki/index.js';
import { requireTool, runOk, tempDir } from '../helpers/tools.js';

const openssl = () => requireTool('openssl');

test('clientCertInfo gives the names, serial, SKI, fingerprint and dates describeCertificate gives', async (t) => {
  const dir = await tempDir(t);
  const cases: { name: string; subject: string; serial: string; v1?: boolean }[] = [
    { name: 'plain', subject: '/CN=device-1/O=Acme', serial: '0x01' },
    { name: 'highbit', subject: '/CN=high/OU=a+OU=b/O=Acme\\, Inc.', serial: '0x80aa55' },
    { name: 'escapes', subject: '/CN=#lead \\+ trail /emailAddress=a@b.test/C=FR', serial: '0x7f' },
    { name: 'utf8', subject: '/CN=Zoë Ünïcödé/O=Grüße', serial: '0xff00' },
    // A v1 certificate has no version field and no extensions (no SKI).
    { name: 'v1', subject: '/CN=old', serial: '0x1234', v1: true },
  ];
  const extfile = join(dir, 'leaf.ext');
  writeFileSync(extfile, 'subjectKeyIdentifier=hash\nbasicConstraints=critical,CA:FALSE\n');
  for (const c of cases) {
    const key = join(dir, `${c.name}.key`);
    const csr = join(dir, `${c.name}.csr`);
    const pem = join(dir, `${c.name}.pem`);
    await runOk(openssl(), ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
    await runOk(openssl(), ['req', '-new', '-key', key, '-utf8', '-subj', c.subject, '-out', csr]);
    await runOk(
      openssl(),
      [
        'x509',
        '-req',
        '-in',
        csr,
        '-signkey',
        key,
        '-set_serial',
        c.serial,
        '-days',
        '2',
        '-out',
        pem,
        ...(c.v1 ? [] : ['-extfile', extfile]),
      ],
      {},
    );
    const text = readFileSync(pem, 'utf8');
    const leaf = parseCertificate(text);
    const info = clientCertInfo(leaf, [leaf]);
    const d = describeCertificate(text);
    assert.deepEqual(
      {
        subject: info.subject,
        issuer: info.issuer,
        serial: info.serial,
        ski: info.ski,
        sha256: info.sha256,
        notBefore: info.notBefore,
        notAfter: info.notAfter,
      },
      {
        subject: d.subject,
        issuer: d.issuer,
        serial: d.serialNumber,
        ski: d.ski ?? '',
        sha256: d.fingerprintSha256,
        notBefore: d.notBefore.toISOString(),
        notAfter: d.notAfter.toISOString(),
      },
      c.name,
    );
    if (c.v1) assert.equal(info.ski, '', 'a v1 certificate has no SKI');
    else assert.match(info.ski, /^[0-9a-f]{40}$/);
  }
});

test('serialNumberText drops only the sign pad', () => {
  assert.equal(serialNumberText('0080AA'), '80aa');
  assert.equal(serialNumberText('007f'), '007f'); // not a sign pad (not minimal DER, kept as is)
  assert.equal(serialNumberText('00'), '00');
  assert.equal(serialNumberText('01'), '01');
  assert.equal(serialNumberText('FF'), 'ff');
});
