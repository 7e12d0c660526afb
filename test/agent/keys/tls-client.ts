// Child process of the key provider tests (not a test file): in a fresh process, re-executed
// with the PKCS#11 engine config when the key needs it, load the device key from its reference
// (or register: create a key and get it a certificate) and make one mTLS request with node:https
// and one with undici. Prints one JSON line.
//
//   node --import tsx test/agent/keys/tls-client.ts JOB.json

import { readFileSync } from 'node:fs';
import type { SecureContext } from 'node:tls';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { Agent as UndiciAgent, request as undiciRequest } from 'undici';
import {
  createDeviceKey,
  type DeviceKey,
  ENGINE_CONFIG_ENV,
  ensureEngineProcess,
  loadDeviceKey,
} from '../../../src/agent/keys/index.js';
import { type ClientJob, type ClientResult, issueClientCert } from './fixtures.js';

const job = JSON.parse(readFileSync(process.argv[2] ?? '', 'utf8')) as ClientJob;

async function viaHttps(secureContext: SecureContext) {
  const agent = new HttpsAgent({ secureContext, keepAlive: false });
  try {
    return await new Promise<{ status: number; body: never }>((resolve, reject) => {
      const req = httpsRequest(job.url, { agent }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as never }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
  } finally {
    agent.destroy();
  }
}

async function viaUndici(secureContext: SecureContext) {
  const dispatcher = new UndiciAgent({ connect: { secureContext } });
  try {
    const res = await undiciRequest(job.url, { dispatcher });
    return { status: res.statusCode, body: (await res.body.json()) as never };
  } finally {
    await dispatcher.close();
  }
}

async function main(): Promise<ClientResult> {
  await ensureEngineProcess(job.opts);
  let key: DeviceKey;
  let certPem: string;
  if (job.ref && job.certPem) {
    key = await loadDeviceKey(job.opts, job.ref);
    certPem = job.certPem;
  } else if (job.issue) {
    // Registration in one process: new key, CSR, certificate, then the handshake.
    key = await createDeviceKey(job.opts, 'registered-in-one-process');
    const csr = await key.createCsr({ commonName: job.issue.commonName });
    certPem = await issueClientCert(job.issue.dir, job.issue.pki, csr);
  } else {
    throw new Error('job needs ref + certPem or issue');
  }
  try {
    const { secureContext } = key.tlsOptions(certPem, { ca: job.caPem });
    return {
      publicKeyPem: key.publicKeyPem,
      reference: key.reference,
      certPem,
      engineConfig: process.env[ENGINE_CONFIG_ENV] || null,
      execArgv: process.execArgv,
      https: await viaHttps(secureContext),
      undici: await viaUndici(secureContext),
    };
  } finally {
    await key.close();
  }
}

main().then(
  (result) => {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    process.exit(0);
  },
  (err: unknown) => {
    const e = err as { code?: unknown; message?: unknown };
    const error = {
      code: typeof e.code === 'string' ? e.code : undefined,
      message: String(e.message ?? err),
    };
    process.stdout.write(`${JSON.stringify({ error })}\n`);
    process.exit(2);
  },
);
