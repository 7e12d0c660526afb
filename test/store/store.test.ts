import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type CertificateAuthority, type ClientCertificate, Store } from '../../src/store/index.js';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from '../helpers/postgres.js';

const iso = (ms: number) => new Date(ms).toISOString();
const NOW = Date.parse('2026-06-01T00:00:00Z');

const ca = (id: string, overrides: Partial<CertificateAuthority> = {}): CertificateAuthority => ({
  id,
  source: 'uploaded',
  name: `CA ${id}`,
  certificates_pem: '-----BEGIN CERTIFICATE-----\n…\n-----END CERTIFICATE-----\n',
  subject: `CN=${id}`,
  issuer: `CN=${id}`,
  serial_number: '01',
  fingerprint_sha256: `fp-${id}`,
  ski: null,
  not_before: iso(NOW - 1000),
  not_after: iso(NOW + 86_400_000),
  key_algorithm: null,
  sealed_private_key: null,
  parent_id: null,
  created_at: iso(NOW),
  allow_sha1_signatures: 0,
  allow_rsa_1024: 0,
  ...overrides,
});

const cert = (id: string, caId: string, overrides: Partial<ClientCertificate> = {}): ClientCertificate => ({
  id,
  ca_id: caId,
  serial_number: `serial-${id}`,
  fingerprint_sha256: `fp-${id}`,
  ski: 'ab',
  subject: `CN=${id}`,
  common_name: id,
  certificate_pem: 'pem',
  not_before: iso(NOW - 1000),
  not_after: iso(NOW + 86_400_000),
  status: 'active',
  revoked_at: null,
  revocation_reason: null,
  created_at: iso(NOW),
  ...overrides,
});

/**
 * One suite, run against both dialects: the store must behave the same on SQLite and PostgreSQL.
 */
