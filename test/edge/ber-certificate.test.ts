// A certificate OpenSSL accepts in BER (indefinite lengths inside its TBSCertificate) is valid
// and its header fields are right; nothing in the verdict path may throw (it ran in the worker's
// connection handler, and one such certificate used to kill the worker).
import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync, sign, X509Certificate } from 'node:crypto';
import { test } from 'node:test';
import { clientCertInfo } from '../../src/edge/cert-info.js';
import { issueClientCertificate } from '../../src/pki/certificates.js';
import { derTlv, readDerElements } from '../../src/pki/der.js';
import { createRootCa, describeCertificate, parseCertificate } from '../../src/pki/index.js';
import { verifyChain } from '../../src/pki/verify/index.js';

const indefinite = (e: { tag: number; content: Uint8Array }) =>
  Buffer.concat([Buffer.from([e.tag, 0x80]), e.content, Buffer.from([0, 0])]);

test('a BER-encoded client certificate: validated, described and turned into header fields', async () => {
  const ca = await createRootCa({ commonName: 'BER Root', organization: 'B', algorithm: 'ecdsa-p256' });
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const issued = await issueClientCertificate({
    issuer: { certificatePem: ca.certificatePem, privateKeyPem: ca.privateKeyPem },
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    subject: { commonName: 'device-ber', organization: 'B' },
    validityDays: 2,
    crlDistributionPoint: 'http://crl.test/ber.crl',
  });
  const [certificate] = readDerElements(new X509Certificate(issued.certificatePem).raw)!;
  const [tbs, algorithm] = readDerElements(certificate!.content)!;
  const fields = readDerElements(tbs!.content)!;
  const anchor = parseCertificate(ca.certificatePem);
  for (const variant of ['subject', 'rdns inside the subject', 'extensions']) {
    const parts: Uint8Array[] = fields.map((f) => Buffer.from(f.raw));
    if (variant === 'subject') parts[5] = indefinite(fields[5]!);
    if (variant === 'extensions') parts[parts.length - 1] = indefinite(fields.at(-1)!);
    if (variant === 'rdns inside the subject')
      parts[5] = derTlv(0x30, readDerElements(fields[5]!.content)!.map(indefinite));
    const berTbs = derTlv(0x30, parts);
    const signature = sign('sha256', berTbs, { key: createPrivateKey(ca.privateKeyPem), dsaEncoding: 'der' });
    const der = derTlv(0x30, [
      berTbs,
      Buffer.from(algorithm!.raw),
      derTlv(0x03, [Buffer.from([0]), signature]),
    ]);
    const leaf = parseCertificate(new X509Certificate(der));
    const result = verifyChain({ leaf, trustAnchors: [anchor], intermediates: [], at: new Date() });
    assert.ok(result.ok, variant);
    const info = clientCertInfo(leaf, [leaf, anchor]);
    assert.equal(info.subject, 'CN=device-ber,O=B', variant);
    assert.equal(info.issuer, describeCertificate(der).issuer, variant);
    assert.equal(describeCertificate(der).subject, 'CN=device-ber,O=B', variant);
  }
});
