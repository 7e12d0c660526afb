// End to end: `gatehouse device register --key-provider tpm2 --attest` against a real server and
// a real swtpm whose EK certificate comes from a local CA the admin accepted. The key the TPM
// certified is the key of the certificate, it is in the tpm2-pkcs11 token (the TLS key), and the
// registration is tpm_attested; renewal keeps key and level. Without the EK root accepted the
// same command fails with ek_untrusted and leaves nothing behind. At the edge, an application
// requiring device_assurance tpm_attested admits that device (its handshake signed with the TPM
// key through the agent's PKCS#11 engine) and refuses a hardware_claimed registration of the same TPM
// (no --attest) and a plain certificate of the org CA.

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { softwareRegisterArgs } from '../helpers/device-org.js';
import { adminApi, edgeCurl, gatehouse, type RunningServer, startServer } from '../helpers/gatehouse.js';
import { makeCsr } from '../helpers/openssl.js';
import { run, skipUnlessTools, tempDir } from '../helpers/tools.js';
import { engineRuntime } from '../../src/agent/keys/engine.js';
import { ATTEST_TPM_TOOLS, createEkCa, type EkCa, startAttestedTpm } from '../helpers/tpm-attest.js';
import type { SoftTpm } from '../helpers/tpm.js';

const ORG = 'Attest CLI Org';
const ORG_CA_ID = '00000000-0000-4000-8000-000000000001';
const HOST = 'attested.test';

