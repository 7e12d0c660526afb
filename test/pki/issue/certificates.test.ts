import assert from 'node:assert/strict';
import {
  createHash,
  createPrivateKey,
  generateKeyPairSync,
  type KeyObject,
  X509Certificate,
} from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import {
  createIntermediateCa,
  createRootCa,
  createServerCertificate,
  issueClientCertificate,
} from '../../../src/pki/certificates.js';
import { verifyCsr } from '../../../src/pki/csr.js';
import { describeCertificate } from '../../../src/pki/describe.js';
import { generateSerialNumber } from '../../../src/pki/serial.js';
import { NOT_BEFORE_BACKDATE_MS } from '../../../src/pki/sign.js';
import { generateKeyPair } from '../../../src/pki/keys.js';
import { tempDir } from '../../helpers/tools.js';
import {
  CA_ALGORITHMS,
  chainFor,
  EXPECTED_SIGNATURE,
  gatehouseError,
  ISSUING_CRL_URL,
  lineAfter,
  makeCsr,
  pemToDer,
  ROOT_CRL_URL,
  ssl,
  sslAny,
  unhex,
  write,
} from './fixtures.js';

/** DER length header → [content offset, content length]. */
function tlv(der: Uint8Array, at: number): { tag: number; start: number; length: number } {
  const tag = der[at] as number;
  let len = der[at + 1] as number;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (der[at + 2 + i] as number);
    start += n;
  }
  return { tag, start, length: len };
}

/** RFC 5280 §4.2.1.2 method 1, computed independently: SHA-1 of the subjectPublicKey bits. */
function method1KeyId(spki: Uint8Array): string {
  const outer = tlv(spki, 0);
  const alg = tlv(spki, outer.start);
  const bits = tlv(spki, alg.start + alg.length);
  assert.equal(bits.tag, 0x03);
  // Skip the "unused bits" octet.
  return createHash('sha1')
    .update(spki.subarray(bits.start + 1, bits.start + bits.length))
    .digest('hex');
}

/** The serial number INTEGER of a certificate, straight from the DER. */
function serialDer(certDer: Uint8Array): Uint8Array {
  const cert = tlv(certDer, 0);
  const tbs = tlv(certDer, cert.start);
  let at = tbs.start;
  const first = tlv(certDer, at);
  if (first.tag === 0xa0) at = first.start + first.length; // [0] version
  const serial = tlv(certDer, at);
  assert.equal(serial.tag, 0x02);
  return certDer.subarray(serial.start, serial.start + serial.length);
}

/** How `openssl x509 -text` prints a time: "Jan  5 11:59:00 2026 GMT". */
function opensslDate(d: Date): string {
  const month = d.toLocaleString('en-US', { month: 'short', timeZone: 'UTC' });
  const time = d.toISOString().slice(11, 19);
  return `${month} ${String(d.getUTCDate()).padStart(2, ' ')} ${time} ${d.getUTCFullYear()} GMT`;
}

