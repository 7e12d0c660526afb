// Device attacks against a real `gatehouse serve` (issue #11 items 3 and 7): a registration
// certificate revoked by an admin must stop authenticating and never be renewed, its key never
// certified again; parallel registrations with one serial number must make one device, on SQLite
// and on PostgreSQL. Real TLS (curl with the device's client certificate), real openssl keys.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { type EnrolmentOrg, startEnrolmentOrg } from '../helpers/device-org.js';
import { gatehouse } from '../helpers/gatehouse.js';
import { type CaFiles, csrForKey, makeCsr, makeLeafCert, makeRootCa } from '../helpers/openssl.js';
import { createTestDatabase } from '../helpers/postgres.js';
import { requireTool, runOk } from '../helpers/tools.js';

interface Registered {
  registration_id: string;
  device_id: string;
  token: string;
  certificate?: string;
}

type Org = EnrolmentOrg;
const startOrg = (dir: string, env: NodeJS.ProcessEnv = {}) => startEnrolmentOrg(dir, 'Attack Org', env);

/** A device API call with curl: bearer token, optional client certificate (real mTLS). */
async function call(
  org: Org,
  method: string,
  path: string,
  opts: { bearer?: string; cert?: { certPath: string; keyPath: string }; body?: unknown; enrol?: boolean },
) {
  const args = ['-s', '-w', '\n%{http_code}', '--cacert', org.rootPath, '-X', method];
  if (opts.bearer) args.push('-H', `authorization: Bearer ${opts.bearer}`);
  if (opts.cert) args.push('--cert', opts.cert.certPath, '--key', opts.cert.keyPath);
  if (opts.enrol)
    args.push(
      '-H',
      `gatehouse-access-client-id: ${org.serviceToken.client_id}`,
      '-H',
      `gatehouse-access-client-secret: ${org.serviceToken.client_secret}`,
    );
  if (opts.body !== undefined) args.push('-H', 'content-type: application/json', '--data-binary', '@-');
  const r = await runOk(requireTool('curl'), [...args, `${org.server.url}${path}`], {
    input: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const nl = r.stdout.lastIndexOf('\n');
  return {
    status: Number(r.stdout.slice(nl + 1)),
    json: JSON.parse(r.stdout.slice(0, nl) || 'null') as {
      result: Record<string, unknown>;
      errors: { code: string; message: string }[];
    },
  };
}

describe('device API attacks: revoked certificates, posture reports', () => {
  let dir: string;
  let org: Org;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-attack-devices-'));
    org = await startOrg(dir);
  });
  after(async () => {
    if (org) assert.equal(await org.server.stop(), 0, org.server.output());
    rmSync(dir, { recursive: true, force: true });
  });

  /** A hardware-backed registration with a new openssl key; its certificate written beside the key. */
  async function registerHardware(name: string, serial: string) {
    const csr = await makeCsr(dir, name);
    const created = await call(org, 'POST', '/api/v1/registrations', {
      enrol: true,
      body: { name, serial_number: serial, key_protection: 'pkcs11', csr: csr.pem },
    });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const reg = created.json.result as unknown as Registered;
    const cert = { certPath: join(dir, `${name}.pem`), keyPath: csr.keyPath };
    writeFileSync(cert.certPath, reg.certificate ?? '');
    return { csr, reg, cert };
  }

  test('no longer authenticates, is never renewed, and its key never registers again', async () => {
    const { csr, reg, cert } = await registerHardware('stolen', 'ATK-REV-1');
    assert.equal((await call(org, 'GET', '/api/v1/devices/self', { bearer: reg.token, cert })).status, 200);

    // The admin revokes the certificate itself (not the registration): the key is compromised.
    const regs = await org.api<{ id: string; certificate_id: string; status: string }[]>(
      'GET',
      '/api/v1/registrations',
    );
    const certificateId = regs.json.result.find((r) => r.id === reg.registration_id)?.certificate_id;
    assert.ok(certificateId);
    const revoked = await org.api(
      'DELETE',
      `/api/v1/client_certificates/${certificateId}?reason=keyCompromise`,
    );
    assert.equal(revoked.status, 200, JSON.stringify(revoked.json));

    // The revocation ended the registration at once.
    const self = await call(org, 'GET', '/api/v1/devices/self', { bearer: reg.token, cert });
    assert.equal(self.status, 401, JSON.stringify(self.json));
    assert.equal(self.json.errors[0]?.code, 'registration_ended');
    for (const path of ['/api/v1/devices/self/posture', '/api/v1/devices/self/posture/nonce']) {
      const r = await call(org, path.endsWith('nonce') ? 'POST' : 'GET', path, { bearer: reg.token, cert });
      assert.equal(r.status, 401, `${path}: ${JSON.stringify(r.json)}`);
    }

    const sameKey = await csrForKey(csr.keyPath);
    const renewed = await call(org, 'POST', '/api/v1/devices/self/renew', {
      bearer: reg.token,
      cert,
      body: { csr: sameKey },
    });
    assert.equal(renewed.status, 401, JSON.stringify(renewed.json));
    assert.equal(renewed.json.errors[0]?.code, 'registration_ended');

    // The registration has ended, for the admin to see.
    const after = await org.api<{ id: string; status: string }[]>('GET', '/api/v1/registrations');
    assert.equal(after.json.result.find((r) => r.id === reg.registration_id)?.status, 'revoked');

    // The same key under another serial number (a fresh enrolment by whoever holds the key).
    const again = await call(org, 'POST', '/api/v1/registrations', {
      enrol: true,
      body: { name: 'again', serial_number: 'ATK-REV-2', key_protection: 'pkcs11', csr: sameKey },
    });
    assert.equal(again.status, 403, JSON.stringify(again.json));
    assert.equal(again.json.errors[0]?.code, 'key_revoked');
    // A new key registers fine (the device itself is not banned).
    const fresh = await makeCsr(dir, 'fresh');
    const ok = await call(org, 'POST', '/api/v1/registrations', {
      enrol: true,
      body: { name: 'fresh', serial_number: 'ATK-REV-2', key_protection: 'pkcs11', csr: fresh.pem },
    });
    assert.equal(ok.status, 201, JSON.stringify(ok.json));
  });

  test('revoked by another path (the CLI, straight into the database): refused, and the registration ends', async () => {
    const { csr, reg, cert } = await registerHardware('cli-revoked', 'ATK-REV-4');
    const regs = await org.api<{ id: string; certificate_id: string }[]>('GET', '/api/v1/registrations');
    const certificateId = regs.json.result.find((r) => r.id === reg.registration_id)?.certificate_id ?? '';
    const cli = await gatehouse(['cert', 'revoke', certificateId, '--data-dir', join(dir, 'data')]);
    assert.equal(cli.code, 0, cli.stderr);

    const sameKey = await csrForKey(csr.keyPath);
    const renewed = await call(org, 'POST', '/api/v1/devices/self/renew', {
      bearer: reg.token,
      cert,
      body: { csr: sameKey },
    });
    assert.equal(renewed.status, 401, JSON.stringify(renewed.json));
    assert.equal(renewed.json.errors[0]?.code, 'certificate_revoked');
    const list = await org.api<{ id: string; status: string }[]>('GET', '/api/v1/registrations');
    assert.equal(list.json.result.find((r) => r.id === reg.registration_id)?.status, 'revoked');
    const again = await call(org, 'POST', '/api/v1/registrations', {
      enrol: true,
      body: { name: 'cli', serial_number: 'ATK-REV-4', key_protection: 'pkcs11', csr: sameKey },
    });
    assert.equal(again.status, 403, JSON.stringify(again.json));
    assert.equal(again.json.errors[0]?.code, 'key_revoked');
  });

  test('a certificate superseded by renewal does not bar its key', async () => {
    const { csr, reg, cert } = await registerHardware('renewing', 'ATK-REV-3');
    const sameKey = await csrForKey(csr.keyPath);
    for (let i = 0; i < 2; i++) {
      const renewed = await call(org, 'POST', '/api/v1/devices/self/renew', {
        bearer: reg.token,
        cert,
        body: { csr: sameKey },
      });
      assert.equal(renewed.status, 200, JSON.stringify(renewed.json));
      writeFileSync(cert.certPath, String(renewed.json.result.certificate));
    }
    assert.equal((await call(org, 'GET', '/api/v1/devices/self', { bearer: reg.token, cert })).status, 200);
  });

  describe('posture reports', () => {
    let caId: string;
    let corp: CaFiles;
    before(async () => {
      corp = await makeRootCa(dir, 'corp');
      const ca = await org.api<{ id: string }>('POST', '/api/v1/mtls_certificates', {
        name: 'corp',
        certificates: corp.pem,
        ca: true,
      });
      assert.equal(ca.status, 201, JSON.stringify(ca.json));
      caId = ca.json.result.id;
    });

    async function rule(input: Record<string, unknown>) {
      const r = await org.api<{ id: string }>('POST', '/api/v1/devices/posture', {
        name: `rule-${input.cn ?? 'any'}`,
        type: 'client_certificate_v2',
        input: { certificate_id: caId, operating_system: 'linux', check_private_key: false, ...input },
      });
      assert.equal(r.status, 201, JSON.stringify(r.json));
      return r.json.result.id;
    }

    async function standardDevice(body: Record<string, unknown>) {
      const r = await call(org, 'POST', '/api/v1/registrations', {
        enrol: true,
        body: { key_protection: 'software', os: 'linux', ...body },
      });
      assert.equal(r.status, 201, JSON.stringify(r.json));
      return (r.json.result as unknown as Registered).token;
    }

    async function claimPass(
      token: string,
      ruleId: string,
      pem: string,
      extra: Record<string, unknown> = {},
    ) {
      const r = await call(org, 'POST', '/api/v1/devices/self/posture', {
        bearer: token,
        body: {
          results: [{ rule_id: ruleId, success: true, reasons: [], certificate: { pem, ...extra } }],
          device: { serial_number: 'EVIL-1', hostname: 'evil.example' },
        },
      });
      assert.equal(r.status, 201, JSON.stringify(r.json));
      const [result] = r.json.result as unknown as { success: boolean; reasons: string[] }[];
      return result;
    }

    test('a device registered without a serial number cannot report one to pass a ${serial_number} rule', async () => {
      const ruleId = await rule({ cn: '${serial_number}' });
      const token = await standardDevice({ name: 'no-serial' });
      const forged = await makeLeafCert(dir, 'evil', corp, { cn: 'EVIL-1' });
      const result = await claimPass(token, ruleId, forged.pem, { location: { trust_store: 'system' } });
      assert.equal(result?.success, false, JSON.stringify(result));
      assert.deepEqual(result?.reasons, ['fact_not_registered']);
      // Registered facts are what count: a device registered as EVIL-2 passes with CN=EVIL-2 only.
      const registered = await standardDevice({ name: 'serial', serial_number: 'EVIL-2' });
      assert.deepEqual(
        (await claimPass(registered, ruleId, forged.pem, { location: { trust_store: 'system' } }))?.reasons,
        ['cn_mismatch'],
      );
      const own = await makeLeafCert(dir, 'own', corp, { cn: 'EVIL-2' });
      assert.equal(
        (await claimPass(registered, ruleId, own.pem, { location: { trust_store: 'system' } }))?.success,
        true,
      );
    });

    test('a rule naming PEM paths refuses a pass claimed from the NSS database or nowhere', async () => {
      const ruleId = await rule({ locations: { paths: ['/etc/corp/device.pem'] } });
      const token = await standardDevice({ name: 'paths' });
      const cert = await makeLeafCert(dir, 'paths', corp, { cn: 'whatever' });
      for (const extra of [
        {},
        { location: { trust_store: 'system' } },
        { location: { path: '/tmp/mine.pem' } },
      ]) {
        const result = await claimPass(token, ruleId, cert.pem, extra);
        assert.equal(result?.success, false, JSON.stringify(extra));
        assert.deepEqual(result?.reasons, ['location_not_allowed']);
      }
      const at = await claimPass(token, ruleId, cert.pem, { location: { path: '/etc/corp/device.pem' } });
      assert.equal(at?.success, true);
    });
  });
});

