// TPM attestation through a real `gatehouse serve` and a real swtpm (EK certificate from a local
// CA): EK roots and pins (admin, audited), the challenge, the registration with its evidence, the
// organization's required assurance. Each attack is refused with its code and stores nothing.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { activateCredential, tpmContextSigner } from '../../src/agent/attestation/tpm-tools.js';
import { buildCsr } from '../../src/agent/keys/csr.js';
import { parseTpm2bPublic, spkiDer } from '../../src/devices/attestation/index.js';
import { adminApi, gatehouse, type RunningServer, startServer } from '../helpers/gatehouse.js';
import { makeCsr } from '../helpers/openssl.js';
import { skipUnlessTools, tempDir } from '../helpers/tools.js';
import {
  ATTEST_TPM_TOOLS,
  type AttestTpm,
  bootAttestTpm,
  certifyTpmKey,
  createEkCa,
  type EkCa,
  tpmDeviceKey,
} from '../helpers/tpm-attest.js';

interface Challenge {
  attestation_id: string;
  nonce: string;
  credential: { id_object: string; encrypted_secret: string };
}

const b64 = (b: Buffer) => b.toString('base64');

describe(
  'TPM-attested registration (gatehouse serve + swtpm)',
  { skip: skipUnlessTools(...ATTEST_TPM_TOOLS, 'openssl') },
  () => {
    let dir: string;
    let server: RunningServer;
    let adminToken: string;
    let rootPem: string;
    let st: { client_id: string; client_secret: string };
    let ca: EkCa;
    let foreignCa: EkCa;
    let tpm: AttestTpm;
    let foreign: AttestTpm;
    const cleanups: (() => Promise<void>)[] = [];
    const t0 = { after: (fn: () => Promise<void>) => void cleanups.push(fn) };
    const api = adminApi(
      () => server.url,
      () => adminToken,
      () => rootPem,
    );
    // The device side authenticates with the service token only (the admin bearer is ignored there,
    // but a separate client keeps the test honest).
    const device = adminApi(
      () => server.url,
      () => 'not-an-admin-token',
      () => rootPem,
    );

    before(async () => {
      dir = await tempDir(t0, 'gatehouse-attest-api-');
      const init = await gatehouse([
        'init',
        '--data-dir',
        join(dir, 'data'),
        '--org',
        'Attest Org',
        '--json',
      ]);
      const out = JSON.parse(init.stdout) as { admin_token: string; root_ca_pem: string };
      adminToken = out.admin_token;
      rootPem = out.root_ca_pem;
      server = await startServer(['--data-dir', join(dir, 'data')]);
      st = (
        await api<{ client_id: string; client_secret: string }>('POST', '/api/v1/access/service_tokens', {
          name: 'enrol',
        })
      ).json.result;
      ca = await createEkCa(t0);
      foreignCa = await createEkCa(t0);
      tpm = await bootAttestTpm(t0, ca, 'api');
      foreign = await bootAttestTpm(t0, foreignCa, 'foreign');
    });
    after(async () => {
      if (server) assert.equal(await server.stop(), 0, server.output());
      for (const fn of cleanups.reverse()) await fn();
    });

    const challengeBody = (t: AttestTpm) => ({
      ek_public: b64(t.ek.ekPublic),
      ...(t.ek.ekCertificate ? { ek_certificate: b64(t.ek.ekCertificate) } : {}),
      ak_public: b64(t.ak.akPublic),
    });

    async function challenge(t: AttestTpm) {
      const r = await device<Challenge>(
        'POST',
        '/api/v1/registrations/attestation/challenge',
        challengeBody(t),
      );
      assert.equal(r.status, 201, JSON.stringify(r.json));
      return r.json.result;
    }

    /** The agent's work for one challenge: ActivateCredential, a TPM key, its certification, its CSR. */
    async function evidence(
      t: AttestTpm,
      c: Challenge,
      keyName: string,
      opts: { nonce?: Buffer; secret?: Buffer } = {},
    ) {
      const nonce = opts.nonce ?? Buffer.from(c.nonce, 'base64');
      const secret =
        opts.secret ??
        (await activateCredential(t.opts, {
          akContext: t.ak.akContext,
          ekContext: t.ek.ekContext,
          idObject: Buffer.from(c.credential.id_object, 'base64'),
          encryptedSecret: Buffer.from(c.credential.encrypted_secret, 'base64'),
        }));
      const key = await tpmDeviceKey(t, keyName);
      const { attest, signature } = await certifyTpmKey(t, key, nonce);
      const csr = await buildCsr(
        tpmContextSigner(t.opts, key.context, spkiDer(parseTpm2bPublic(key.public))),
        keyName,
      );
      return {
        csr,
        attestation: {
          attestation_id: c.attestation_id,
          secret: b64(secret),
          key_public: b64(key.public),
          attest: b64(attest),
          signature: b64(signature),
        },
      };
    }

    const register = (body: Record<string, unknown>) =>
      new Promise<{ status: number; json: { result: Record<string, unknown>; errors: { code: string }[] } }>(
        (resolve, reject) => {
          // adminApi cannot send the service-token headers: a plain request.
          void import('node:https').then(({ request }) => {
            const req = request(
              `${server.url}/api/v1/registrations`,
              {
                method: 'POST',
                ca: rootPem,
                headers: {
                  'content-type': 'application/json',
                  'gatehouse-access-client-id': st.client_id,
                  'gatehouse-access-client-secret': st.client_secret,
                },
              },
              (res) => {
                let data = '';
                res.on('data', (d) => (data += d));
                res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(data) }));
              },
            );
            req.on('error', reject);
            req.end(JSON.stringify({ name: 'attested', os: 'linux', key_protection: 'tpm2', ...body }));
          });
        },
      );

    const registrationCount = async () =>
      (await api<unknown[]>('GET', '/api/v1/registrations')).json.result.length;

    async function refused(body: Record<string, unknown>, code: string, status = 400) {
      const before = await registrationCount();
      const r = await register(body);
      assert.equal(r.status, status, JSON.stringify(r.json));
      assert.equal(r.json.errors[0]?.code, code, JSON.stringify(r.json));
      assert.equal(await registrationCount(), before, 'nothing stored');
    }

    test('no EK root accepted yet → the challenge is refused with ek_untrusted', async () => {
      const r = await device('POST', '/api/v1/registrations/attestation/challenge', challengeBody(tpm));
      assert.equal(r.status, 400);
      assert.equal(r.json.errors[0]?.code, 'ek_untrusted');
    });

    test('EK CAs: bad input refused, upload audited, listed', async () => {
      const bad = await api('POST', '/api/v1/tpm_ek_cas', { name: 'x', certificates: 'not pem' });
      assert.equal(bad.status, 400);
      const extra = await api('POST', '/api/v1/tpm_ek_cas', { name: 'x', certificates: 'x', ca: true });
      assert.equal(extra.status, 400);
      const chain = [...(await ca.intermediates()), ...(await ca.roots())].join('');
      const up = await api<{ id: string; subject: string }>('POST', '/api/v1/tpm_ek_cas', {
        name: 'swtpm local CA',
        certificates: chain,
      });
      assert.equal(up.status, 201, JSON.stringify(up.json));
      assert.match(up.json.result.subject, /swtpm-localca/);
      const again = await api('POST', '/api/v1/tpm_ek_cas', { name: 'twice', certificates: chain });
      assert.equal(again.status, 409);
      const list = await api<{ id: string }[]>('GET', '/api/v1/tpm_ek_cas');
      assert.deepEqual(
        list.json.result.map((c) => c.id),
        [up.json.result.id],
      );
      const audit = await api<{ action: string }[]>('GET', `/api/v1/audit?action=tpm_ek_ca.create`);
      assert.equal(audit.json.result.length, 1);
    });

    test('happy path: challenge → ActivateCredential → CertifyCreation → registration tpm_attested', async () => {
      const c = await challenge(tpm);
      const { csr, attestation } = await evidence(tpm, c, 'good');
      const r = await register({ serial_number: 'TPM-1', csr, attestation });
      assert.equal(r.status, 201, JSON.stringify(r.json));
      assert.equal(r.json.result.assurance, 'tpm_attested');
      assert.equal(r.json.result.mode, 'hardware_backed');
      const list = await api<{ id: string; assurance: string }[]>('GET', '/api/v1/registrations');
      assert.equal(
        list.json.result.find((x) => x.id === r.json.result.registration_id)?.assurance,
        'tpm_attested',
      );
      const audit = await api<{ resource_id: string; after: { assurance?: string } }[]>(
        'GET',
        '/api/v1/audit?action=registration.create',
      );
      assert.equal(
        audit.json.result.find((a) => a.resource_id === r.json.result.registration_id)?.after.assurance,
        'tpm_attested',
      );

      // Replayed: the same evidence (and its challenge) a second time.
      await refused({ serial_number: 'TPM-2', csr, attestation }, 'attestation_unknown');
    });

    test('a software key claiming TPM: the CSR is not the attested key → attested_key_mismatch', async () => {
      const c = await challenge(tpm);
      const { attestation } = await evidence(tpm, c, 'real');
      const software = await makeCsr(dir, 'software-key');
      await refused({ serial_number: 'SW-1', csr: software.pem, attestation }, 'attested_key_mismatch');
    });

    test('wrong secret in activation → activation_failed, and the challenge is used up', async () => {
      const c = await challenge(tpm);
      const { csr, attestation } = await evidence(tpm, c, 'wrongsecret');
      await refused(
        { serial_number: 'WS-1', csr, attestation: { ...attestation, secret: b64(randomBytes(32)) } },
        'activation_failed',
      );
      await refused({ serial_number: 'WS-1', csr, attestation }, 'attestation_unknown');
    });

    test("a foreign nonce (another challenge's) → attestation_nonce_mismatch", async () => {
      const c = await challenge(tpm);
      const { csr, attestation } = await evidence(tpm, c, 'foreignnonce', { nonce: randomBytes(32) });
      await refused({ serial_number: 'FN-1', csr, attestation }, 'attestation_nonce_mismatch');
    });

    test('a tampered TPMS_ATTEST → attestation_signature_invalid', async () => {
      const c = await challenge(tpm);
      const { csr, attestation } = await evidence(tpm, c, 'tampered');
      const attest = Buffer.from(attestation.attest, 'base64');
      attest.writeUInt8(attest.readUInt8(attest.length - 1) ^ 0x80, attest.length - 1);
      await refused(
        { serial_number: 'TA-1', csr, attestation: { ...attestation, attest: b64(attest) } },
        'attestation_signature_invalid',
      );
    });

    test('AK from another TPM than the EK: the other TPM cannot activate the credential', async () => {
      // The genuine TPM's EK (and certificate), the foreign TPM's AK.
      const body = { ...challengeBody(tpm), ak_public: b64(foreign.ak.akPublic) };
      const r = await device<Challenge>('POST', '/api/v1/registrations/attestation/challenge', body);
      assert.equal(r.status, 201);
      await assert.rejects(
        activateCredential(foreign.opts, {
          akContext: foreign.ak.akContext,
          ekContext: foreign.ek.ekContext,
          idObject: Buffer.from(r.json.result.credential.id_object, 'base64'),
          encryptedSecret: Buffer.from(r.json.result.credential.encrypted_secret, 'base64'),
        }),
      );
      // The foreign AK can certify a key over the nonce, but without the secret the answer fails.
      const { csr, attestation } = await evidence(foreign, r.json.result, 'foreignak', {
        secret: randomBytes(32),
      });
      await refused({ serial_number: 'AK-1', csr, attestation }, 'activation_failed');
    });

    test('an EK certificate from a root not accepted → ek_untrusted, nothing stored', async () => {
      const r = await device('POST', '/api/v1/registrations/attestation/challenge', challengeBody(foreign));
      assert.equal(r.status, 400);
      assert.equal(r.json.errors[0]?.code, 'ek_untrusted');
    });

    test('a pinned EK (no certificate sent) is trusted; pins are audited', async () => {
      const noCert = { ek_public: b64(foreign.ek.ekPublic), ak_public: b64(foreign.ak.akPublic) };
      const before = await device('POST', '/api/v1/registrations/attestation/challenge', noCert);
      assert.equal(before.json.errors[0]?.code, 'ek_untrusted');
      const pin = await api<{ id: string }>('POST', '/api/v1/tpm_ek_pins', {
        name: 'lab box',
        ek_public: b64(foreign.ek.ekPublic),
      });
      assert.equal(pin.status, 201, JSON.stringify(pin.json));
      const bad = await api('POST', '/api/v1/tpm_ek_pins', { name: 'bad', spki_sha256: 'zz' });
      assert.equal(bad.status, 400);
      const c = await device<Challenge>('POST', '/api/v1/registrations/attestation/challenge', noCert);
      assert.equal(c.status, 201, JSON.stringify(c.json));
      const { csr, attestation } = await evidence(foreign, c.json.result, 'pinned');
      const r = await register({ serial_number: 'PIN-1', csr, attestation });
      assert.equal(r.status, 201, JSON.stringify(r.json));
      assert.equal(r.json.result.assurance, 'tpm_attested');
      assert.equal((await api('DELETE', `/api/v1/tpm_ek_pins/${pin.json.result.id}`)).status, 200);
      const audit = await api<{ action: string }[]>('GET', '/api/v1/audit?action=tpm_ek_pin.delete');
      assert.equal(audit.json.result.length, 1);
    });

    test('required_device_assurance tpm_attested: a hardware_claimed registration → device_assurance_required', async () => {
      const set = await api('PATCH', '/api/v1/organization/settings', {
        required_device_assurance: 'tpm_attested',
      });
      assert.equal(set.status, 200, JSON.stringify(set.json));
      const claimed = await makeCsr(dir, 'claimed');
      await refused(
        { serial_number: 'HC-1', key_protection: 'pkcs11', csr: claimed.pem },
        'device_assurance_required',
        403,
      );
      const c = await challenge(tpm);
      const { csr, attestation } = await evidence(tpm, c, 'required');
      const r = await register({ serial_number: 'REQ-1', csr, attestation });
      assert.equal(r.status, 201, JSON.stringify(r.json));
      const bad = await api('PATCH', '/api/v1/organization/settings', {
        required_device_assurance: 'very_high',
      });
      assert.equal(bad.status, 400);
    });

    test('attestation with key_protection pkcs11 → attestation_requires_tpm2', async () => {
      const c = await challenge(tpm);
      const { csr, attestation } = await evidence(tpm, c, 'pk');
      await refused(
        { serial_number: 'PK-1', key_protection: 'pkcs11', csr, attestation },
        'attestation_requires_tpm2',
      );
    });
  },
);
