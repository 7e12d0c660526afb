// Shared material for the CA-primitive tests: openssl-made CSRs, CA chains made with our own
// builders (memoized per algorithm, RSA key generation is slow), and small assertion helpers.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createIntermediateCa, createRootCa } from '../../../src/pki/certificates.js';
import type { CertificateWithKey } from '../../../src/pki/sign.js';
import type { KeyAlgorithm } from '../../../src/pki/keys.js';
import { GatehouseError } from '../../../src/errors/index.js';
import { requireTool, run, runOk } from '../../helpers/tools.js';

export const openssl = () => requireTool('openssl');

/** Runs openssl and returns stdout+stderr, failing the test on a non-zero exit. */
export async function ssl(args: string[]): Promise<string> {
  const r = await runOk(openssl(), args);
  return r.stdout + r.stderr;
}

/** Runs openssl and returns exit code and combined output, whatever the exit code. */
export async function sslAny(args: string[]): Promise<{ code: number | null; out: string }> {
  const r = await run(openssl(), args);
  return { code: r.code, out: r.stdout + r.stderr };
}

export type CsrKind = 'p256' | 'p384' | 'p521' | 'rsa1024' | 'rsa2048' | 'ed25519' | 'dsa';

const NEWKEY: Record<Exclude<CsrKind, 'dsa'>, string[]> = {
  p256: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'],
  p384: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384'],
  p521: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-521'],
  rsa1024: ['-newkey', 'rsa:1024'],
  rsa2048: ['-newkey', 'rsa:2048'],
  ed25519: ['-newkey', 'ed25519'],
};

/** `openssl req -new -newkey … -nodes -subj …` exactly as a user would run it. */
export async function makeCsr(
  dir: string,
  name: string,
  kind: CsrKind,
  subj = `/CN=${name}`,
  extraArgs: string[] = [],
): Promise<string> {
  const keyPath = join(dir, `${name}.key`);
  const csrPath = join(dir, `${name}.csr`);
  let keyArgs: string[];
  if (kind === 'dsa') {
    const params = join(dir, `${name}.dsaparam`);
    await ssl([
      'genpkey',
      '-genparam',
      '-algorithm',
      'DSA',
      '-pkeyopt',
      'dsa_paramgen_bits:1024',
      '-out',
      params,
    ]);
    keyArgs = ['-newkey', `dsa:${params}`];
  } else {
    keyArgs = NEWKEY[kind];
  }
  await ssl([
    'req',
    '-new',
    ...keyArgs,
    '-nodes',
    '-keyout',
    keyPath,
    '-out',
    csrPath,
    '-subj',
    subj,
    ...extraArgs,
  ]);
  return readFileSync(csrPath, 'utf8');
}

export function pemToDer(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
}

export function derToPem(der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der)
    .toString('base64')
    .match(/.{1,64}/g)
    ?.join('\n');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

/**
 * Flips bits in the last byte of the CSR's signature BIT STRING (the last bytes of the DER):
 * still a well-formed request, but the signature no longer matches. The very last byte of an
 * ECDSA DER signature is inside the `s` INTEGER, so the encoding stays valid for every key type.
 */
export function flipCsrSignature(pem: string): string {
  const der = pemToDer(pem);
  der[der.length - 1] = (der[der.length - 1] as number) ^ 0x5a;
  return derToPem(der, 'CERTIFICATE REQUEST');
}

export function write(dir: string, name: string, text: string | Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** `assert.rejects` predicate: a GatehouseError with this code (and status). */
export function gatehouseError(code: string, status = 400, message?: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof GatehouseError, `expected GatehouseError(${code}), got ${String(err)}`);
    assert.equal(err.code, code, `code (message: ${err.message})`);
    assert.equal(err.status, status);
    if (message) assert.match(err.message, message);
    return true;
  };
}

export const CA_ALGORITHMS = [
  'ecdsa-p256',
  'ecdsa-p384',
  'rsa-3072',
] as const satisfies readonly KeyAlgorithm[];

export const EXPECTED_SIGNATURE: Record<KeyAlgorithm, string> = {
  'ecdsa-p256': 'ecdsa-with-SHA256',
  'ecdsa-p384': 'ecdsa-with-SHA384',
  'rsa-2048': 'sha256WithRSAEncryption',
  'rsa-3072': 'sha256WithRSAEncryption',
  ed25519: 'ED25519',
};

export const ROOT_CRL_URL = 'http://gatehouse.test/crl/root.crl';
export const ISSUING_CRL_URL = 'http://gatehouse.test/crl/issuing.crl';

export interface Chain {
  root: CertificateWithKey;
  intermediate: CertificateWithKey;
}

const chains = new Map<KeyAlgorithm, Promise<Chain>>();

/** Root + intermediate for `algorithm`, made once per test file (process). */
export function chainFor(algorithm: KeyAlgorithm): Promise<Chain> {
  let chain = chains.get(algorithm);
  if (!chain) {
    chain = (async () => {
      const root = await createRootCa({
        commonName: `Test Root ${algorithm}`,
        organization: 'Acme',
        algorithm,
      });
      const intermediate = await createIntermediateCa({
        issuer: root,
        commonName: `Test Issuing ${algorithm}`,
        organization: 'Acme',
        algorithm,
        crlDistributionPoint: ROOT_CRL_URL,
      });
      return { root, intermediate };
    })();
    chains.set(algorithm, chain);
  }
  return chain;
}

/** "AB:CD:…" (as openssl prints key ids and fingerprints) → "abcd…". */
export const unhex = (text: string) => text.replace(/[:\s]/g, '').toLowerCase();

/** The value printed on the line after `heading` in `openssl x509 -text` output. */
export function lineAfter(text: string, heading: string): string {
  const lines = text.split('\n');
  const i = lines.findIndex((l) => l.includes(heading));
  assert.ok(i >= 0, `"${heading}" not found in:\n${text}`);
  return (lines[i + 1] ?? '').trim();
}
