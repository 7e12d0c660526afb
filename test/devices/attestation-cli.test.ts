// End to end: `gatehouse device register --key-provider tpm2 --attest` against a real server and
// a real swtpm whose EK certificate comes from a local CA the admin accepted. The key the TPM
// certified is the key of the certificate, it is in the tpm2-pkcs11 token (the TLS key), and the
// registration is tpm_attested; renewal keeps key and level. Without the EK root accepted the
// same command fails with ek_untrusted and leaves nothing behind.

import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { softwareRegisterArgs } from '../helpers/device-org.js';
import { adminApi, gatehouse, type RunningServer, startServer } from '../helpers/gatehouse.js';
import { run, skipUnlessTools, tempDir } from '../helpers/tools.js';
import { ATTEST_TPM_TOOLS, createEkCa, type EkCa, startAttestedTpm } from '../helpers/tpm-attest.js';
import type { SoftTpm } from '../helpers/tpm.js';

const ORG = 'Attest CLI Org';

describe(
  'gatehouse device register --attest (swtpm)',
  { skip: skipUnlessTools(...ATTEST_TPM_TOOLS, 'pkcs11-tool') },
  () => {
    let dir: string;
    let server: RunningServer;
    let adminToken: string;
    let rootPem: string;
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
      const rootPath = join(dir, 'root.pem');
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
        public_key_sha256: string;
      };
      assert.equal(status.key_protection, 'tpm2');
      const regs = await api<{ id: string; assurance: string }[]>('GET', '/api/v1/registrations');
      assert.equal(regs.json.result.find((x) => x.id === status.registration_id)?.assurance, 'tpm_attested');
      // The daemon's check-in and renewal go over mTLS signed by that key in the token.
      const renewed = await device(['renew', '--state-dir', stateDir, '--json']);
      assert.equal(renewed.code, 0, renewed.stdout + renewed.stderr);
      const after = JSON.parse(
        (await device(['status', '--state-dir', stateDir, '--json'])).stdout,
      ) as typeof status;
      assert.equal(after.public_key_sha256, status.public_key_sha256, 'same key');
      const again = await api<{ id: string; assurance: string }[]>('GET', '/api/v1/registrations');
      assert.equal(again.json.result.find((x) => x.id === status.registration_id)?.assurance, 'tpm_attested');
    });
  },
);