/** POSTs `count` registrations with one serial number at once (one connection each). */
function registerInParallel(org: Org, rootPem: string, serial: string, count: number, csr: string) {
  return Promise.all(
    Array.from(
      { length: count },
      (_, i) =>
        new Promise<{ status: number; code?: string }>((resolve, reject) => {
          const req = https.request(
            `${org.server.url}/api/v1/registrations`,
            {
              method: 'POST',
              ca: rootPem,
              agent: false,
              headers: {
                'content-type': 'application/json',
                'gatehouse-access-client-id': org.serviceToken.client_id,
                'gatehouse-access-client-secret': org.serviceToken.client_secret,
              },
            },
            (res) => {
              let data = '';
              res.on('data', (d) => (data += d));
              res.on('end', () => {
                const json = JSON.parse(data) as { errors?: { code: string }[] };
                resolve({ status: res.statusCode ?? 0, code: json.errors?.[0]?.code });
              });
            },
          );
          req.on('error', reject);
          // Hardware-backed (one key for all: it is the serial number that races): signing the
          // certificate widens the window between reading the serial number and storing it.
          req.end(
            JSON.stringify({ name: `racer-${i}`, serial_number: serial, key_protection: 'pkcs11', csr }),
          );
        }),
    ),
  );
}

async function raceRegistrations(t: TestContext, env: NodeJS.ProcessEnv) {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-attack-race-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const org = await startOrg(dir, env);
  try {
    const rootPem = readFileSync(org.rootPath, 'utf8');
    const devicesWith = async (serial: string) => {
      const list = await org.api<
        { id: string; serial_number: string; registrations: { id: string; status: string }[] }[]
      >('GET', '/api/v1/devices');
      return list.json.result.filter((d) => d.serial_number === serial);
    };
    const tally = (results: { status: number; code?: string }[]) => {
      assert.equal(results.filter((r) => r.status === 201).length, 1, JSON.stringify(results));
      for (const r of results.filter((x) => x.status !== 201)) {
        assert.equal(r.status, 409, JSON.stringify(results));
        assert.equal(r.code, 'device_already_registered');
      }
    };

    for (let round = 0; round < 3; round++) {
      const serial = `RACE-${round}`;
      tally(await registerInParallel(org, rootPem, serial, 8, (await makeCsr(dir, serial)).pem));
      const devices = await devicesWith(serial);
      assert.equal(devices.length, 1, JSON.stringify(devices));
      assert.equal(devices[0]?.registrations.filter((r) => r.status === 'active').length, 1);
    }

    // A known device with no active registration (revoked): the race is on the registration row.
    const [device] = await devicesWith('RACE-0');
    const active = device?.registrations.find((r) => r.status === 'active');
    assert.ok(active);
    assert.equal((await org.api('DELETE', `/api/v1/registrations/${active.id}`)).status, 200);
    tally(await registerInParallel(org, rootPem, 'RACE-0', 8, (await makeCsr(dir, 'RACE-0-again')).pem));
    const after = await devicesWith('RACE-0');
    assert.equal(after.length, 1);
    assert.equal(
      after[0]?.registrations.filter((r) => r.status === 'active').length,
      1,
      JSON.stringify(after),
    );
  } finally {
    assert.equal(await org.server.stop(), 0, org.server.output());
  }
}

describe('parallel registrations with one serial number', () => {
  test('SQLite: one device, one active registration; the others get 409', async (t) => {
    await raceRegistrations(t, {});
  });

  test('PostgreSQL: one device, one active registration; the others get 409', async (t) => {
    const db = await createTestDatabase(t);
    if (!db) return;
    await raceRegistrations(t, {
      GATEHOUSE_DATABASE_URL: db.url,
      GATEHOUSE_MASTER_KEY: randomBytes(32).toString('base64'),
    });
  });
});
