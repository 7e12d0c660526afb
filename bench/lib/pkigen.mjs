// Many certificates, fast: CAs and client certificates for the scale benchmark (bench/scale.mjs),
// with WebCrypto keys and @peculiar/x509 (one ECDSA P-256 key pair per certificate, as real
// devices have; ~1–2 ms per certificate instead of ~30 ms for three openssl processes).
//
// A set of N client certificates is cached under the OS temp dir (keyed by N, reused while it
// has more than 20 days of validity left), because the IoT run needs 20,000 of them.

import { webcrypto } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const DAY = 86_400_000;

const pem = (label, der) =>
  `-----BEGIN ${label}-----\n${Buffer.from(der)
    .toString('base64')
    .replace(/.{64}/g, '$&\n')
    .replace(/\n?$/, '\n')}-----END ${label}-----\n`;

let serialSeq = 0;
function serial() {
  // Positive, 16 bytes, unique within a run.
  const b = Buffer.from(webcrypto.getRandomValues(new Uint8Array(16)));
  b[0] = (b[0] & 0x3f) | 0x10;
  b.writeUInt32BE(++serialSeq, 12);
  return b.toString('hex');
}

async function keyPair() {
  return webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
}

async function exportKeyPem(privateKey) {
  return pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', privateKey));
}

/** A self-signed CA (strict profile: basicConstraints critical, keyUsage keyCertSign+cRLSign, SKI). */
export async function makeCa(commonName, { days = 30 } = {}) {
  const keys = await keyPair();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `O=Gatehouse Bench, CN=${commonName}`,
    notBefore: new Date(now - DAY),
    notAfter: new Date(now + days * DAY),
    keys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, keys, certPem: cert.toString('pem') + '\n', keyPem: await exportKeyPem(keys.privateKey) };
}

/** A client certificate from `ca` with its own new key. */
export async function makeClient(ca, commonName, { days = 30 } = {}) {
  const keys = await keyPair();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `O=Gatehouse Bench, CN=${commonName}`,
    issuer: ca.cert.subject,
    notBefore: new Date(now - DAY),
    notAfter: new Date(now + days * DAY),
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth], false),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
    ],
  });
  return { certPem: cert.toString('pem') + '\n', keyPem: await exportKeyPem(keys.privateKey) };
}

/** Write a CA or client to dir/name.pem + dir/name.key; returns the paths. */
export function writePair(dir, name, pair) {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  writeFileSync(cert, pair.certPem);
  writeFileSync(key, pair.keyPem, { mode: 0o600 });
  return { cert, key };
}

/**
 * N distinct client certificates (each with its own key) from one CA, cached:
 * { caPem, certsFile, keysFile, count, first: { cert, key } } where certsFile/keysFile hold the
 * N PEMs in the same order (what the mTLS shim's MTLS_CERT_LIST/MTLS_KEY_LIST read).
 */
export async function deviceFleet(count, log = () => {}) {
  const dir = join(tmpdir(), 'gatehouse-bench-scale-cache', `devices-${count}`);
  const meta = join(dir, 'meta.json');
  if (existsSync(meta)) {
    const m = JSON.parse(readFileSync(meta, 'utf8'));
    if (m.count === count && m.notAfter - Date.now() > 20 * DAY) {
      log(`using ${count} cached client certificates in ${dir}`);
      return { ...m, dir };
    }
  }
  rmSync(dir, { recursive: true, force: true });
  const partial = `${dir}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true, mode: 0o700 });
  const t0 = Date.now();
  const ca = await makeCa('Bench Device CA', { days: 60 });
  writePair(partial, 'ca', ca);
  const certs = [];
  const keys = [];
  // WebCrypto runs key generation and signing on libuv's pool: 32 at a time use both cores.
  for (let i = 0; i < count; i += 32) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(32, count - i) }, (_, k) =>
        makeClient(ca, `device-${String(i + k).padStart(6, '0')}`, { days: 60 }),
      ),
    );
    for (const c of batch) {
      certs.push(c.certPem);
      keys.push(c.keyPem);
    }
    if (i === 0) writePair(partial, 'first', batch[0]);
    if (Math.floor((i + 32) / 5000) > Math.floor(i / 5000))
      log(`  ${certs.length}/${count} client certificates (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  }
  writeFileSync(join(partial, 'certs.pem'), certs.join(''));
  writeFileSync(join(partial, 'keys.pem'), keys.join(''), { mode: 0o600 });
  const m = {
    count,
    notAfter: Date.now() + 59 * DAY,
    caPem: ca.certPem,
    certsFile: join(dir, 'certs.pem'),
    keysFile: join(dir, 'keys.pem'),
    first: { cert: join(dir, 'first.pem'), key: join(dir, 'first.key') },
    caFile: join(dir, 'ca.pem'),
  };
  writeFileSync(join(partial, 'meta.json'), JSON.stringify(m));
  mkdirSync(join(dir, '..'), { recursive: true });
  renameSync(partial, dir);
  log(
    `generated ${count} client certificates in ${((Date.now() - t0) / 1000).toFixed(1)} s (cached in ${dir})`,
  );
  return { ...m, dir };
}