function storeSuite(
  name: string,
  open: () => Promise<{ url: string; cleanup: () => Promise<void> }>,
  skip: string | false = false,
) {
  describe(`store (${name})`, { skip }, () => {
    let store: Store;
    let location: { url: string; cleanup: () => Promise<void> };

    before(async () => {
      location = await open();
      store = await Store.open({ url: location.url });
    });
    after(async () => {
      await store?.close();
      await location?.cleanup();
    });

    test('migrations are idempotent: reopening applies nothing and keeps data', async () => {
      await store.organizations.insert({
        id: 'org-1',
        name: 'Acme',
        public_url: 'https://x',
        created_at: iso(NOW),
      });
      const again = await Store.open({ url: location.url });
      assert.equal((await again.organizations.first())?.name, 'Acme');
      await again.close();
      assert.equal(store.dialect, name);
    });

    test('a failed transaction leaves no row behind', async () => {
      await assert.rejects(
        store.transaction(async (tx) => {
          await tx.authorities.insert(ca('ca-rollback'));
          await tx.clientCertificates.insert(cert('c-rollback', 'ca-rollback'));
          throw new Error('boom after two inserts');
        }),
        /boom/,
      );
      assert.equal(await store.authorities.get('ca-rollback'), undefined);
      assert.equal(await store.clientCertificates.get('c-rollback'), undefined);
    });

    test('foreign keys refuse an orphan certificate', async () => {
      await assert.rejects(store.clientCertificates.insert(cert('orphan', 'no-such-ca')));
      assert.equal(await store.clientCertificates.get('orphan'), undefined);
    });

    test('issuer+serial is unique', async () => {
      await store.authorities.insert(ca('ca-uniq'));
      await store.clientCertificates.insert(cert('u1', 'ca-uniq', { serial_number: 'dup' }));
      await assert.rejects(store.clientCertificates.insert(cert('u2', 'ca-uniq', { serial_number: 'dup' })));
    });

    test('status filters derive "expired" from not_after and revocation is one-shot', async () => {
      await store.authorities.insert(ca('ca-status'));
      await store.clientCertificates.insert(cert('active-1', 'ca-status'));
      await store.clientCertificates.insert(cert('expired-1', 'ca-status', { not_after: iso(NOW - 1) }));
      await store.clientCertificates.insert(cert('revoke-1', 'ca-status'));
      assert.equal(await store.clientCertificates.markRevoked('revoke-1', iso(NOW), 'keyCompromise'), true);
      assert.equal(await store.clientCertificates.markRevoked('revoke-1', iso(NOW), 'keyCompromise'), false);
      const page = { page: 1, perPage: 100 };
      const ids = async (status: 'active' | 'revoked' | 'expired') =>
        (await store.clientCertificates.list({ status, now: iso(NOW) }, page)).items
          .filter((c) => c.ca_id === 'ca-status')
          .map((c) => c.id)
          .sort();
      assert.deepEqual(await ids('active'), ['active-1']);
      assert.deepEqual(await ids('expired'), ['expired-1']);
      assert.deepEqual(await ids('revoked'), ['revoke-1']);
      const revoked = await store.clientCertificates.revokedBy('ca-status', iso(NOW - 86_400_000));
      assert.deepEqual(revoked, [
        { serial_number: 'serial-revoke-1', revoked_at: iso(NOW), revocation_reason: 'keyCompromise' },
      ]);
      assert.deepEqual(await store.authorities.references('ca-status'), [
        { kind: 'client_certificates', count: 3 },
      ]);
    });

    test('revoked certificates expired long enough ago leave the CRL list and the edge list', async () => {
      await store.authorities.insert(ca('ca-prune'));
      const day = 86_400_000;
      for (const [id, notAfter] of [
        ['gone', NOW - 8 * day],
        ['edge', NOW - 7 * day],
        ['kept', NOW - 6 * day],
        ['valid', NOW + day],
      ] as const) {
        await store.clientCertificates.insert(cert(`prune-${id}`, 'ca-prune', { not_after: iso(notAfter) }));
        await store.clientCertificates.markRevoked(`prune-${id}`, iso(NOW - 9 * day), 'superseded');
      }
      await store.clientCertificates.insert(cert('prune-active', 'ca-prune'));
      const cutoff = iso(NOW - 7 * day);
      const listed = (await store.clientCertificates.revokedBy('ca-prune', cutoff)).map(
        (r) => r.serial_number,
      );
      assert.deepEqual(listed.sort(), ['serial-prune-kept', 'serial-prune-valid']);
      const atEdge = (await store.revokedSerials.all(cutoff))
        .filter((r) => r.ca_id === 'ca-prune')
        .map((r) => r.serial_number);
      assert.deepEqual(atEdge.sort(), ['serial-prune-kept', 'serial-prune-valid']);
    });

    test('pagination reports the total and pages through in a stable order', async () => {
      await store.authorities.insert(ca('ca-page'));
      for (let i = 0; i < 5; i++)
        await store.clientCertificates.insert(cert(`p${i}`, 'ca-page', { created_at: iso(NOW + i) }));
      const first = await store.clientCertificates.list({ now: iso(NOW) }, { page: 1, perPage: 2 });
      const second = await store.clientCertificates.list({ now: iso(NOW) }, { page: 2, perPage: 2 });
      assert.ok(first.total >= 5);
      assert.equal(first.items.length, 2);
      assert.deepEqual(
        first.items.map((c) => c.id),
        ['p4', 'p3'],
      );
      assert.deepEqual(
        second.items.map((c) => c.id),
        ['p2', 'p1'],
      );
    });

    test('CRLs upsert by CA and audit entries list newest first', async () => {
      await store.authorities.insert(ca('ca-crl'));
      const crl = {
        ca_id: 'ca-crl',
        crl_number: 1,
        this_update: iso(NOW),
        next_update: iso(NOW + 1),
        der_base64: 'AA==',
      };
      await store.crls.upsert(crl);
      await store.crls.upsert({ ...crl, crl_number: 2, der_base64: 'AQ==' });
      assert.deepEqual(await store.crls.get('ca-crl'), { ...crl, crl_number: 2, der_base64: 'AQ==' });

      for (const [i, action] of ['a.create', 'a.update', 'a.delete'].entries()) {
        await store.audit.append({
          id: `audit-${name}-${i}`,
          at: iso(NOW + i),
          actor: 'test',
          action,
          resource_type: 'a',
          resource_id: 'res-1',
          before: i === 0 ? null : { x: i - 1 },
          after: i === 2 ? null : { x: i, nested: { list: [i] } },
        });
      }
      const { items, total } = await store.audit.list({ resourceId: 'res-1' }, { page: 1, perPage: 10 });
      assert.equal(total, 3);
      assert.deepEqual(
        items.map((e) => e.action),
        ['a.delete', 'a.update', 'a.create'],
      );
      assert.equal(typeof items[0]?.seq, 'number');
      assert.deepEqual(
        items.map((e) => [e.before, e.after]),
        [
          [{ x: 1 }, null],
          [{ x: 0 }, { x: 1, nested: { list: [1] } }],
          [null, { x: 0, nested: { list: [0] } }],
        ],
        'before/after come back as objects',
      );
    });

    test('access: one app per domain, service-token rotation, signing-key retirement', async () => {
      const app = {
        id: `app-${name}`,
        name: 'Wiki',
        hostname: 'wiki.test',
        path_prefix: '/',
        aud: `aud-${name}`,
        session_duration: '24h',
        policies: [
          { name: 'staff', decision: 'allow', include: [{ email_domain: { domain: 'example.com' } }] },
        ],
        allowed_idps: ['idp-1'],
        created_at: iso(NOW),
        updated_at: iso(NOW),
      };
      await store.accessApps.insert(app);
      await assert.rejects(store.accessApps.insert({ ...app, id: 'other', aud: 'other' }));
      await store.accessApps.update({ ...app, name: 'Wiki 2', aud: 'ignored' });
      assert.deepEqual(await store.accessApps.byDomain('wiki.test', '/'), { ...app, name: 'Wiki 2' });

      await store.serviceTokens.insert({
        id: 'st',
        name: 'ci',
        client_id: 'cid',
        secret_hash: 'h1',
        expires_at: null,
        created_at: iso(NOW),
        rotated_at: null,
      });
      assert.equal(await store.serviceTokens.rotate('st', 'h2', iso(NOW + 1)), 1);
      assert.equal((await store.serviceTokens.get('st'))?.secret_hash, 'h2');

      const key = (kid: string) => ({
        kid,
        algorithm: 'ES256',
        public_jwk: { kty: 'EC' as const, crv: 'P-256' as const, x: `x-${kid}`, y: `y-${kid}` },
        sealed_private_jwk: 'x',
        active: 1,
        created_at: iso(NOW),
        retire_after: null,
      });
      await store.signingKeys.insert(key('k1'));
      await store.signingKeys.deactivateAll(iso(NOW + 10));
      await store.signingKeys.insert(key('k2'));
      assert.deepEqual(
        (await store.signingKeys.all()).map((k) => [k.kid, k.active, k.retire_after]),
        [
          ['k1', 0, iso(NOW + 10)],
          ['k2', 1, null],
        ],
      );
      assert.deepEqual(
        (await store.signingKeys.all()).map((k) => k.public_jwk),
        [key('k1').public_jwk, key('k2').public_jwk],
        'the public JWK comes back as an object',
      );
      await store.signingKeys.deleteRetired(iso(NOW + 11));
      assert.deepEqual(
        (await store.signingKeys.all()).map((k) => k.kid),
        ['k2'],
      );
    });

    test('hostnames: client_auth comes back as an object, the CA ids apart', async () => {
      await store.authorities.insert(ca('ca-host'));
      const clientAuth = {
        mode: 'enforce',
        forward: { styles: ['gatehouse', 'xfcc'], custom: [{ header: 'x-cn', field: 'subject.CN' }] },
        block_response: { json: { error: 'no' }, html: '<p>no</p>' },
        required_policies: ['2.16.840.1.101.3.2.1.3.13'],
      };
      const hostname = {
        id: `host-${name}`,
        hostname: 'app.test',
        origin: 'http://127.0.0.1:9',
        tls_source: 'org' as const,
        certificate_pem: 'pem',
        chain_pem: '',
        sealed_private_key: 'sealed',
        client_auth: clientAuth,
        created_at: iso(NOW),
        updated_at: iso(NOW),
      };
      await store.hostnames.insert(hostname, ['ca-host']);
      assert.deepEqual(await store.hostnames.get(hostname.id), hostname);
      assert.deepEqual(await store.hostnames.caIds([hostname.id]), new Map([[hostname.id, ['ca-host']]]));
      const changed = { ...clientAuth, mode: 'report', block_response: {} };
      await store.hostnames.update({ ...hostname, client_auth: changed, created_at: 'ignored' }, []);
      assert.deepEqual((await store.hostnames.byName('app.test'))?.client_auth, changed);
      assert.deepEqual(
        (await store.hostnames.all()).map((h) => h.client_auth),
        [changed],
      );
      assert.deepEqual((await store.hostnames.list({ page: 1, perPage: 10 })).items, [
        { ...hostname, client_auth: changed },
      ]);
      assert.equal(await store.hostnames.delete(hostname.id), 1);
    });

    test('deleting a CA removes only that CA; tokens look up by hash', async () => {
      await store.authorities.insert(ca('ca-del'));
      assert.equal(await store.authorities.delete('ca-del'), 1);
      assert.equal(await store.authorities.delete('ca-del'), 0);
      await store.apiTokens.insert({
        id: 't1',
        name: 'admin',
        token_hash: 'h1',
        role: 'admin',
        created_at: iso(NOW),
        last_used_at: null,
      });
      await store.apiTokens.touch('t1', iso(NOW + 5));
      assert.equal((await store.apiTokens.byHash('h1'))?.last_used_at, iso(NOW + 5));
      assert.equal(await store.apiTokens.byHash('nope'), undefined);
    });

    test('device logins: codes unique by hash, decided once while unexpired, deleted conditionally', async () => {
      const login = (id: string, over: Record<string, unknown> = {}) => ({
        id,
        device_code_hash: `dc-${id}`,
        user_code_hash: `uc-${id}`,
        request: { name: 'x', key_protection: 'software' },
        status: 'pending' as const,
        interval_s: 5,
        last_polled_at: null,
        identity: null,
        created_at: iso(NOW),
        expires_at: iso(NOW + 600_000),
        ...over,
      });
      await store.deviceLogins.insert(login('dl-1'));
      await assert.rejects(store.deviceLogins.insert(login('dl-2', { user_code_hash: 'uc-dl-1' })));
      await assert.rejects(store.deviceLogins.insert(login('dl-3', { device_code_hash: 'dc-dl-1' })));
      assert.equal((await store.deviceLogins.byDeviceCodeHash('dc-dl-1'))?.id, 'dl-1');
      assert.equal((await store.deviceLogins.byUserCodeHash('uc-dl-1'))?.id, 'dl-1');

      await store.deviceLogins.polled('dl-1', iso(NOW + 1), 10);
      assert.equal((await store.deviceLogins.get('dl-1'))?.interval_s, 10);
      assert.equal(
        await store.deviceLogins.decide(
          'dl-1',
          'approved',
          { issuer: 'i', subject: 's', email: 'a@x' },
          iso(NOW + 600_000),
        ),
        false,
        'expired',
      );
      assert.equal(
        await store.deviceLogins.decide(
          'dl-1',
          'approved',
          { issuer: 'i', subject: 's', email: 'a@x' },
          iso(NOW + 2),
        ),
        true,
      );
      assert.equal(
        await store.deviceLogins.decide('dl-1', 'denied', null, iso(NOW + 3)),
        false,
        'decided once',
      );
      assert.deepEqual((await store.deviceLogins.get('dl-1'))?.identity, {
        issuer: 'i',
        subject: 's',
        email: 'a@x',
      });
      assert.equal(await store.deviceLogins.delete('dl-1', 'pending'), false);
      assert.equal(await store.deviceLogins.delete('dl-1', 'approved'), true);
      assert.equal(await store.deviceLogins.delete('dl-1', 'approved'), false, 'used once');

      await store.deviceLogins.insert(login('dl-4', { expires_at: iso(NOW - 1) }));
      await store.deviceLogins.insert(login('dl-5'));
      assert.equal(await store.deviceLogins.deleteExpired(iso(NOW)), 1);
      assert.equal(await store.deviceLogins.get('dl-4'), undefined);
      assert.ok(await store.deviceLogins.get('dl-5'));
    });

    test('posture: rules reference their CA, results log and keep one status, nonces are single use', async () => {
      await store.authorities.insert(ca('ca-posture'));
      const rule = {
        id: 'rule-1',
        name: 'corp cert',
        type: 'client_certificate_v2' as const,
        description: '',
        schedule: '5m',
        expiration: '1h',
        match: [{ platform: 'linux' }],
        input: { certificate_id: 'ca-posture', cn: '${serial_number}' },
        certificate_id: 'ca-posture',
        created_at: iso(NOW),
        updated_at: iso(NOW),
      };
      await assert.rejects(
        store.postureRules.insert({ ...rule, id: 'orphan', certificate_id: 'no-such-ca' }),
      );
      await store.postureRules.insert(rule);
      assert.deepEqual(await store.authorities.references('ca-posture'), [
        { kind: 'posture_rules', count: 1 },
      ]);
      await store.postureRules.update({ ...rule, name: 'renamed', created_at: 'ignored' });
      assert.equal((await store.postureRules.get('rule-1'))?.name, 'renamed');
      assert.equal((await store.postureRules.get('rule-1'))?.created_at, iso(NOW));
      assert.deepEqual(
        (await store.postureRules.all()).map((r) => [r.match, r.input]),
        [[rule.match, rule.input]],
        'match and input come back as values',
      );

      await store.devices.insert({
        id: 'dev-1',
        name: 'laptop',
        serial_number: 'SN1',
        hostname: null,
        os: 'linux',
        os_version: null,
        model: null,
        created_at: iso(NOW),
        last_seen_at: null,
      });
      // Posture counts only while the registration's certificate is good.
      await store.authorities.insert(ca('ca-devices'));
      await store.clientCertificates.insert(cert('cert-reg-1', 'ca-devices'));
      await store.registrations.insert({
        id: 'reg-1',
        device_id: 'dev-1',
        mode: 'hardware_backed',
        key_protection: 'tpm2',
        token_hash: 'th-posture',
        certificate_id: 'cert-reg-1',
        certificate_fingerprint: 'fp-reg-1',
        public_key_sha256: null,
        enrolled_by: 'test',
        enrolled_identity: null,
        status: 'active',
        created_at: iso(NOW),
        last_seen_at: null,
        ended_at: null,
      });
      const result = (id: string, at: number, success: number, expires: number | null) => ({
        id,
        device_id: 'dev-1',
        device_name: 'laptop',
        registration_id: 'reg-1',
        rule_id: 'rule-1',
        rule_name: 'renamed',
        success,
        reasons: success ? [] : ['not_found'],
        certificate: success
          ? { subject: 'CN=laptop', serial_number: '01', fingerprint_sha256: 'fp-leaf', not_after: iso(NOW) }
          : null,
        key_proved: 0,
        reported_at: iso(at),
        expires_at: expires === null ? null : iso(expires),
      });
      const v0 = await store.postureVersion.current();
      await store.transaction(async (tx) => {
        await tx.postureResults.record(result('r1', NOW, 1, NOW + 3_600_000));
        await tx.postureVersion.bump();
      });
      assert.equal(await store.postureVersion.current(), v0 + 1);
      assert.deepEqual(await store.postureResults.passing(iso(NOW + 10)), [
        { certificate_fingerprint: 'fp-reg-1', rule_id: 'rule-1', expires_at: iso(NOW + 3_600_000) },
      ]);
      assert.deepEqual(await store.postureResults.passing(iso(NOW + 3_600_000)), [], 'expired');
      await store.postureResults.record(result('r2', NOW + 1000, 0, null));
      assert.deepEqual(await store.postureResults.passing(iso(NOW + 2000)), [], 'the latest result failed');
      await store.postureResults.record(result('r3', NOW + 2000, 1, null));
      assert.equal((await store.postureResults.passing(iso(NOW + 10 ** 12))).length, 1, 'no expiration');
      assert.equal(
        (await store.postureResults.statusFor('dev-1')).length,
        1,
        'one status per device and rule',
      );

      const logs = await store.postureResults.list({ ruleId: 'rule-1' }, { page: 1, perPage: 10 });
      assert.deepEqual(
        logs.items.map((r) => r.id),
        ['r3', 'r2', 'r1'],
      );
      assert.deepEqual(
        logs.items.map((r) => [r.reasons, r.certificate?.fingerprint_sha256 ?? null]),
        [
          [[], 'fp-leaf'],
          [['not_found'], null],
          [[], 'fp-leaf'],
        ],
        'reasons and the certificate come back as values',
      );
      assert.equal((await store.postureResults.list({ success: false }, { page: 1, perPage: 10 })).total, 1);
      assert.equal(
        (
          await store.postureResults.list(
            { from: iso(NOW + 1000), to: iso(NOW + 2000) },
            { page: 1, perPage: 10 },
          )
        ).total,
        1,
      );
      assert.equal(
        (await store.postureResults.list({ deviceId: 'other' }, { page: 1, perPage: 10 })).total,
        0,
      );

      await store.registrations.end('reg-1', 'revoked', iso(NOW + 3000));
      assert.deepEqual(
        await store.postureResults.passing(iso(NOW + 4000)),
        [],
        'ended registrations do not pass',
      );

      // Migration 0008: one device per serial number, one active registration per device.
      const device2 = {
        id: 'dev-2',
        name: 'copy',
        serial_number: 'SN1',
        hostname: null,
        os: null,
        os_version: null,
        model: null,
        created_at: iso(NOW),
        last_seen_at: null,
      };
      await assert.rejects(store.devices.insert(device2));
      await store.devices.insert({ ...device2, serial_number: null });
      await store.devices.insert({ ...device2, id: 'dev-3', serial_number: null });
      const active = {
        id: 'reg-2',
        device_id: 'dev-1',
        mode: 'standard' as const,
        key_protection: 'software' as const,
        token_hash: 'th-2',
        certificate_id: null,
        certificate_fingerprint: null,
        public_key_sha256: null,
        enrolled_by: 'test',
        enrolled_identity: null,
        status: 'active' as const,
        created_at: iso(NOW),
        last_seen_at: null,
        ended_at: null,
      };
      await store.registrations.insert(active);
      await assert.rejects(store.registrations.insert({ ...active, id: 'reg-3', token_hash: 'th-3' }));
      await store.registrations.insert({ ...active, id: 'reg-4', token_hash: 'th-4', status: 'replaced' });

      await store.postureNonces.insert('n1', 'reg-1', iso(NOW + 60_000));
      await store.postureNonces.insert('n2', 'reg-1', iso(NOW + 60_000));
      assert.equal(
        await store.postureNonces.consume('n1', 'reg-other', iso(NOW)),
        false,
        'another registration',
      );
      assert.equal(await store.postureNonces.consume('n1', 'reg-1', iso(NOW)), true);
      assert.equal(await store.postureNonces.consume('n1', 'reg-1', iso(NOW)), false, 'single use');
      assert.equal(await store.postureNonces.consume('n2', 'reg-1', iso(NOW + 60_000)), false, 'expired');

      assert.equal(await store.postureRules.delete('rule-1'), 1);
      assert.equal((await store.postureResults.statusFor('dev-1')).length, 0);
      assert.equal((await store.postureResults.list({}, { page: 1, perPage: 10 })).total, 3, 'logs stay');
      assert.deepEqual(await store.authorities.references('ca-posture'), []);
    });
  });
}

storeSuite('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-store-'));
  return { url: join(dir, 'test.db'), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
});

storeSuite(
  'postgres',
  async () => {
    const db: TestDatabase = await createTestDatabase();
    return { url: db.url, cleanup: () => db.drop() };
  },
  postgresSkipReason(),
);
