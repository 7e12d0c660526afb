// `gatehouse device posture` end to end: the real binary against a real `gatehouse serve`, NSS
// databases built with certutil and pk12util in temp dirs, PEM paths with the key in the same
// file or apart. Every pass is re-checked by the server (the key by a nonce signature).
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startDeviceOrg } from '../helpers/device-org.js';
import { adminApi, gatehouse, type RunningServer } from '../helpers/gatehouse.js';
import { importCertificate, importWithKey, makeNssDb } from '../helpers/nss.js';
import { type CaFiles, makeLeafCert, makeRootCa, makeSignedCert } from '../helpers/openssl.js';
import { requireTool } from '../helpers/tools.js';

const ORG = 'Posture Org';
const SERIAL = 'SN-77';

interface Outcome {
  rule_id: string;
  success: boolean;
  reasons: string[];
  certificate: { subject: string; serial_number: string; fingerprint_sha256: string } | null;
}

const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256.replace(/:/g, '').toLowerCase();

describe('gatehouse device posture', () => {
  let dir: string;
  let server: RunningServer;
  let adminToken: string;
  let rootPem: string;
  let stateDir: string;
  let corp: CaFiles;
  let other: CaFiles;
  let corpId: string;
  let ruleId: string;
  let n = 0;
  const api = adminApi(
    () => server.url,
    () => adminToken,
    () => rootPem,
  );

  before(async () => {
    requireTool('certutil');
    requireTool('pk12util');
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-posture-agent-'));
    ({ server, adminToken, rootPem, stateDir } = await startDeviceOrg(dir, ORG, SERIAL));
    corp = await makeRootCa(dir, 'corp-root');
    other = await makeRootCa(dir, 'other-root');
    const ca = await api<{ id: string }>('POST', '/api/v1/mtls_certificates', {
      name: 'corp',
      certificates: corp.pem,
      ca: true,
    });
    assert.equal(ca.status, 201, JSON.stringify(ca.json));
    corpId = ca.json.result.id;
    const rule = await api<{ id: string }>('POST', '/api/v1/devices/posture', ruleBody());
    assert.equal(rule.status, 201, JSON.stringify(rule.json));
    ruleId = rule.json.result.id;
  });

  after(async () => {
    if (server) assert.equal(await server.stop(), 0, server.output());
    rmSync(dir, { recursive: true, force: true });
  });

  function ruleBody(input: Record<string, unknown> = {}) {
    return {
      name: 'corp device certificate',
      type: 'client_certificate_v2',
      expiration: '1h',
      match: [{ platform: 'linux' }],
      input: {
        certificate_id: corpId,
        operating_system: 'linux',
        check_private_key: true,
        cn: '${serial_number}',
        extended_key_usage: ['clientAuth'],
        ...input,
      },
    };
  }

  async function setRule(input: Record<string, unknown> = {}) {
    const r = await api('PUT', `/api/v1/devices/posture/${ruleId}`, ruleBody(input));
    assert.equal(r.status, 200, JSON.stringify(r.json));
  }

  /** Runs `device posture --json` against `nssdb` (a fresh empty one by default). */
  async function posture(nssdb?: string, extra: string[] = []): Promise<Outcome> {
    const db = nssdb ?? (await makeNssDb(join(dir, `empty-${n++}`)));
    const r = await gatehouse(
      ['device', 'posture', '--state-dir', stateDir, '--nssdb', db, '--json', ...extra],
      {
        env: { GATEHOUSE_LOG_LEVEL: 'warn' },
      },
    );
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const outcomes = JSON.parse(r.stdout) as Outcome[];
    assert.equal(outcomes.length, 1, r.stdout);
    const outcome = outcomes[0] as Outcome;
    assert.equal(outcome.rule_id, ruleId);
    return outcome;
  }

  const freshDb = () => makeNssDb(join(dir, `nss-${n++}`));
  const leaf = (issuer: CaFiles, opts: Parameters<typeof makeLeafCert>[3] = {}) =>
    makeLeafCert(dir, `leaf-${n++}`, issuer, { cn: SERIAL, ...opts });

  describe('NSS database', () => {
    before(() => setRule());

    test('a certificate with its key from the right CA passes, and the server logs it with the key proved', async () => {
      const db = await freshDb();
      const cert = await leaf(corp, { cn: SERIAL.toLowerCase() });
      await importWithKey(db, 'device cert', cert);
      const o = await posture(db);
      assert.equal(o.success, true, JSON.stringify(o));
      assert.deepEqual(o.reasons, []);
      assert.equal(o.certificate?.fingerprint_sha256, fingerprint(cert.pem));
      const logs = await api<
        { success: boolean; key_proved: boolean; certificate: { fingerprint_sha256: string } }[]
      >('GET', `/api/v1/devices/posture/logs?rule_id=${ruleId}&per_page=1`);
      assert.equal(logs.json.result[0]?.success, true);
      assert.equal(logs.json.result[0]?.key_proved, true);
      assert.equal(logs.json.result[0]?.certificate.fingerprint_sha256, fingerprint(cert.pem));
      // The admin's table: `gatehouse posture logs` on the data directory.
      const table = await gatehouse([
        'posture',
        'logs',
        '--data-dir',
        join(dir, 'data'),
        '--rule',
        ruleId,
        '--result',
        'pass',
        '--limit',
        '5',
      ]);
      assert.equal(table.code, 0, table.stderr);
      const [header, first] = table.stdout.split('\n');
      assert.match(header ?? '', /^TIME\s+DEVICE\s+RULE\s+RESULT\s+REASONS\s+CERTIFICATE\s+EXPIRES$/);
      assert.match(first ?? '', /corp device certificate\s+pass\s+-\s+CN=sn-77 /);
      assert.ok(first?.includes(fingerprint(cert.pem).slice(0, 16)));
    });

    test('nothing in the database: not_found', async () => {
      assert.deepEqual((await posture()).reasons, ['not_found']);
    });

    test('wrong CA: untrusted', async () => {
      const db = await freshDb();
      await importWithKey(db, 'foreign', await leaf(other));
      assert.deepEqual((await posture(db)).reasons, ['untrusted']);
    });

    test('expired: expired', async () => {
      const db = await freshDb();
      await importWithKey(
        db,
        'old',
        await leaf(corp, { startDate: '20200101000000Z', endDate: '20200201000000Z' }),
      );
      const o = await posture(db);
      assert.equal(o.success, false);
      assert.deepEqual(o.reasons, ['expired']);
    });

    test('CN template ${hostname}, case-insensitive; a different CN: cn_mismatch', async () => {
      await setRule({ cn: 'host-${hostname}' });
      try {
        const db = await freshDb();
        await importWithKey(db, 'by host', await leaf(corp, { cn: `HOST-${hostname().toUpperCase()}` }));
        assert.equal((await posture(db)).success, true);
        const wrong = await freshDb();
        await importWithKey(wrong, 'other host', await leaf(corp, { cn: 'host-elsewhere' }));
        assert.deepEqual((await posture(wrong)).reasons, ['cn_mismatch']);
      } finally {
        await setRule();
      }
    });

    test('each EKU missing: eku_missing', async () => {
      await setRule({ extended_key_usage: ['clientAuth', 'emailProtection'] });
      try {
        for (const eku of [['clientAuth'], ['emailProtection']]) {
          const db = await freshDb();
          await importWithKey(db, 'one eku', await leaf(corp, { eku }));
          assert.deepEqual((await posture(db)).reasons, ['eku_missing'], eku.join());
        }
        const db = await freshDb();
        await importWithKey(db, 'both', await leaf(corp, { eku: ['clientAuth', 'emailProtection'] }));
        assert.equal((await posture(db)).success, true);
      } finally {
        await setRule();
      }
    });

    test('the certificate without its key: no_private_key (passes when the rule does not check the key)', async () => {
      const db = await freshDb();
      const cert = await leaf(corp);
      await importCertificate(db, 'cert only', cert.certPath);
      assert.deepEqual((await posture(db)).reasons, ['no_private_key']);
      await setRule({ check_private_key: false });
      try {
        assert.equal((await posture(db)).success, true);
      } finally {
        await setRule();
      }
    });

    test('an intermediate in the database completes the chain', async () => {
      const intermediate = await makeSignedCert(dir, `intermediate-${n++}`, corp);
      const cert = await leaf(intermediate);
      const db = await freshDb();
      await importWithKey(db, 'under intermediate', cert);
      assert.deepEqual((await posture(db)).reasons, ['untrusted'], 'without the intermediate');
      await importCertificate(db, 'corp intermediate', intermediate.certPath, 'c,,');
      assert.equal((await posture(db)).success, true);
    });
  });

  describe('PEM paths', () => {
    test('certificate and key in one file', async () => {
      const cert = await leaf(corp);
      const both = join(dir, `both-${n++}.pem`);
      writeFileSync(both, cert.pem + readFileSync(cert.keyPath, 'utf8'));
      await setRule({ locations: { paths: [both] } });
      const o = await posture();
      assert.equal(o.success, true, JSON.stringify(o));
      assert.equal(o.certificate?.fingerprint_sha256, fingerprint(cert.pem));
    });

    test('certificate and key apart; the key of another certificate: key_mismatch; none: no_private_key', async () => {
      const cert = await leaf(corp);
      const stranger = await leaf(corp);
      await setRule({ locations: { paths: [cert.certPath, cert.keyPath] } });
      assert.equal((await posture()).success, true);
      await setRule({ locations: { paths: [cert.certPath, stranger.keyPath] } });
      assert.deepEqual((await posture()).reasons, ['key_mismatch']);
      const alone = join(dir, `alone-${n++}.crt`);
      writeFileSync(alone, cert.pem);
      await setRule({ locations: { paths: [alone] } });
      assert.deepEqual((await posture()).reasons, ['no_private_key']);
    });

    test('the intermediate beside the leaf in the same file; Windows paths are ignored on Linux', async () => {
      const intermediate = await makeSignedCert(dir, `intermediate-${n++}`, corp);
      const cert = await leaf(intermediate);
      const bundle = join(dir, `bundle-${n++}.pem`);
      writeFileSync(bundle, cert.pem + intermediate.pem + readFileSync(cert.keyPath, 'utf8'));
      await setRule({ locations: { paths: ['C:\\ProgramData\\corp\\device.pem', bundle] } });
      assert.equal((await posture()).success, true);
    });
  });

  describe('only the locations a rule names', () => {
    test('a rule naming PEM paths is not met by a valid certificate in the NSS database', async () => {
      const db = await freshDb();
      await importWithKey(db, 'valid but elsewhere', await leaf(corp));
      await setRule({ locations: { paths: [join(dir, 'not-there.pem')] } });
      try {
        const o = await posture(db);
        assert.equal(o.success, false, JSON.stringify(o));
        assert.deepEqual(o.reasons, ['not_found']);
      } finally {
        await setRule();
      }
    });

    test('trust_stores: user is the user NSS database, system the system one; both when both are named', async () => {
      const inUser = await freshDb();
      await importWithKey(inUser, 'user cert', await leaf(corp));
      const inSystem = await freshDb();
      await importWithKey(inSystem, 'system cert', await leaf(corp));
      const empty = await freshDb();
      try {
        await setRule({ locations: { trust_stores: ['user'] } });
        assert.equal((await posture(empty, ['--user-nssdb', inUser])).success, true);
        assert.deepEqual((await posture(inSystem, ['--user-nssdb', empty])).reasons, ['not_found']);
        await setRule({ locations: { trust_stores: ['system'] } });
        assert.deepEqual((await posture(empty, ['--user-nssdb', inUser])).reasons, ['not_found']);
        assert.equal((await posture(inSystem, ['--user-nssdb', empty])).success, true);
        await setRule({ locations: { trust_stores: ['system', 'user'] } });
        assert.equal((await posture(empty, ['--user-nssdb', inUser])).success, true);
        assert.equal((await posture(inSystem, ['--user-nssdb', empty])).success, true);
      } finally {
        await setRule();
      }
    });
  });

  describe('required certificate policies', () => {
    const PIV_AUTH = '2.16.840.1.101.3.2.1.3.13';
    after(() => setRule());

    test('only a certificate asserting a required policy counts: policy_required, then a pass with the PIV certificate', async () => {
      await setRule({ required_policies: [PIV_AUTH] });
      const plain = await leaf(corp);
      const plainDb = await freshDb();
      await importWithKey(plainDb, 'plain', plain);
      const refused = await posture(plainDb);
      assert.equal(refused.success, false);
      assert.deepEqual(refused.reasons, ['policy_required']);
      const failed = await api<{ reasons: string[] }[]>(
        'GET',
        `/api/v1/devices/posture/logs?rule_id=${ruleId}&result=fail&per_page=1`,
      );
      assert.deepEqual(failed.json.result[0]?.reasons, ['policy_required']);

      const piv = await leaf(corp, { policies: [PIV_AUTH] });
      const db = await freshDb();
      await importWithKey(db, 'plain', plain);
      await importWithKey(db, 'piv card', piv);
      const o = await posture(db);
      assert.equal(o.success, true, JSON.stringify(o));
      assert.equal(o.certificate?.fingerprint_sha256, fingerprint(piv.pem));
      const passed = await api<{ key_proved: boolean; certificate: { fingerprint_sha256: string } }[]>(
        'GET',
        `/api/v1/devices/posture/logs?rule_id=${ruleId}&result=pass&per_page=1`,
      );
      assert.equal(passed.json.result[0]?.key_proved, true);
      assert.equal(passed.json.result[0]?.certificate.fingerprint_sha256, fingerprint(piv.pem));
    });
  });
});
