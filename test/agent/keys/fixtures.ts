// Shared pieces of the key provider tests: a throwaway CA, certificates issued from the device's
// CSR with the openssl CLI, an mTLS server on loopback, and the fresh-process TLS client.

import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CaFiles, makeRootCa } from '../../helpers/openssl.js';
import { requireTool, run, runOk } from '../../helpers/tools.js';
import type { KeyProviderOptions, KeyReference } from '../../../src/agent/keys/index.js';

export const CLIENT_SCRIPT = fileURLToPath(new URL('./tls-client.ts', import.meta.url));

export interface Pki {
  ca: CaFiles;
  serverKeyPem: string;
  serverCertPem: string;
}

/** A root CA and a server certificate for 127.0.0.1 signed by it. */
export async function makePki(dir: string): Promise<Pki> {
  const openssl = requireTool('openssl');
  const ca = await makeRootCa(dir, 'test-ca');
  const key = join(dir, 'server.key');
  const csr = join(dir, 'server.csr');
  const cert = join(dir, 'server.pem');
  const ext = join(dir, 'server.ext');
  await runOk(openssl, [
    'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', key, '-out', csr, '-subj', '/CN=localhost',
  ]); // prettier-ignore
  writeFileSync(
    ext,
    'basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n',
  );
  await runOk(openssl, [
    'x509', '-req', '-in', csr, '-CA', ca.certPath, '-CAkey', ca.keyPath, '-set_serial', '0x1001',
    '-days', '1', '-extfile', ext, '-out', cert,
  ]); // prettier-ignore
  return { ca, serverKeyPem: readFileSync(key, 'utf8'), serverCertPem: readFileSync(cert, 'utf8') };
}

/** `openssl req -verify` on the CSR; returns the CSR's subject line and public key PEM. */
export async function opensslVerifyCsr(
  dir: string,
  csrPem: string,
): Promise<{ subject: string; publicKeyPem: string }> {
  const openssl = requireTool('openssl');
  const file = join(dir, `device-${Date.now()}.csr`);
  writeFileSync(file, csrPem);
  const v = await run(openssl, ['req', '-in', file, '-noout', '-verify']);
  if (v.code !== 0) throw new Error(`openssl req -verify failed: ${v.stderr}`);
  if (!/verify OK/i.test(v.stdout + v.stderr)) throw new Error(`openssl said: ${v.stdout}${v.stderr}`);
  const subject = (await runOk(openssl, ['req', '-in', file, '-noout', '-subject'])).stdout.trim();
  const publicKeyPem = (await runOk(openssl, ['req', '-in', file, '-noout', '-pubkey'])).stdout;
  return { subject, publicKeyPem };
}

let serial = 0x2000;

/** A client certificate issued by the CA from the device's CSR (the way an admin would). */
export async function issueClientCert(dir: string, pki: Pki, csrPem: string): Promise<string> {
  const openssl = requireTool('openssl');
  const n = ++serial;
  const csr = join(dir, `client-${n}.csr`);
  const ext = join(dir, `client-${n}.ext`);
  const cert = join(dir, `client-${n}.pem`);
  writeFileSync(csr, csrPem);
  writeFileSync(
    ext,
    'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n',
  );
  await runOk(openssl, [
    'x509', '-req', '-in', csr, '-CA', pki.ca.certPath, '-CAkey', pki.ca.keyPath,
    '-set_serial', `0x${n.toString(16)}`, '-days', '1', '-extfile', ext, '-out', cert,
  ]); // prettier-ignore
  return readFileSync(cert, 'utf8');
}

export interface MtlsServer {
  url: string;
  /** fingerprint256 of every client certificate the server accepted */
  seen: string[];
  close(): Promise<void>;
}

/** node:https on 127.0.0.1 that requires a client certificate from the test CA. */
export async function startMtlsServer(pki: Pki): Promise<MtlsServer> {
  const seen: string[] = [];
  const server: Server = createServer(
    {
      key: pki.serverKeyPem,
      cert: pki.serverCertPem,
      ca: pki.ca.pem,
      requestCert: true,
      rejectUnauthorized: true,
    },
    (req, res) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      seen.push(peer.fingerprint256);
      res.setHeader('content-type', 'application/json');
      res.setHeader('connection', 'close');
      res.end(JSON.stringify({ cn: peer.subject?.CN, fingerprint256: peer.fingerprint256 }));
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}/whoami`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function fingerprint(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256;
}

export interface ClientJob {
  opts: KeyProviderOptions;
  /** load this key; without it the child registers: creates a key, gets it a certificate from `issue` */
  ref?: KeyReference;
  certPem?: string;
  issue?: { dir: string; pki: Pki; commonName: string };
  caPem: string;
  url: string;
}

export interface ClientResult {
  publicKeyPem?: string;
  reference?: KeyReference;
  certPem?: string;
  /** the marker env of the process that did the handshakes (engine config path), if any */
  engineConfig?: string | null;
  execArgv?: string[];
  https?: { status: number; body: { cn: string; fingerprint256: string } };
  undici?: { status: number; body: { cn: string; fingerprint256: string } };
  error?: { code?: string; message: string };
}

/**
 * Runs tls-client.ts in a fresh `node --import tsx` process (no --openssl-config: the script's
 * ensureEngineProcess re-executes itself when the key needs the engine).
 */
export async function runTlsClient(
  dir: string,
  job: ClientJob,
  env: Record<string, string>,
): Promise<ClientResult> {
  const file = join(dir, `client-job-${Date.now()}.json`);
  writeFileSync(file, JSON.stringify(job));
  const r = await run(process.execPath, ['--import', 'tsx', CLIENT_SCRIPT, file], {
    env: { ...env, GATEHOUSE_PKCS11_ENGINE_CONFIG: '' },
    timeoutMs: 60_000,
  });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as ClientResult;
  } catch {
    throw new Error(
      `tls-client exited ${r.code ?? r.signal}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`,
    );
  }
}
