// Test material made with the real openssl CLI: CA chains, non-CA certificates and CSRs, the way
// an admin would make them by hand.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireTool, runOk } from './tools.js';

export interface CaFiles {
  certPath: string;
  keyPath: string;
  pem: string;
}

const openssl = () => requireTool('openssl');

const CA_EXT =
  'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n';

/**
 * A self-signed P-256 (or `key`) certificate made with `openssl req -x509`, with the given extensions
 * (`-addext` values) and lifetime.
 */
export async function makeSelfSigned(
  dir: string,
  name: string,
  {
    extensions = [],
    days = 30,
    subject = `/CN=${name}`,
    key = 'ec',
  }: { extensions?: string[]; days?: number; subject?: string; key?: 'ec' | 'rsa:1024' } = {},
): Promise<CaFiles> {
  const certPath = join(dir, `${name}.pem`);
  const keyPath = join(dir, `${name}.key`);
  await runOk(openssl(), [
    'req',
    '-x509',
    ...(key === 'ec' ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'] : ['-newkey', key]),
    '-nodes',
    '-keyout',
    keyPath,
    '-out',
    certPath,
    '-subj',
    subject,
    '-days',
    String(days),
    ...extensions.flatMap((e) => ['-addext', e]),
  ]);
  return { certPath, keyPath, pem: readFileSync(certPath, 'utf8') };
}

export const makeRootCa = (dir: string, name: string): Promise<CaFiles> =>
  makeSelfSigned(dir, name, {
    extensions: ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign'],
  });

/** A certificate signed by `issuer` (with digest `md`, default sha256); a CA unless `ca: false`. */
export async function makeSignedCert(
  dir: string,
  name: string,
  issuer: CaFiles,
  { ca = true, md = 'sha256' }: { ca?: boolean; md?: 'sha256' | 'sha1' } = {},
): Promise<CaFiles> {
  const certPath = join(dir, `${name}.pem`);
  const keyPath = join(dir, `${name}.key`);
  const csrPath = join(dir, `${name}.csr`);
  const extPath = join(dir, `${name}.ext`);
  writeFileSync(
    extPath,
    ca
      ? CA_EXT
      : 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n',
  );
  await runOk(openssl(), [
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    keyPath,
    '-out',
    csrPath,
    '-subj',
    `/CN=${name}`,
  ]);
  await runOk(openssl(), [
    'x509',
    '-req',
    `-${md}`,
    '-in',
    csrPath,
    '-CA',
    issuer.certPath,
    '-CAkey',
    issuer.keyPath,
    '-set_serial',
    String(Date.now()),
    '-out',
    certPath,
    '-days',
    '30',
    '-extfile',
    extPath,
  ]);
  return { certPath, keyPath, pem: readFileSync(certPath, 'utf8') };
}

/** An RSA private key of `bits` bits (PEM file), e.g. a weak 1024-bit one for a leaf. */
export async function makeRsaKey(dir: string, name: string, bits: number): Promise<string> {
  const keyPath = join(dir, `${name}.key`);
  await runOk(openssl(), [
    'genpkey',
    '-algorithm',
    'RSA',
    '-pkeyopt',
    `rsa_keygen_bits:${bits}`,
    '-out',
    keyPath,
  ]);
  return keyPath;
}

export const makeSelfSignedLeaf = (dir: string, name: string): Promise<CaFiles> =>
  makeSelfSigned(dir, name, { extensions: ['basicConstraints=critical,CA:FALSE'] });

/** `openssl req -new` CSR with a new key: 'ec' (P-256), 'rsa:1024', 'rsa:2048', 'ed25519', 'ec-p521'. */
export async function makeCsr(
  dir: string,
  name: string,
  key: 'ec' | 'rsa:1024' | 'rsa:2048' | 'ed25519' | 'ec-p521' = 'ec',
) {
  const keyPath = join(dir, `${name}.key`);
  const csrPath = join(dir, `${name}.csr`);
  const keyArgs =
    key === 'ec'
      ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']
      : key === 'ec-p521'
        ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-521']
        : ['-newkey', key];
  await runOk(openssl(), [
    'req',
    '-new',
    ...keyArgs,
    '-nodes',
    '-keyout',
    keyPath,
    '-out',
    csrPath,
    '-subj',
    `/CN=${name}/O=Requested Org`,
  ]);
  return { keyPath, csrPath, pem: readFileSync(csrPath, 'utf8') };
}

/** A new CSR (PEM) made with an existing key file: what a renewal sends. */
export async function csrForKey(keyPath: string): Promise<string> {
  return (await runOk(openssl(), ['req', '-new', '-key', keyPath, '-subj', '/CN=renew'])).stdout;
}

/** The same CSR with one signature byte flipped: parses, but proves nothing. */
export function corruptCsrSignature(pem: string): string {
  const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  der[der.length - 3] = (der[der.length - 3] as number) ^ 0x01;
  const b64 = der
    .toString('base64')
    .match(/.{1,64}/g)
    ?.join('\n');
  return `-----BEGIN CERTIFICATE REQUEST-----\n${b64}\n-----END CERTIFICATE REQUEST-----\n`;
}

export interface LeafOptions {
  /** Subject CN (default: the name). */
  cn?: string;
  /** extendedKeyUsage values (openssl names: clientAuth, emailProtection); [] for none. */
  eku?: string[];
  /** Validity as openssl ca dates (YYYYMMDDHHMMSSZ); default: from an hour ago for 30 days. */
  startDate?: string;
  endDate?: string;
  /** Reuse an existing key instead of making one. */
  keyPath?: string;
  /** certificatePolicies OIDs (none by default). */
  policies?: string[];
}

const caDate = (d: Date) => `${d.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;

/**
 * An end-entity certificate signed by `issuer` with `openssl ca`, which (unlike `openssl x509`)
 * takes explicit start and end dates: expired certificates are made, not waited for.
 */
export async function makeLeafCert(dir: string, name: string, issuer: CaFiles, opts: LeafOptions = {}) {
  const certPath = join(dir, `${name}.pem`);
  const keyPath = opts.keyPath ?? join(dir, `${name}.key`);
  const csrPath = join(dir, `${name}.csr`);
  const caDir = join(dir, `${name}.ca`);
  mkdirSync(caDir, { recursive: true });
  writeFileSync(join(caDir, 'index.txt'), '');
  writeFileSync(join(caDir, 'serial'), `${randomBytes(8).toString('hex')}\n`);
  const eku = opts.eku ?? ['clientAuth'];
  writeFileSync(
    join(caDir, 'ca.cnf'),
    [
      '[ca]',
      'default_ca = leaf',
      '[leaf]',
      `database = ${join(caDir, 'index.txt')}`,
      `serial = ${join(caDir, 'serial')}`,
      `new_certs_dir = ${caDir}`,
      'default_md = sha256',
      'policy = any',
      'unique_subject = no',
      'email_in_dn = no',
      'x509_extensions = ext',
      '[any]',
      'commonName = supplied',
      '[ext]',
      'basicConstraints = critical,CA:FALSE',
      'keyUsage = critical,digitalSignature',
      'subjectKeyIdentifier = hash',
      'authorityKeyIdentifier = keyid',
      ...(eku.length > 0 ? [`extendedKeyUsage = ${eku.join(',')}`] : []),
      ...(opts.policies?.length ? [`certificatePolicies = ${opts.policies.join(',')}`] : []),
      '',
    ].join('\n'),
  );
  const keyArgs = opts.keyPath
    ? ['-key', opts.keyPath]
    : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyPath];
  await runOk(openssl(), ['req', '-new', ...keyArgs, '-out', csrPath, '-subj', `/CN=${opts.cn ?? name}`]);
  const now = Date.now();
  await runOk(openssl(), [
    'ca',
    '-batch',
    '-notext',
    '-config',
    join(caDir, 'ca.cnf'),
    '-cert',
    issuer.certPath,
    '-keyfile',
    issuer.keyPath,
    '-in',
    csrPath,
    '-out',
    certPath,
    '-startdate',
    opts.startDate ?? caDate(new Date(now - 3_600_000)),
    '-enddate',
    opts.endDate ?? caDate(new Date(now + 30 * 86_400_000)),
  ]);
  return { certPath, keyPath, pem: readFileSync(certPath, 'utf8') };
}
