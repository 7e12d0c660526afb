// A reload reuses what did not change (TLS contexts, parsed CA chains), and only that: every
// change that matters to a hostname's handshake or trust must rebuild it.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, test } from 'node:test';
import { createServices } from '../../src/api/services.js';
import { ORG_CA_ID } from '../../src/authority/index.js';
import { loadSnapshot } from '../../src/edge/loader.js';
import type { EdgeSnapshot, HostRuntime } from '../../src/edge/snapshot.js';
import { createRootCa } from '../../src/pki/index.js';
import { openTestApi, type TestApi } from '../helpers/api.js';

describe('snapshot reload reuses unchanged parts', () => {
  let api: TestApi;
  let hostnames: ReturnType<typeof createServices>['hostnames'];
  let previous: EdgeSnapshot;
  const ids: Record<string, string> = {};
  const input = (
    hostname: string,
    mode: 'report' | 'enforce' | 'off',
    cas: string[],
    origin = 'http://127.0.0.1:9',
  ) => ({
    hostname,
    origin,
    client_auth: { mode, mtls_certificate_ids: cas },
  });
  const host = (s: EdgeSnapshot, name: string): HostRuntime => {
    const h = s.hosts.get(name);
    assert.ok(h, `${name} is in the snapshot`);
    return h;
  };
  /** Loads the next snapshot from the previous one, and checks it means what a fresh one means. */
  const reload = async (): Promise<EdgeSnapshot> => {
    const next = await loadSnapshot(api.store, api.authority, previous);
    const fresh = await loadSnapshot(api.store, api.authority);
    assert.deepEqual([...next.hosts.keys()].sort(), [...fresh.hosts.keys()].sort());
    for (const [name, h] of fresh.hosts) {
      const n = host(next, name);
      assert.equal(n.origin.href, h.origin.href);
      assert.equal(n.mode, h.mode);
      assert.deepEqual(
        n.anchors.map((a) => a.fingerprint),
        h.anchors.map((a) => a.fingerprint),
      );
      assert.equal(n.anchorsSelfSigned, h.anchorsSelfSigned);
    }
    assert.deepEqual([...next.revoked].sort(), [...fresh.revoked].sort());
    previous = next;
    return next;
  };

  before(async () => {
    api = await openTestApi();
    hostnames = createServices(api.authority).hostnames;
    ids.a = (await hostnames.create(input('a.reuse.test', 'enforce', [ORG_CA_ID]), 'test')).row.id;
    ids.b = (await hostnames.create(input('b.reuse.test', 'report', [ORG_CA_ID]), 'test')).row.id;
    previous = await loadSnapshot(api.store, api.authority);
  });
  after(() => api?.close());

  test('a change to one hostname rebuilds that one only; the origin alone needs no new TLS context', async () => {
    const before = previous;
    await hostnames.update(
      ids.b!,
      input('b.reuse.test', 'report', [ORG_CA_ID], 'http://127.0.0.1:10'),
      'test',
    );
    const next = await reload();
    assert.equal(host(next, 'a.reuse.test').secureContext, host(before, 'a.reuse.test').secureContext);
    assert.equal(host(next, 'b.reuse.test').secureContext, host(before, 'b.reuse.test').secureContext);
    assert.equal(host(next, 'b.reuse.test').origin.port, '10');
    // Each snapshot has its own HostRuntime objects (per-host caches start afresh).
    assert.notEqual(host(next, 'a.reuse.test'), host(before, 'a.reuse.test'));

    await hostnames.update(ids.b!, input('b.reuse.test', 'off', []), 'test');
    const off = await reload();
    assert.notEqual(host(off, 'b.reuse.test').secureContext, host(next, 'b.reuse.test').secureContext);
    assert.equal(host(off, 'a.reuse.test').secureContext, host(next, 'a.reuse.test').secureContext);
  });

  test('trusting another CA rebuilds the context; a revocation rebuilds none and is enforced', async () => {
    const root = await createRootCa({ commonName: 'Reuse Root', organization: 'R', algorithm: 'ecdsa-p256' });
    const ca = await api.authority.uploadCa({ name: 'reuse', certificatesPem: root.certificatePem }, 'test');
    const uploaded = await reload();
    await hostnames.update(ids.a!, input('a.reuse.test', 'enforce', [ORG_CA_ID, ca.id]), 'test');
    const trusting = await reload();
    assert.notEqual(
      host(trusting, 'a.reuse.test').secureContext,
      host(uploaded, 'a.reuse.test').secureContext,
    );
    assert.equal(host(trusting, 'a.reuse.test').anchors.length, 2);
    // The org CA's parsed chain is the same object across reloads.
    assert.equal(host(trusting, 'a.reuse.test').anchors[0], host(uploaded, 'a.reuse.test').anchors[0]);

    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const cert = await api.authority.issueFromPublicKey(
      { publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(), validityDays: 1 },
      'test',
    );
    await api.authority.revokeClientCertificate(cert.id, 'keyCompromise', 'test');
    const revoked = await reload();
    assert.equal(host(revoked, 'a.reuse.test').secureContext, host(trusting, 'a.reuse.test').secureContext);
    assert.ok(
      [...revoked.revoked].some((k) => k.endsWith(`|${cert.serial_number}`)),
      'the new revocation is in the reused snapshot',
    );
  });

  test('a new server certificate for the hostname rebuilds its context', async () => {
    const before = previous;
    const row = await api.store.hostnames.get(ids.a!);
    assert.ok(row);
    const caIds = (await api.store.hostnames.caIds()).get(row.id) ?? [];
    const tls = await api.authority.issueServerCertificate('a.reuse.test');
    await api.store.hostnames.update(
      {
        ...row,
        certificate_pem: tls.certificatePem,
        chain_pem: tls.chainPem,
        sealed_private_key: api.authority.sealKey(tls.privateKeyPem, row.id),
      },
      caIds,
    );
    await api.store.configVersion.bump();
    const next = await reload();
    assert.notEqual(host(next, 'a.reuse.test').secureContext, host(before, 'a.reuse.test').secureContext);
  });

  test('an access app whose stored policies are damaged fails closed alone; the snapshot still loads', async () => {
    const access = createServices(api.authority).access;
    const policies = [{ name: 'devices', decision: 'non_identity', include: [{ certificate: {} }] }];
    const good = await access.createApp({ name: 'Good', domain: 'a.reuse.test', policies }, 'test');
    const damaged = await access.createApp({ name: 'Damaged', domain: 'b.reuse.test', policies }, 'test');
    const db = new DatabaseSync(join(api.dir, 'api.db'));
    db.prepare('UPDATE access_apps SET policies = ? WHERE id = ?').run('[{"name":"p",', damaged.id);
    db.close();
    await api.store.configVersion.bump();
    const next = await reload();
    assert.ok(next.access.apps.select('a.reuse.test', '/')?.policies, 'the other app is compiled');
    const app = next.access.apps.select('b.reuse.test', '/');
    assert.ok(app, 'the damaged app is still known (so its hostname is not left open)');
    assert.equal(app.policies, undefined, 'and has no policies: decideAccess denies');
    assert.ok(good.id);
  });
});