describe(
  'gatehouse device register --attest (swtpm)',
  { skip: skipUnlessTools(...ATTEST_TPM_TOOLS, 'pkcs11-tool') },
  () => {
    let dir: string;
    let server: RunningServer;
    let adminToken: string;
    let rootPem: string;
    let rootPath: string;
    let ca: EkCa;
    let tpm: SoftTpm;
    let args: (stateDir: string, serial: string) => string[];
    const cleanups: (() => Promise<void>)[] = [];
    const t0 = { after: (fn: () => Promise<void>) => void cleanups.push(fn) };
    const api = adminApi(
      () => server.url,
      () => adminToken,
      () => rootPem,
    );
    const device = (a: string[]) =>
      gatehouse(['device', ...a], {
        env: {
          ...tpm.env,
          GATEHOUSE_MDM_FILE: join(dir, 'no-mdm.xml'),
          GATEHOUSE_LOG_LEVEL: 'warn',
          TSS2_LOG: 'all+NONE',
        },
      });

    before(async () => {
      dir = await tempDir(t0, 'gatehouse-attest-cli-');
      const init = await gatehouse(['init', '--data-dir', join(dir, 'data'), '--org', ORG, '--json']);
      const out = JSON.parse(init.stdout) as { admin_token: string; root_ca_pem: string };
      adminToken = out.admin_token;
      rootPem = out.root_ca_pem;
      rootPath = join(dir, 'root.pem');
      writeFileSync(rootPath, rootPem);
      server = await startServer(['--data-dir', join(dir, 'data')]);
      const st = (
        await api<{ client_id: string; client_secret: string }>('POST', '/api/v1/access/service_tokens', {
          name: 'enrol',
        })
      ).json.result;
      const secretFile = join(dir, 'st.secret');
      writeFileSync(secretFile, st.client_secret, { mode: 0o600 });
      ca = await createEkCa(t0);
      tpm = await startAttestedTpm(ca);
      cleanups.push(() => tpm.stop());
      args = (stateDir, serial) => {
        const base = softwareRegisterArgs({
          stateDir,
          serverUrl: server.url,
          org: ORG,
          caFile: rootPath,
          serviceToken: { clientId: st.client_id, secretFile },
          serialNumber: serial,
        }).filter((a) => a !== '--insecure-software-key');
        base[base.indexOf('software')] = 'tpm2';
        return [
          ...base,
          '--tpm-tcti',
          tpm.tcti,
          '--tpm2-pkcs11-store',
          tpm.store,
          '--pkcs11-pin-file',
          tpm.pinFile,
          '--attest',
          '--json',
        ];
      };
    });
    after(async () => {
      if (server) assert.equal(await server.stop(), 0, server.output());
      for (const fn of cleanups.reverse()) await fn();
    });

    const tokenKeys = async () => {
      const r = await run(
        'pkcs11-tool',
        [
          '--module',
          tpm.module,
          '--token-label',
          tpm.token,
          '--login',
          '--pin',
          tpm.userPin,
          '-O',
          '--type',
          'privkey',
        ],
        { env: tpm.env },
      );
      return (r.stdout.match(/Private Key Object/g) ?? []).length;
    };

    test('EK root not accepted: ek_untrusted, no state and no key left', async () => {
      const stateDir = join(dir, 'refused');
      const before = await tokenKeys();
      const r = await device(args(stateDir, 'ATT-0'));
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stdout + r.stderr, /ek_untrusted/);
      assert.equal(await tokenKeys(), before, 'the new key was deleted from the token');
      const regs = await api<unknown[]>('GET', '/api/v1/registrations');
      assert.equal(regs.json.result.length, 0);
      const left = existsSync(stateDir) ? readdirSync(stateDir).filter((f) => !f.startsWith('openssl')) : [];
      assert.deepEqual(left, [], 'no state and no attestation work dir kept');
    });

    test('register --attest → tpm_attested, the certificate is for the linked TPM key; renewal keeps it', async () => {
      const chain = [...(await ca.intermediates()), ...(await ca.roots())].join('');
      assert.equal(
        (await api('POST', '/api/v1/tpm_ek_cas', { name: 'swtpm', certificates: chain })).status,
        201,
      );
      const stateDir = join(dir, 'attested');
      const r = await device(args(stateDir, 'ATT-1'));
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const status = JSON.parse(r.stdout) as {
        registration_id: string;
        key_protection: string;
        assurance: string;
        public_key_sha256: string;
      };
      assert.equal(status.key_protection, 'tpm2');
      assert.equal(status.assurance, 'tpm_attested', '`device status` shows the level');
      const regs = await api<{ id: string; assurance: string }[]>('GET', '/api/v1/registrations');
      assert.equal(regs.json.result.find((x) => x.id === status.registration_id)?.assurance, 'tpm_attested');
      // The daemon's check-in and renewal go over mTLS signed by that key in the token.
      const renewed = await device(['renew', '--state-dir', stateDir, '--json']);
      assert.equal(renewed.code, 0, renewed.stdout + renewed.stderr);
      const after = JSON.parse(
        (await device(['status', '--state-dir', stateDir, '--json'])).stdout,
      ) as typeof status;
      assert.equal(after.public_key_sha256, status.public_key_sha256, 'same key');
      assert.equal(after.assurance, 'tpm_attested', 'renewal keeps the level');
      const text = await device(['status', '--state-dir', stateDir]);
      assert.match(text.stdout, /^assurance\s+tpm_attested$/m);
      const again = await api<{ id: string; assurance: string }[]>('GET', '/api/v1/registrations');
      assert.equal(again.json.result.find((x) => x.id === status.registration_id)?.assurance, 'tpm_attested');
    });

    test('an app requiring device_assurance tpm_attested admits the attested device only', async () => {
      const origin = createServer((req, res) => res.writeHead(200).end(`origin ${req.url}`));
      await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
      cleanups.push(() => new Promise<void>((r) => origin.close(() => r())));
      const host = await api('POST', '/api/v1/hostnames', {
        hostname: HOST,
        origin: `http://127.0.0.1:${(origin.address() as AddressInfo).port}`,
        client_auth: { mode: 'report', mtls_certificate_ids: [ORG_CA_ID] },
      });
      assert.equal(host.status, 201, JSON.stringify(host.json));
      const app = await api('POST', '/api/v1/access/apps', {
        name: 'Attested devices only',
        domain: HOST,
        policies: [
          {
            name: 'attested',
            decision: 'non_identity',
            include: [{ device_assurance: { level: 'tpm_attested' } }],
          },
        ],
      });
      assert.equal(app.status, 201, JSON.stringify(app.json));

      // The same TPM, a tpm2 key without attestation: hardware_claimed.
      const claimedDir = join(dir, 'claimed');
      const claimed = await device(args(claimedDir, 'ATT-2').filter((a) => a !== '--attest'));
      assert.equal(claimed.code, 0, claimed.stdout + claimed.stderr);
      const claimedId = (JSON.parse(claimed.stdout) as { registration_id: string }).registration_id;
      const regs = await api<{ id: string; assurance: string }[]>('GET', '/api/v1/registrations');
      assert.equal(regs.json.result.find((x) => x.id === claimedId)?.assurance, 'hardware_claimed');

      // The request is made as the agent makes its own: on the engine runtime, with the agent's
      // engine config, the TLS key in the token (curl's --engine would make libp11 the default
      // for all algorithms, and tss2 could then not create its session-salt RSA key).
      const edgePort = () => Number(new URL(server.edgeUrl).port);
      const asDevice = (stateDir: string) => {
        const { key_reference: ref } = JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8')) as {
          key_reference: { token: string; id: string };
        };
        const uri = `pkcs11:token=${encodeURIComponent(ref.token)};id=${ref.id.replace(/../g, '%$&')};type=private?pin-value=${encodeURIComponent(tpm.userPin)}`;
        const script = `
          const https = require('node:https');
          const fs = require('node:fs');
          const [port, host, cert, ca, key] = process.argv.slice(1);
          https.get({ host: '127.0.0.1', port: Number(port), servername: host, path: '/page',
            headers: { host: host + ':' + port }, cert: fs.readFileSync(cert), ca: fs.readFileSync(ca),
            privateKeyEngine: 'pkcs11', privateKeyIdentifier: key, agent: false }, (res) => {
            let body = '';
            res.on('data', (d) => (body += d));
            res.on('end', () => console.log(JSON.stringify({ status: res.statusCode, body })));
          }).on('error', (e) => { console.error(e.message); process.exit(1); });`;
        return async () => {
          const r = await run(
            engineRuntime(),
            [
              `--openssl-config=${join(stateDir, 'openssl-pkcs11.cnf')}`,
              '-e',
              script,
              String(edgePort()),
              HOST,
              join(stateDir, 'cert.pem'),
              rootPath,
              uri,
            ],
            { env: { ...process.env, ...tpm.env } },
          );
          if (r.code !== 0) throw new Error(`device request failed: ${r.stderr}`);
          return JSON.parse(r.stdout) as { status: number; body: string };
        };
      };
      const curl = edgeCurl(HOST, edgePort, () => rootPath);
      const attested = asDevice(join(dir, 'attested'));
      const started = Date.now();
      let r = await attested().catch(() => ({ status: 0, body: '' }));
      while (r.status !== 200 && Date.now() - started < 5_000) {
        await new Promise((res) => setTimeout(res, 100));
        r = await attested().catch(() => ({ status: 0, body: '' }));
      }
      assert.equal(r.status, 200, `${r.status} ${r.body}`);
      assert.match(r.body, /origin \/page/);

      const refused = await asDevice(claimedDir)();
      assert.equal(refused.status, 403, 'hardware_claimed is below tpm_attested');
      assert.match(refused.body, /access_denied/);
      const csr = await makeCsr(dir, 'plain');
      const issued = await api<{ certificate: string }>('POST', '/api/v1/client_certificates', {
        csr: csr.pem,
        common_name: 'plain-1',
      });
      writeFileSync(join(dir, 'plain.pem'), issued.json.result.certificate);
      const plain = await curl('/page', ['--cert', join(dir, 'plain.pem'), '--key', csr.keyPath]);
      assert.equal(plain.status, 403, 'a valid certificate of no registration');
    });
  },
);
