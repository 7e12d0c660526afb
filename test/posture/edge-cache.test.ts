// The edge's posture cache on a real SQLite store: passing results keyed by the registration
// certificate, reloaded when the posture version moves (and only then), expiry judged per lookup.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PostureCache } from '../../src/edge/posture-cache.js';
import { createLogger } from '../../src/observability/index.js';
import { Store } from '../../src/store/index.js';

describe('edge posture cache', () => {
  let dir: string;
  let store: Store;
  let cache: PostureCache;
  const now = Date.now();
  const iso = (ms: number) => new Date(ms).toISOString();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-posture-cache-'));
    store = await Store.open({ url: join(dir, 'cache.db') });
    await store.authorities.insert({
      id: 'ca',
      source: 'uploaded',
      name: 'ca',
      certificates_pem: 'pem',
      subject: 'CN=ca',
      issuer: 'CN=ca',
      serial_number: '01',
      fingerprint_sha256: 'fp-ca',
      ski: null,
      not_before: iso(now - 1000),
      not_after: iso(now + 86_400_000),
      key_algorithm: null,
      sealed_private_key: null,
      parent_id: null,
      created_at: iso(now),
    });
    for (const id of ['rule-a', 'rule-b'])
      await store.postureRules.insert({
        id,
        name: id,
        type: 'client_certificate',
        description: '',
        schedule: '5m',
        expiration: null,
        match: [],
        input: {},
        certificate_id: 'ca',
        created_at: iso(now),
        updated_at: iso(now),
      });
    await store.devices.insert({
      id: 'dev',
      name: 'dev',
      serial_number: null,
      hostname: null,
      os: 'linux',
      os_version: null,
      model: null,
      created_at: iso(now),
      last_seen_at: null,
    });
    await store.clientCertificates.insert({
      id: 'cert',
      ca_id: 'ca',
      serial_number: '02',
      fingerprint_sha256: 'cert-sha256',
      ski: 'ski',
      subject: 'CN=dev',
      common_name: 'dev',
      certificate_pem: 'pem',
      not_before: iso(now - 1000),
      not_after: iso(now + 86_400_000),
      status: 'active',
      revoked_at: null,
      revocation_reason: null,
      created_at: iso(now),
    });
    await store.registrations.insert({
      id: 'reg',
      device_id: 'dev',
      mode: 'hardware_backed',
      key_protection: 'software',
      token_hash: 'h',
      certificate_id: 'cert',
      certificate_fingerprint: 'cert-sha256',
      public_key_sha256: null,
      enrolled_by: 'test',
      enrolled_identity: null,
      status: 'active',
      created_at: iso(now),
      last_seen_at: null,
      ended_at: null,
    });
    cache = await PostureCache.start(store, createLogger({ name: 'test', level: 'silent' }), 60_000);
  });
  after(async () => {
    cache?.stop();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const report = async (
    id: string,
    rule: string,
    success: boolean,
    expiresAt: number | null,
    bump = true,
  ) => {
    await store.postureResults.record({
      id,
      device_id: 'dev',
      device_name: 'dev',
      registration_id: 'reg',
      rule_id: rule,
      rule_name: rule,
      success: success ? 1 : 0,
      reasons: [],
      certificate: null,
      key_proved: 0,
      reported_at: iso(Date.now()),
      expires_at: expiresAt === null ? null : iso(expiresAt),
    });
    if (bump) await store.postureVersion.bump();
  };

  test('results reach the cache when the version moves, and only then', async () => {
    assert.equal(cache.passing('cert-sha256', Date.now()).size, 0);
    await report('r1', 'rule-a', true, null, false);
    await cache.check();
    assert.equal(cache.passing('cert-sha256', Date.now()).size, 0, 'no version bump, no reload');
    await store.postureVersion.bump();
    await cache.check();
    assert.deepEqual([...cache.passing('cert-sha256', Date.now())], ['rule-a']);
    assert.equal(cache.passing('another-certificate', Date.now()).size, 0);
  });

  test('expiry is judged per lookup; a failing result replaces a pass', async () => {
    const expires = Date.now() + 60_000;
    await report('r2', 'rule-b', true, expires);
    await cache.check();
    assert.deepEqual([...cache.passing('cert-sha256', expires - 1)].sort(), ['rule-a', 'rule-b']);
    assert.deepEqual([...cache.passing('cert-sha256', expires)], ['rule-a'], 'lapsed without a reload');
    await report('r3', 'rule-a', false, null);
    await cache.check();
    assert.deepEqual([...cache.passing('cert-sha256', Date.now())], ['rule-b']);
  });

  test("a revoked registration certificate's results stop counting, the registration still active", async () => {
    // The revocation alone (before the registration is ended): the certificate decides.
    assert.deepEqual([...cache.passing('cert-sha256', Date.now())], ['rule-b']);
    assert.ok(await store.clientCertificates.markRevoked('cert', iso(Date.now()), 'keyCompromise'));
    await store.postureVersion.bump();
    await cache.check();
    assert.equal(cache.passing('cert-sha256', Date.now()).size, 0);
    // A good certificate again (as a renewal would set it): the results count again.
    await store.clientCertificates.insert({
      ...(await store.clientCertificates.get('cert'))!,
      id: 'cert2',
      serial_number: '03',
      fingerprint_sha256: 'cert2-row',
      status: 'active',
      revoked_at: null,
      revocation_reason: null,
    });
    await store.registrations.setCertificate('reg', 'cert2', 'cert-sha256');
    await store.postureVersion.bump();
    await cache.check();
    assert.deepEqual([...cache.passing('cert-sha256', Date.now())], ['rule-b']);
  });

  test('an ended registration has no posture', async () => {
    await store.registrations.end('reg', 'revoked', iso(Date.now()));
    await store.postureVersion.bump();
    await cache.check();
    assert.equal(cache.passing('cert-sha256', Date.now()).size, 0);
  });
});