for (const caAlg of CA_ALGORITHMS) {
  describe(`CA chain ${caAlg}`, () => {
    let dir: string;
    let rootPath: string;
    let interPath: string;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), `gatehouse-issue-${caAlg}-`));
      const { root, intermediate } = await chainFor(caAlg);
      rootPath = write(dir, 'root.pem', root.certificatePem);
      interPath = write(dir, 'intermediate.pem', intermediate.certificatePem);
    });

    after(() => rm(dir, { recursive: true, force: true }));

    test('root: self-signed CA with critical basicConstraints/keyUsage and SKI', async () => {
      const { root } = await chainFor(caAlg);
      const text = await ssl(['x509', '-in', rootPath, '-noout', '-text']);
      assert.match(text, /X509v3 Basic Constraints: critical\s+CA:TRUE\n/);
      assert.match(text, /X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign\n/);
      assert.equal(unhex(lineAfter(text, 'X509v3 Subject Key Identifier')), root.ski);
      assert.match(text, new RegExp(`Signature Algorithm: ${EXPECTED_SIGNATURE[caAlg]}`));
      assert.match(text, /Subject: O = Acme, CN = Test Root/);
      const verify = await ssl(['verify', '-CAfile', rootPath, rootPath]);
      assert.match(verify, /: OK/);
      assert.equal(
        root.ski,
        method1KeyId(
          new X509Certificate(root.certificatePem).publicKey.export({ type: 'spki', format: 'der' }),
        ),
      );
      // Default validity 3650 days.
      assert.equal(
        root.notAfter.getTime() - root.notBefore.getTime(),
        3650 * 86_400_000 + NOT_BEFORE_BACKDATE_MS,
      );
    });

    test('intermediate: CA pathlen 0, keyCertSign+cRLSign+digitalSignature, SKI/AKI, CRL DP; verifies', async () => {
      const { root, intermediate } = await chainFor(caAlg);
      const text = await ssl(['x509', '-in', interPath, '-noout', '-text']);
      assert.match(text, /X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:0\n/);
      assert.match(text, /X509v3 Key Usage: critical\s+Digital Signature, Certificate Sign, CRL Sign\n/);
      assert.equal(unhex(lineAfter(text, 'X509v3 Subject Key Identifier')), intermediate.ski);
      assert.equal(unhex(lineAfter(text, 'X509v3 Authority Key Identifier')).replace(/^keyid/, ''), root.ski);
      assert.match(text, new RegExp(`URI:${ROOT_CRL_URL}`));
      assert.match(text, new RegExp(`Signature Algorithm: ${EXPECTED_SIGNATURE[caAlg]}`));
      assert.match(await ssl(['verify', '-CAfile', rootPath, interPath]), /intermediate.pem: OK/);
      assert.equal(
        intermediate.notAfter.getTime() - intermediate.notBefore.getTime(),
        1825 * 86_400_000 + NOT_BEFORE_BACKDATE_MS,
      );
    });

    for (const kind of ['p256', 'p384', 'rsa2048', 'ed25519'] as const) {
      test(`client certificate for an openssl ${kind} CSR verifies and has the required extensions`, async () => {
        const { intermediate } = await chainFor(caAlg);
        const csr = await verifyCsr(await makeCsr(dir, `csr-${kind}`, kind, '/CN=x'));
        const now = new Date(Math.floor(Date.now() / 1000) * 1000);
        const issued = await issueClientCertificate({
          issuer: intermediate,
          publicKeyPem: csr.publicKeyPem,
          subject: { commonName: 'alice', organization: 'Acme', organizationalUnit: 'Engineering' },
          sans: { email: ['alice@example.com'], uri: ['spiffe://acme/user/alice'], dns: ['alice.example'] },
          crlDistributionPoint: ISSUING_CRL_URL,
          now,
        });
        const leafPath = write(dir, `leaf-${kind}.pem`, issued.certificatePem);
        const verify = await ssl([
          'verify',
          '-purpose',
          'sslclient',
          '-CAfile',
          rootPath,
          '-untrusted',
          interPath,
          leafPath,
        ]);
        assert.match(verify, new RegExp(`leaf-${kind}.pem: OK`));

        const text = await ssl(['x509', '-in', leafPath, '-noout', '-text']);
        assert.match(text, /X509v3 Basic Constraints: critical\s+CA:FALSE\n/);
        assert.match(text, /X509v3 Key Usage: critical\s+Digital Signature\n/);
        assert.match(text, /X509v3 Extended Key Usage: \s*\n\s+TLS Web Client Authentication\n/);
        assert.match(
          text,
          new RegExp(`X509v3 CRL Distribution Points: \\s*\\n\\s+Full Name:\\s+URI:${ISSUING_CRL_URL}\\n`),
        );
        assert.match(text, /DNS:alice.example, email:alice@example.com, URI:spiffe:\/\/acme\/user\/alice\n/);
        assert.match(text, /Subject: O = Acme, OU = Engineering, CN = alice\n/);
        assert.match(text, /Issuer: O = Acme, CN = Test Issuing/);
        assert.match(text, new RegExp(`Signature Algorithm: ${EXPECTED_SIGNATURE[caAlg]}`));
        // SKI is method 1 over the CSR's key; AKI is the issuer's SKI.
        const ski = unhex(lineAfter(text, 'X509v3 Subject Key Identifier'));
        assert.equal(ski, issued.ski);
        assert.equal(ski, method1KeyId(csr.publicKeyDer));
        assert.equal(
          unhex(lineAfter(text, 'X509v3 Authority Key Identifier')).replace(/^keyid/, ''),
          intermediate.ski,
        );
        // Serial: 16 bytes, positive without padding, reported as exactly that hex.
        const serialLine = await ssl(['x509', '-in', leafPath, '-noout', '-serial']);
        assert.equal(serialLine.trim(), `serial=${issued.serialNumber.toUpperCase()}`);
        assert.match(issued.serialNumber, /^[0-7][0-9a-f]{31}$/);
        assert.equal(
          Buffer.from(serialDer(pemToDer(issued.certificatePem))).toString('hex'),
          issued.serialNumber,
        );
        // Fingerprint as openssl computes it.
        const fp = await ssl(['x509', '-in', leafPath, '-noout', '-fingerprint', '-sha256']);
        assert.equal(unhex(fp.split('=')[1] ?? ''), issued.fingerprintSha256);
        // Validity: backdated by a minute, 90 days by default, whole seconds.
        assert.equal(issued.notBefore.getTime(), now.getTime() - NOT_BEFORE_BACKDATE_MS);
        assert.equal(issued.notAfter.getTime(), now.getTime() + 90 * 86_400_000);
        assert.match(text, new RegExp(`Not Before: ${opensslDate(issued.notBefore)}`));
        // The subject key is the CSR's key.
        assert.equal(
          new X509Certificate(issued.certificatePem).publicKey.export({ type: 'spki', format: 'pem' }),
          csr.publicKeyPem,
        );
      });
    }

    test('server certificate: serverAuth, SAN DNS + IPv4 + IPv6, verifies as sslserver', async () => {
      const { intermediate } = await chainFor(caAlg);
      const server = await createServerCertificate({
        issuer: intermediate,
        commonName: 'Gatehouse control plane',
        dnsNames: ['localhost', 'gw.example.com'],
        ipAddresses: ['127.0.0.1', '::1', '2001:db8::7'],
        algorithm: caAlg,
      });
      const path = write(dir, 'server.pem', server.certificatePem);
      const verify = await ssl([
        'verify',
        '-purpose',
        'sslserver',
        '-CAfile',
        rootPath,
        '-untrusted',
        interPath,
        path,
      ]);
      assert.match(verify, /server.pem: OK/);
      const text = await ssl(['x509', '-in', path, '-noout', '-text']);
      assert.match(text, /IP Address:127.0.0.1/);
      assert.match(text, /IP Address:0:0:0:0:0:0:0:1/);
      assert.match(text, /IP Address:2001:DB8:0:0:0:0:0:7/);
      assert.match(text, /DNS:localhost, DNS:gw.example.com/);
      assert.match(text, /TLS Web Server Authentication/);
      assert.match(text, /X509v3 Basic Constraints: critical\s+CA:FALSE\n/);
      const usage = caAlg.startsWith('rsa') ? 'Digital Signature, Key Encipherment' : 'Digital Signature';
      assert.match(text, new RegExp(`X509v3 Key Usage: critical\\s+${usage}\\n`));
      assert.equal(
        server.notAfter.getTime() - server.notBefore.getTime(),
        397 * 86_400_000 + NOT_BEFORE_BACKDATE_MS,
      );
      // The key returned is the certified one.
      assert.ok(
        new X509Certificate(server.certificatePem).checkPrivateKey(createPrivateKey(server.privateKeyPem)),
      );
    });
  });
}

