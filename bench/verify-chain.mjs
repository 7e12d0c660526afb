// verifyChain cost on the edge's cached-anchor path: anchor and intermediate parsed once (as the
// edge snapshot does), the leaf either pre-parsed (a returning client) or given as DER (a new one).
// Prints the median and p90 per path over many runs. A benchmark, not a test.
//
//   node --import tsx bench/verify-chain.mjs [--src DIR] [--runs N]
//
// --src points at another checkout's src/ (e.g. `git archive <commit> src | tar -x -C /tmp/old`)
// to measure before/after on the same machine.
import { webcrypto } from 'node:crypto';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';

const { values } = parseArgs({
  options: { src: { type: 'string', default: 'src' }, runs: { type: 'string', default: '20000' } },
});
const src = pathToFileURL(`${resolve(values.src)}/`);
const { x509 } = await import(new URL('pki/x509.ts', src).href);
const { parseCertificate, verifyChain } = await import(new URL('pki/verify/index.ts', src).href);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const keys = () => webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
const validity = {
  notBefore: new Date(Date.now() - 86_400_000),
  notAfter: new Date(Date.now() + 365 * 86_400_000),
};
const caExtensions = async (k, issuerKey) => [
  new x509.BasicConstraintsExtension(true, undefined, true),
  new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
  await x509.SubjectKeyIdentifierExtension.create(k.publicKey),
  ...(issuerKey ? [await x509.AuthorityKeyIdentifierExtension.create(issuerKey)] : []),
];

const rootKeys = await keys();
const root = await x509.X509CertificateGenerator.createSelfSigned({
  serialNumber: '01',
  name: 'CN=Bench Root',
  keys: rootKeys,
  signingAlgorithm: ALG,
  extensions: await caExtensions(rootKeys),
  ...validity,
});
const caKeys = await keys();
const ca = await x509.X509CertificateGenerator.create({
  serialNumber: '02',
  subject: 'CN=Bench Issuing CA',
  issuer: 'CN=Bench Root',
  publicKey: caKeys.publicKey,
  signingKey: rootKeys.privateKey,
  signingAlgorithm: ALG,
  extensions: await caExtensions(caKeys, rootKeys.publicKey),
  ...validity,
});
const leafKeys = await keys();
const leaf = await x509.X509CertificateGenerator.create({
  serialNumber: '03',
  subject: 'CN=laptop-1',
  issuer: 'CN=Bench Issuing CA',
  publicKey: leafKeys.publicKey,
  signingKey: caKeys.privateKey,
  signingAlgorithm: ALG,
  extensions: [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension(['1.3.6.1.5.5.7.3.2']),
    new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'laptop-1.corp.example.com' }]),
    await x509.SubjectKeyIdentifierExtension.create(leafKeys.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
  ],
  ...validity,
});

const anchors = [parseCertificate(Buffer.from(root.rawData))];
const intermediates = [parseCertificate(Buffer.from(ca.rawData))];
const leafDer = Buffer.from(leaf.rawData);
const parsedLeaf = parseCertificate(leafDer);
const runs = Number(values.runs);

function measure(name, leafInput) {
  const options = { trustAnchors: anchors, intermediates, at: new Date(), requiredEku: '1.3.6.1.5.5.7.3.2' };
  for (let i = 0; i < 1000; i++) verifyChain({ ...options, leaf: leafInput() });
  const times = [];
  for (let i = 0; i < runs; i++) {
    const input = leafInput();
    const start = process.hrtime.bigint();
    const r = verifyChain({ ...options, leaf: input });
    times.push(Number(process.hrtime.bigint() - start) / 1000);
    if (!r.ok) throw new Error(`${name}: ${r.code} ${r.reason}`);
  }
  times.sort((a, b) => a - b);
  const at = (q) => times[Math.floor(q * (times.length - 1))].toFixed(1);
  console.log(`${name.padEnd(28)} median ${at(0.5)} µs   p90 ${at(0.9)} µs   (${runs} runs)`);
}

measure('pre-parsed leaf', () => parsedLeaf);
measure('leaf as DER (parse included)', () => leafDer);
