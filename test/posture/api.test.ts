// Device posture through the control-plane API, in-process (fastify inject) on a real SQLite
// store with real openssl certificates: rules (validation, dangling CA ids, CA deletion refused),
// the device side (rules for its platform, nonce, reports re-checked by the server, the
// private-key proof), expiry, logs with filters and pagination, audit.
import assert from 'node:assert/strict';
import { createPrivateKey, randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildApi } from '../../src/api/index.js';
import { Authority, initializeOrganization, ORG_CA_ID } from '../../src/authority/index.js';
import { createMetrics } from '../../src/observability/index.js';
import { signKeyProof } from '../../src/posture/index.js';
import { Store } from '../../src/store/index.js';
import { type CaFiles, makeLeafCert, makeRootCa } from '../helpers/openssl.js';

type App = Awaited<ReturnType<typeof buildApi>>;
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- response bodies

describe('device posture API', () => {
  let app: App;
  let store: Store;
  let token: string;
  let dir: string;
  let clock = Date.now();
  let root: CaFiles;
  let otherRoot: CaFiles;
  let caId: string;
  let otherCaId: string;
  let device: { token: string; device_id: string; registration_id: string };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-posture-'));
    store = await Store.open({ url: join(dir, 'api.db') });
    const masterKey = randomBytes(32);
    const init = await initializeOrganization({
      store,
      masterKey,
      orgName: 'Posture Org',
      algorithm: 'ecdsa-p256',
      sans: [],
      publicUrl: 'https://gatehouse.test',
    });
    token = init.adminToken;
    const authority = await Authority.load(store, masterKey, () => new Date(clock));
    app = await buildApi({ authority, metrics: createMetrics() });
    root = await makeRootCa(dir, 'posture-root');
    otherRoot = await makeRootCa(dir, 'other-root');
    // The test clock must not lag the roots just made: their own validity is checked (anchor_not_yet_valid).
    clock = Date.now();
    caId = (
      await call('POST', '/api/v1/mtls_certificates', { name: 'corp', certificates: root.pem, ca: true })
    ).json().result.id;
    otherCaId = (
      await call('POST', '/api/v1/mtls_certificates', {
        name: 'other',
        certificates: otherRoot.pem,
        ca: true,
      })
    ).json().result.id;
    const st = (await call('POST', '/api/v1/access/service_tokens', { name: 'enrol' })).json().result;
    const reg = await app.inject({
      method: 'POST',
      url: '/api/v1/registrations',
      headers: {
        'gatehouse-access-client-id': st.client_id,
        'gatehouse-access-client-secret': st.client_secret,
      },
      payload: {
        name: 'laptop',
        serial_number: 'SN-42',
        hostname: 'laptop.corp',
        os: 'linux',
        key_protection: 'software',
      },
    });
    assert.equal(reg.statusCode, 201, reg.body);
    device = reg.json().result;
  });
  after(async () => {
    await app?.close();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function call(method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: unknown, auth = token) {
    return app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${auth}` },
      ...(payload === undefined ? {} : { payload: payload as Json }),
    });
  }
  const asDevice = (method: 'GET' | 'POST', url: string, payload?: unknown) =>
    call(method, url, payload, device.token);

  const v2 = (over: Json = {}, input: Json = {}) => ({
    name: 'corp certificate',
    type: 'client_certificate_v2',
    schedule: '5m',
    expiration: '1h',
    match: [{ platform: 'linux' }],
    input: {
      certificate_id: caId,
      operating_system: 'linux',
      check_private_key: true,
      cn: '${serial_number}',
      extended_key_usage: ['clientAuth'],
      locations: { paths: ['/etc/corp/device.pem'] },
      ...input,
    },
    ...over,
  });

  /** Where the agent found the certificate: the path the v2 rules here name. */
  const AT_PATH = { path: '/etc/corp/device.pem' };

  async function rowCount(): Promise<number> {
    return (await store.postureRules.all()).length;
  }

  test('rules are validated and never saved with a dangling certificate_id', async () => {
    const before = await rowCount();
    for (const [what, body, code] of [
      [
        'unknown CA',
        v2({}, { certificate_id: '6f1c2b4e-8d3a-4f5b-9c7e-1a2b3c4d5e6f' }),
        'unknown_certificate',
      ],
      ['unknown field', { ...v2(), color: 'red' }, 'invalid_request'],
      ['bad platform', v2({ match: [{ platform: 'beos' }] }), 'invalid_request'],
      ['bad EKU', v2({}, { extended_key_usage: ['serverAuth'] }), 'invalid_request'],
      ['relative path', v2({}, { locations: { paths: ['device.pem'] } }), 'invalid_request'],
      ['bad schedule', v2({ schedule: 'soon' }), 'invalid_request'],
      ['tiny schedule', v2({ schedule: '1s' }), 'invalid_duration'],
      ['old type with v2 input', v2({ type: 'client_certificate' }), 'invalid_request'],
      [
        'policy OID with a leading zero',
        v2({}, { required_policies: ['2.16.0840.1'] }),
        'invalid_policy_oid',
      ],
      [
        'policy OID with a non-numeric arc',
        v2({}, { required_policies: ['2.16.x.1'] }),
        'invalid_policy_oid',
      ],
      ['policy OID too short', v2({}, { required_policies: ['2'] }), 'invalid_policy_oid'],
      ['policy OID with an empty arc', v2({}, { required_policies: ['2..1'] }), 'invalid_policy_oid'],
      ['policy OID not under 0, 1 or 2', v2({}, { required_policies: ['3.1'] }), 'invalid_policy_oid'],
      ['anyPolicy required', v2({}, { required_policies: ['2.5.29.32.0'] }), 'invalid_policy_oid'],
      ['duplicate policy OIDs', v2({}, { required_policies: ['1.2.3', '1.2.3'] }), 'invalid_request'],
      [
        'policy OIDs on the older type',
        {
          ...v2({ type: 'client_certificate' }),
          input: { certificate_id: caId, cn: 'x', required_policies: ['1.2.3'] },
        },
        'invalid_request',
      ],
      [
        'org root is not addressable',
        v2({}, { certificate_id: '00000000-0000-4000-8000-000000000000' }),
        'unknown_certificate',
      ],
    ] as const) {
      const r = await call('POST', '/api/v1/devices/posture', body);
      assert.equal(r.statusCode, 400, `${what}: ${r.body}`);
      assert.equal(r.json().errors[0].code, code, what);
    }
    assert.equal(await rowCount(), before, 'no rule stored by a refused request');
  });

  test('required_policies are stored and returned; a replacement is checked too', async () => {
    const PIV_AUTH = '2.16.840.1.101.3.2.1.3.13';
    const created = await call(
      'POST',
      '/api/v1/devices/posture',
      v2({ name: 'piv' }, { required_policies: [PIV_AUTH] }),
    );
    assert.equal(created.statusCode, 201, created.body);
    const id = created.json().result.id as string;
    assert.deepEqual(created.json().result.input.required_policies, [PIV_AUTH]);
    const bad = await call(
      'PUT',
      `/api/v1/devices/posture/${id}`,
      v2({ name: 'piv' }, { required_policies: ['1.02'] }),
    );
    assert.equal(bad.statusCode, 400, bad.body);
    assert.equal(bad.json().errors[0].code, 'invalid_policy_oid');
    assert.match(
      bad.json().errors[0].message,
      /input\.required_policies\[0\]: "1\.02" arc 2 \(02\) has a leading zero/,
    );
    const kept = await call('GET', `/api/v1/devices/posture/${id}`);
    assert.deepEqual(kept.json().result.input.required_policies, [PIV_AUTH]);
    assert.equal((await call('DELETE', `/api/v1/devices/posture/${id}`)).statusCode, 200);
  });

  test('create, list, get, replace, delete; the CA cannot be deleted while a rule uses it; audited', async () => {
    const created = await call('POST', '/api/v1/devices/posture', v2({ name: 'temp' }));
    assert.equal(created.statusCode, 201, created.body);
    const rule = created.json().result;
    assert.equal(rule.type, 'client_certificate_v2');
    assert.equal(rule.input.certificate_id, caId);
    assert.deepEqual(rule.match, [{ platform: 'linux' }]);

    const old = await call('POST', '/api/v1/devices/posture', {
      name: 'legacy',
      type: 'client_certificate',
      input: { certificate_id: ORG_CA_ID, cn: 'x' },
    });
    assert.equal(old.statusCode, 201, old.body);
    assert.equal(old.json().result.schedule, '5m');
    assert.equal(old.json().result.expiration, null);

    const list = (await call('GET', '/api/v1/devices/posture')).json().result as Json[];
    assert.ok(list.some((r) => r.id === rule.id) && list.some((r) => r.id === old.json().result.id));
    assert.equal((await call('GET', `/api/v1/devices/posture/${rule.id}`)).json().result.name, 'temp');

    const replaced = await call(
      'PUT',
      `/api/v1/devices/posture/${rule.id}`,
      v2({ name: 'renamed' }, { certificate_id: otherCaId }),
    );
    assert.equal(replaced.statusCode, 200, replaced.body);
    assert.equal(replaced.json().result.name, 'renamed');
    assert.equal(replaced.json().result.created_on, rule.created_on);
    const dangling = await call(
      'PUT',
      `/api/v1/devices/posture/${rule.id}`,
      v2({}, { certificate_id: '6f1c2b4e-8d3a-4f5b-9c7e-1a2b3c4d5e6f' }),
    );
    assert.equal(dangling.statusCode, 400);
    assert.equal((await call('GET', `/api/v1/devices/posture/${rule.id}`)).json().result.name, 'renamed');

    const refused = await call('DELETE', `/api/v1/mtls_certificates/${otherCaId}`);
    assert.equal(refused.statusCode, 409);
    assert.equal(refused.json().errors[0].code, 'ca_in_use');
    assert.match(refused.json().errors[0].message, /posture_rules/);

    assert.equal((await call('DELETE', `/api/v1/devices/posture/${rule.id}`)).statusCode, 200);
    assert.equal((await call('GET', `/api/v1/devices/posture/${rule.id}`)).statusCode, 404);
    assert.equal((await call('DELETE', `/api/v1/devices/posture/${rule.id}`)).statusCode, 404);
    assert.equal((await call('DELETE', `/api/v1/devices/posture/${old.json().result.id}`)).statusCode, 200);

    const audit = (await call('GET', `/api/v1/audit?resource_id=${rule.id}`)).json().result as Json[];
    assert.deepEqual(
      audit.map((a) => a.action),
      ['posture_rule.delete', 'posture_rule.update', 'posture_rule.create'],
    );
    // With no rule left using it, the CA can go.
    assert.equal((await call('DELETE', `/api/v1/mtls_certificates/${otherCaId}`)).statusCode, 200);
  });

  test('devices get the rules for their platform, with the CA certificates', async () => {
    const linux = (await call('POST', '/api/v1/devices/posture', v2({ name: 'linux rule' }))).json().result;
    const windows = (
      await call(
        'POST',
        '/api/v1/devices/posture',
        v2(
          { name: 'windows rule', match: [{ platform: 'windows' }] },
          {
            operating_system: 'windows',
            locations: { paths: ['C:\\certs\\device.pem'], trust_stores: ['user'] },
          },
        ),
      )
    ).json().result;
    const self = await asDevice('GET', '/api/v1/devices/self');
    assert.equal(self.statusCode, 200, self.body);
    const ids = (self.json().result.posture_rules as Json[]).map((r) => r.id);
    assert.ok(ids.includes(linux.id));
    assert.ok(!ids.includes(windows.id), 'a Windows rule is not sent to a Linux device');
    const posture = (await asDevice('GET', '/api/v1/devices/self/posture')).json().result;
    const mine = (posture.rules as Json[]).find((r) => r.id === linux.id) as Json;
    assert.equal(mine.ca_certificates.trim(), root.pem.trim());
    // An admin token is not a device token.
    assert.equal((await call('GET', '/api/v1/devices/self/posture')).statusCode, 401);
    await call('DELETE', `/api/v1/devices/posture/${linux.id}`);
    await call('DELETE', `/api/v1/devices/posture/${windows.id}`);
  });

  async function nonce(): Promise<string> {
    const r = await asDevice('POST', '/api/v1/devices/self/posture/nonce');
    assert.equal(r.statusCode, 201, r.body);
    return r.json().result.nonce;
  }
  const fingerprint = (pem: string) =>
    new X509Certificate(pem).fingerprint256.replace(/:/g, '').toLowerCase();

  /** Reports a pass for `cert` (proving its key with `keyPath` when given) under `nonceValue`. */
  const reportPass = (
    ruleId: string,
    pem: string,
    keyPath: string | undefined,
    nonceValue?: string,
    location: unknown = AT_PATH, // null: none
  ) =>
    asDevice('POST', '/api/v1/devices/self/posture', {
      results: [
        {
          rule_id: ruleId,
          success: true,
          reasons: [],
          certificate: { pem, ...(location ? { location } : {}) },
          ...(keyPath && nonceValue
            ? {
                key_proof: {
                  nonce: nonceValue,
                  signature: signKeyProof(
                    createPrivateKey(readFileSync(keyPath)),
                    nonceValue,
                    fingerprint(pem),
                  ),
                },
              }
            : {}),
        },
      ],
    });

  test('a reported pass is re-checked: chain, CN, EKU and the nonce signature', async () => {
    const rule = (await call('POST', '/api/v1/devices/posture', v2())).json().result;
    const good = await makeLeafCert(dir, 'good', root, { cn: 'sn-42' }); // case differs from SN-42
    const n = await nonce();
    const pass = await reportPass(rule.id, good.pem, good.keyPath, n);
    assert.equal(pass.statusCode, 201, pass.body);
    const stored = pass.json().result[0];
    assert.equal(stored.success, true);
    assert.equal(stored.key_proved, true);
    assert.equal(stored.certificate.fingerprint_sha256, fingerprint(good.pem));
    assert.equal(stored.certificate.subject, 'CN=sn-42');
    assert.ok(stored.expires_on > stored.reported_on);

    // The nonce was used up.
    const replay = await reportPass(rule.id, good.pem, good.keyPath, n);
    assert.equal(replay.statusCode, 400);
    assert.equal(replay.json().errors[0].code, 'invalid_nonce');

    // Claimed passes the server does not believe.
    const wrongCa = await makeLeafCert(dir, 'wrong-ca', otherRoot, { cn: 'SN-42' });
    const noEku = await makeLeafCert(dir, 'no-eku', root, { cn: 'SN-42', eku: ['emailProtection'] });
    const wrongCn = await makeLeafCert(dir, 'wrong-cn', root, { cn: 'SN-43' });
    const stranger = await makeLeafCert(dir, 'stranger', root, { cn: 'SN-42' });
    const cases: [string, string, string | undefined, string[]][] = [
      ['wrong CA', wrongCa.pem, wrongCa.keyPath, ['untrusted']],
      ['EKU missing', noEku.pem, noEku.keyPath, ['eku_missing']],
      ['CN mismatch', wrongCn.pem, wrongCn.keyPath, ['cn_mismatch']],
      ['key not the certificate’s', good.pem, stranger.keyPath, ['key_proof_invalid']],
      ['no key proof', good.pem, undefined, ['no_private_key']],
    ];
    for (const [what, pem, keyPath, reasons] of cases) {
      const r = await reportPass(rule.id, pem, keyPath, await nonce());
      assert.equal(r.statusCode, 201, `${what}: ${r.body}`);
      assert.equal(r.json().result[0].success, false, what);
      assert.deepEqual(r.json().result[0].reasons, reasons, what);
    }

    // A reported failure is stored as reported.
    const failed = await asDevice('POST', '/api/v1/devices/self/posture', {
      results: [{ rule_id: rule.id, success: false, reasons: ['not_found'] }],
    });
    assert.deepEqual(failed.json().result[0].reasons, ['not_found']);
    assert.equal(failed.json().result[0].certificate, null);

    // Bad reports change nothing.
    const logsBefore = (await call('GET', `/api/v1/devices/posture/logs?rule_id=${rule.id}`)).json()
      .result_info.total_count;
    for (const body of [
      { results: [{ rule_id: '6f1c2b4e-8d3a-4f5b-9c7e-1a2b3c4d5e6f', success: false, reasons: [] }] },
      { results: [{ rule_id: rule.id, success: true, reasons: [], certificate: { pem: 'not a pem' } }] },
      { results: [{ rule_id: rule.id, success: false, reasons: ['on_fire'] }] },
      { results: [] },
    ]) {
      const r = await asDevice('POST', '/api/v1/devices/self/posture', body);
      assert.equal(r.statusCode, 400, r.body);
    }
    const logsAfter = (await call('GET', `/api/v1/devices/posture/logs?rule_id=${rule.id}`)).json()
      .result_info.total_count;
    assert.equal(logsAfter, logsBefore);
    await call('DELETE', `/api/v1/devices/posture/${rule.id}`);
  });

  test('a pass counts only from a location the rule names', async () => {
    const good = await makeLeafCert(dir, 'located', root, { cn: 'SN-42' });
    const judge = async (locations: Json | undefined, location: unknown) => {
      const rule = (
        await call(
          'POST',
          '/api/v1/devices/posture',
          v2({ name: 'where' }, { check_private_key: false, locations }),
        )
      ).json().result;
      const r = await reportPass(rule.id, good.pem, undefined, undefined, location ?? null);
      await call('DELETE', `/api/v1/devices/posture/${rule.id}`);
      assert.equal(r.statusCode, 201, r.body);
      return r.json().result[0].success ? 'pass' : r.json().result[0].reasons.join(',');
    };
    const paths = { paths: ['/etc/corp/device.pem', '/etc/corp/other.pem'] };
    // A rule naming PEM paths: a certificate from the NSS database (or from nowhere) does not count.
    assert.equal(await judge(paths, { path: '/etc/corp/other.pem' }), 'pass');
    assert.equal(await judge(paths, { trust_store: 'system' }), 'location_not_allowed');
    assert.equal(await judge(paths, { path: '/home/attacker/any.pem' }), 'location_not_allowed');
    assert.equal(await judge(paths, { path: '/etc/corp/device.pem/../other.pem' }), 'location_not_allowed');
    assert.equal(await judge(paths, undefined), 'location_not_allowed');
    // Trust stores are honoured as named; no locations at all: the system store.
    assert.equal(await judge({ trust_stores: ['user'] }, { trust_store: 'user' }), 'pass');
    assert.equal(await judge({ trust_stores: ['user'] }, { trust_store: 'system' }), 'location_not_allowed');
    assert.equal(await judge(undefined, { trust_store: 'system' }), 'pass');
    assert.equal(await judge(undefined, { trust_store: 'user' }), 'location_not_allowed');
    assert.equal(await judge({ ...paths, trust_stores: ['system'] }, { trust_store: 'system' }), 'pass');
    // A location that is not one: 400, nothing stored.
    const rule = (await call('POST', '/api/v1/devices/posture', v2({ name: 'bad location' }))).json().result;
    for (const location of [
      { path: 'relative.pem' },
      { trust_store: 'keychain' },
      { path: '/x', trust_store: 'system' },
    ]) {
      const r = await reportPass(rule.id, good.pem, undefined, undefined, location);
      assert.equal(r.statusCode, 400, r.body);
    }
    await call('DELETE', `/api/v1/devices/posture/${rule.id}`);
  });

  test('results expire after the rule expiration; logs filter and paginate', async () => {
    const rule = (
      await call(
        'POST',
        '/api/v1/devices/posture',
        v2({ name: 'short', expiration: '10m' }, { check_private_key: false }),
      )
    ).json().result;
    const good = await makeLeafCert(dir, 'good2', root, { cn: 'SN-42' });
    const report = (success: boolean) =>
      asDevice('POST', '/api/v1/devices/self/posture', {
        results: [
          {
            rule_id: rule.id,
            success,
            reasons: success ? [] : ['not_found'],
            ...(success ? { certificate: { pem: good.pem, location: AT_PATH } } : {}),
          },
        ],
      });
    const t0 = new Date(clock).toISOString();
    assert.equal((await report(true)).json().result[0].success, true);
    const status = async () =>
      ((await asDevice('GET', '/api/v1/devices/self/posture')).json().result.status as Json[]).find(
        (s) => s.rule_id === rule.id,
      );
    assert.equal((await status())?.success, true);
    clock += 11 * 60_000; // past the expiration
    assert.equal((await status())?.success, false, 'an expired result counts as failing');
    const t1 = new Date(clock).toISOString();
    await report(false);
    clock += 1000;
    await report(true);

    const logs = async (q: string) =>
      (await call('GET', `/api/v1/devices/posture/logs?rule_id=${rule.id}${q}`)).json();
    assert.equal((await logs('')).result_info.total_count, 3);
    assert.equal((await logs('&result=pass')).result_info.total_count, 2);
    assert.equal((await logs('&result=fail')).result_info.total_count, 1);
    assert.equal((await logs(`&since=${encodeURIComponent(t1)}`)).result_info.total_count, 2);
    assert.equal((await logs(`&until=${encodeURIComponent(t1)}`)).result_info.total_count, 1);
    assert.equal(
      (await logs(`&since=${encodeURIComponent(t0)}&device_id=${device.device_id}`)).result_info.total_count,
      3,
    );
    assert.equal((await logs('&device_id=6f1c2b4e-8d3a-4f5b-9c7e-1a2b3c4d5e6f')).result_info.total_count, 0);
    const page1 = await logs('&per_page=2&page=1');
    const page2 = await logs('&per_page=2&page=2');
    assert.equal(page1.result.length, 2);
    assert.equal(page2.result.length, 1);
    assert.ok(page1.result[0].reported_on >= page1.result[1].reported_on, 'newest first');
    assert.equal(page1.result[0].device_name, 'laptop');
    assert.equal(page1.result[0].rule_name, 'short');
    assert.equal((await call('GET', '/api/v1/devices/posture/logs?result=maybe')).statusCode, 400);

    // Deleting the rule keeps its logs.
    await call('DELETE', `/api/v1/devices/posture/${rule.id}`);
    assert.equal((await logs('')).result_info.total_count, 3);
  });

  test('replacing a rule drops its results (judged under the old rule) and tells the edges; logs stay', async () => {
    const rule = (
      await call(
        'POST',
        '/api/v1/devices/posture',
        v2({ name: 'no expiry', expiration: undefined }, { check_private_key: false }),
      )
    ).json().result;
    assert.equal(rule.expiration, null, 'a pass would otherwise count forever');
    const good = await makeLeafCert(dir, 'good3', root, { cn: 'SN-42' });
    const passed = await asDevice('POST', '/api/v1/devices/self/posture', {
      results: [
        { rule_id: rule.id, success: true, reasons: [], certificate: { pem: good.pem, location: AT_PATH } },
      ],
    });
    assert.equal(passed.json().result[0].success, true, passed.body);
    const status = async () =>
      ((await asDevice('GET', '/api/v1/devices/self/posture')).json().result.status as Json[]).find(
        (s) => s.rule_id === rule.id,
      );
    assert.equal((await status())?.success, true);
    const version = await store.postureVersion.current();

    // Now the rule trusts the organization CA only: the pass from the corp CA must not carry over.
    const replaced = await call(
      'PUT',
      `/api/v1/devices/posture/${rule.id}`,
      v2(
        { name: 'no expiry', expiration: undefined },
        { certificate_id: ORG_CA_ID, check_private_key: false },
      ),
    );
    assert.equal(replaced.statusCode, 200, replaced.body);
    assert.equal(await status(), undefined, 'no status until the device reports under the new rule');
    assert.ok((await store.postureVersion.current()) > version, 'edges reload');
    const logs = (await call('GET', `/api/v1/devices/posture/logs?rule_id=${rule.id}`)).json();
    assert.equal(logs.result_info.total_count, 1, 'the history stays');

    // A refused replacement changes nothing, statuses included.
    const again = await asDevice('POST', '/api/v1/devices/self/posture', {
      results: [
        { rule_id: rule.id, success: true, reasons: [], certificate: { pem: good.pem, location: AT_PATH } },
      ],
    });
    assert.equal(again.json().result[0].success, false, 'the corp certificate fails the new rule');
    const bad = await call(
      'PUT',
      `/api/v1/devices/posture/${rule.id}`,
      v2({}, { certificate_id: '6f1c2b4e-8d3a-4f5b-9c7e-1a2b3c4d5e6f' }),
    );
    assert.equal(bad.statusCode, 400);
    assert.equal((await status())?.success, false, 'still the last result');
    await call('DELETE', `/api/v1/devices/posture/${rule.id}`);
  });
});