describe('issuance rules', () => {
  test('an mTLS handshake works with the issued server and client certificates', async (t) => {
    const { root, intermediate } = await chainFor('ecdsa-p256');
    const server = await createServerCertificate({
      issuer: intermediate,
      commonName: 'srv',
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
      algorithm: 'ecdsa-p256',
    });
    const clientKey = await generateKeyPair('ed25519');
    const client = await issueClientCertificate({
      issuer: intermediate,
      publicKeyPem: clientKey.publicKeyPem,
      subject: { commonName: 'device-1' },
      crlDistributionPoint: ISSUING_CRL_URL,
    });
    const chain = server.certificatePem + intermediate.certificatePem;
    const srv = createServer(
      {
        cert: chain,
        key: server.privateKeyPem,
        ca: root.certificatePem,
        requestCert: true,
        rejectUnauthorized: true,
      },
      (socket: TLSSocket) => {
        socket.end(`hello ${socket.getPeerCertificate().subject.CN}`);
      },
    );
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    t.after(() => srv.close());
    const port = (srv.address() as { port: number }).port;
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = connect({
        host: '127.0.0.1',
        port,
        ca: root.certificatePem,
        cert: client.certificatePem + intermediate.certificatePem,
        key: clientKey.privateKeyPem,
        servername: 'localhost',
      });
      let data = '';
      socket.on('data', (d) => {
        data += d;
      });
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
    assert.equal(reply, 'hello device-1');
  });

  test('200 serials: 16 bytes, positive, non-zero first byte, unique, exact DER', async () => {
    const { intermediate } = await chainFor('ecdsa-p256');
    const key = await generateKeyPair('ecdsa-p256');
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const issued = await issueClientCertificate({
        issuer: intermediate,
        publicKeyPem: key.publicKeyPem,
        subject: { commonName: `s${i}` },
        crlDistributionPoint: ISSUING_CRL_URL,
      });
      const der = serialDer(pemToDer(issued.certificatePem));
      assert.equal(der.length, 16);
      assert.ok((der[0] as number) > 0 && (der[0] as number) < 0x80, `first byte ${der[0]}`);
      assert.equal(Buffer.from(der).toString('hex'), issued.serialNumber);
      assert.equal(
        new X509Certificate(issued.certificatePem).serialNumber.toLowerCase(),
        issued.serialNumber,
      );
      seen.add(issued.serialNumber);
    }
    assert.equal(seen.size, 200);
    for (let i = 0; i < 5000; i++)
      assert.match(generateSerialNumber(), /^(0[1-9a-f]|[1-7][0-9a-f])[0-9a-f]{30}$/);
  });

  test('issuance refuses an issuer key that does not match the issuer certificate', async () => {
    const { root, intermediate } = await chainFor('ecdsa-p256');
    const key = await generateKeyPair('ecdsa-p256');
    const mismatched = { certificatePem: intermediate.certificatePem, privateKeyPem: root.privateKeyPem };
    const base = {
      publicKeyPem: key.publicKeyPem,
      subject: { commonName: 'x' },
      crlDistributionPoint: ISSUING_CRL_URL,
    };
    await assert.rejects(
      issueClientCertificate({ ...base, issuer: mismatched }),
      gatehouseError('issuer_key_mismatch'),
    );
    const other = await generateKeyPair('ecdsa-p256');
    await assert.rejects(
      issueClientCertificate({ ...base, issuer: { ...intermediate, privateKeyPem: other.privateKeyPem } }),
      gatehouseError('issuer_key_mismatch'),
    );
    await assert.rejects(
      createIntermediateCa({
        issuer: { certificatePem: root.certificatePem, privateKeyPem: intermediate.privateKeyPem },
        commonName: 'x',
        organization: 'y',
        algorithm: 'ecdsa-p256',
      }),
      gatehouseError('issuer_key_mismatch'),
    );
  });

  test('a non-CA certificate cannot issue', async () => {
    const { intermediate } = await chainFor('ecdsa-p256');
    const server = await createServerCertificate({
      issuer: intermediate,
      commonName: 'leaf',
      dnsNames: ['leaf.example'],
      ipAddresses: [],
      algorithm: 'ecdsa-p256',
    });
    const key = await generateKeyPair('ecdsa-p256');
    await assert.rejects(
      issueClientCertificate({
        issuer: server,
        publicKeyPem: key.publicKeyPem,
        subject: { commonName: 'x' },
        crlDistributionPoint: ISSUING_CRL_URL,
      }),
      gatehouseError('issuer_not_ca'),
    );
  });

  test('the subject key must pass the key policy', async () => {
    const { intermediate } = await chainFor('ecdsa-p256');
    const base = {
      issuer: intermediate,
      subject: { commonName: 'x' },
      crlDistributionPoint: ISSUING_CRL_URL,
    };
    const spkiPem = (k: KeyObject) => k.export({ type: 'spki', format: 'pem' }).toString();
    const rsa1024 = spkiPem(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey);
    await assert.rejects(
      issueClientCertificate({ ...base, publicKeyPem: rsa1024 }),
      gatehouseError('weak_key', 400, /1024/),
    );
    const p521 = spkiPem(generateKeyPairSync('ec', { namedCurve: 'P-521' }).publicKey);
    await assert.rejects(
      issueClientCertificate({ ...base, publicKeyPem: p521 }),
      gatehouseError('unsupported_key_type'),
    );
    await assert.rejects(
      issueClientCertificate({ ...base, publicKeyPem: 'nope' }),
      gatehouseError('invalid_pem'),
    );
  });

  test('input validation: CRL URL, SANs, subject, validity', async () => {
    const { intermediate } = await chainFor('ecdsa-p256');
    const key = await generateKeyPair('ecdsa-p256');
    const base = {
      issuer: intermediate,
      publicKeyPem: key.publicKeyPem,
      subject: { commonName: 'x' },
      crlDistributionPoint: ISSUING_CRL_URL,
    };
    await assert.rejects(
      issueClientCertificate({ ...base, crlDistributionPoint: 'ftp://x/y.crl' }),
      gatehouseError('invalid_crl_distribution_point'),
    );
    await assert.rejects(
      issueClientCertificate({ ...base, sans: { dns: ['bad name'] } }),
      gatehouseError('invalid_san'),
    );
    await assert.rejects(
      issueClientCertificate({ ...base, sans: { email: ['no-at'] } }),
      gatehouseError('invalid_san'),
    );
    await assert.rejects(
      issueClientCertificate({ ...base, sans: { uri: ['not a uri'] } }),
      gatehouseError('invalid_san'),
    );
    await assert.rejects(
      issueClientCertificate({ ...base, subject: { commonName: '' } }),
      gatehouseError('invalid_subject'),
    );
    await assert.rejects(
      issueClientCertificate({ ...base, subject: { commonName: 'x'.repeat(65) } }),
      gatehouseError('invalid_subject'),
    );
    await assert.rejects(
      issueClientCertificate({ ...base, validityDays: 0 }),
      gatehouseError('invalid_validity'),
    );
    await assert.rejects(
      createServerCertificate({
        issuer: intermediate,
        commonName: 's',
        dnsNames: [],
        ipAddresses: ['1.2.3'],
        algorithm: 'ecdsa-p256',
      }),
      gatehouseError('invalid_san'),
    );
  });

  test('subject values are taken verbatim (no DN-string parsing), and validity is clamped to the issuer', async (t) => {
    const dir = await tempDir(t);
    const { root, intermediate } = await chainFor('ecdsa-p256');
    const key = await generateKeyPair('ecdsa-p256');
    const issued = await issueClientCertificate({
      issuer: intermediate,
      publicKeyPem: key.publicKeyPem,
      subject: { commonName: '#x, "y" + z\\', organization: 'Ünïcødé' },
      crlDistributionPoint: ISSUING_CRL_URL,
      validityDays: 100_00,
    });
    const d = describeCertificate(issued.certificatePem);
    assert.equal(d.commonName, '#x, "y" + z\\');
    assert.equal(d.subject, 'CN=\\#x\\, \\"y\\" \\+ z\\\\,O=Ünïcødé');
    assert.equal(
      issued.notAfter.getTime(),
      describeCertificate(intermediate.certificatePem).notAfter.getTime(),
    );
    const path = write(dir, 'leaf.pem', issued.certificatePem);
    const rootPath = write(dir, 'root.pem', root.certificatePem);
    const interPath = write(dir, 'inter.pem', intermediate.certificatePem);
    const r = await sslAny(['verify', '-CAfile', rootPath, '-untrusted', interPath, path]);
    assert.equal(r.code, 0, r.out);
  });

  test('an expired issuer is refused; `now` drives the validity window', async () => {
    const root = await createRootCa({
      commonName: 'Old Root',
      organization: 'Acme',
      algorithm: 'ecdsa-p256',
      validityDays: 1,
      now: new Date('2020-01-01T00:00:00Z'),
    });
    assert.equal(root.notBefore.toISOString(), '2019-12-31T23:59:00.000Z');
    assert.equal(root.notAfter.toISOString(), '2020-01-02T00:00:00.000Z');
    const key = await generateKeyPair('ecdsa-p256');
    await assert.rejects(
      issueClientCertificate({
        issuer: root,
        publicKeyPem: key.publicKeyPem,
        subject: { commonName: 'x' },
        crlDistributionPoint: ISSUING_CRL_URL,
      }),
      gatehouseError('issuer_expired'),
    );
  });

  test('Ed25519 CAs work too', async (t) => {
    const dir = await tempDir(t);
    const root = await createRootCa({ commonName: 'Ed Root', organization: 'Acme', algorithm: 'ed25519' });
    const inter = await createIntermediateCa({
      issuer: root,
      commonName: 'Ed CA',
      organization: 'Acme',
      algorithm: 'ed25519',
    });
    const key = await generateKeyPair('rsa-2048');
    const leaf = await issueClientCertificate({
      issuer: inter,
      publicKeyPem: key.publicKeyPem,
      subject: { commonName: 'x' },
      crlDistributionPoint: ISSUING_CRL_URL,
    });
    const out = await ssl([
      'verify',
      '-CAfile',
      write(dir, 'r.pem', root.certificatePem),
      '-untrusted',
      write(dir, 'i.pem', inter.certificatePem),
      write(dir, 'l.pem', leaf.certificatePem),
    ]);
    assert.match(out, /l.pem: OK/);
  });
});
