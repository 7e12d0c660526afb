// Several nodes on one database, in one process: each "node" is its own Store (own pool, own
// connections) and Authority, so PostgreSQL sees the same concurrency as from separate hosts.
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildApi, createServices } from '../../src/api/index.js';
import { Authority, initializeOrganization, ORG_CA_ID } from '../../src/authority/index.js';
import { createMetrics } from '../../src/observability/index.js';
import { x509 } from '../../src/pki/x509.js';
import { classifyDatabaseError, Store } from '../../src/store/index.js';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from '../helpers/postgres.js';

const publicKeyPem = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  .publicKey.export({ type: 'spki', format: 'pem' })
  .toString();

const crlSerials = (der: Buffer) =>
  new Set(new x509.X509Crl(der).entries.map((e) => e.serialNumber.toLowerCase().replace(/^0+/, '')));
const bare = (serial: string) => serial.toLowerCase().replace(/^0+/, '');

/**
 * `separateStores`: each node has its own Store (PostgreSQL: own pool). SQLite's model is one
 * writer process per file (a second `serve` is refused), so there the nodes share one Store.
 */
function clusterSuite(
  name: string,
  open: () => Promise<{ url: string; cleanup: () => Promise<void> }>,
  skip: string | false,
  separateStores: boolean,
) {
  describe(`several nodes on one database (${name})`, { skip }, () => {
    const masterKey = randomBytes(32);
    let nodes: Authority[] = [];
    let location: { url: string; cleanup: () => Promise<void> };
    let token: string;

    before(async () => {
      location = await open();
      const first = await Store.open({ url: location.url });
      const init = await initializeOrganization({
        store: first,
        masterKey,
        orgName: `Cluster ${name}`,
        algorithm: 'ecdsa-p256',
        sans: [],
        publicUrl: 'https://gatehouse.test',
      });
      token = init.adminToken;
      const stores = separateStores
        ? [first, await Store.open({ url: location.url }), await Store.open({ url: location.url })]
        : [first, first, first];
      nodes = await Promise.all(stores.map((s) => Authority.load(s, masterKey)));
    });
    after(async () => {
      await Promise.all([...new Set(nodes.map((n) => n.store))].map((s) => s.close()));
      await location.cleanup();
    });

    test('parallel revocations on every node: each CRL lists all of them, numbers never repeat', async () => {
      const certs = [];
      for (let i = 0; i < 30; i++)
        certs.push(await nodes[0]!.issueFromPublicKey({ publicKeyPem, validityDays: 30 }, 'test'));
      const before = (await nodes[0]!.crl(ORG_CA_ID)).crlNumber;
      await Promise.all(
        certs.map((c, i) => nodes[i % nodes.length]!.revokeClientCertificate(c.id, 'keyCompromise', 'test')),
      );
      for (const node of nodes) {
        const crl = await node.crl(ORG_CA_ID);
        const listed = crlSerials(crl.der);
        const missing: typeof certs = certs.filter((c) => !listed.has(bare(c.serial_number)));
        assert.deepEqual(
          missing.map((c) => c.serial_number),
          [],
          'every revoked serial is on the CRL',
        );
        // One new number per revocation: none was reused by a concurrent publisher.
        assert.equal(crl.crlNumber, before + certs.length);
      }
    });

    test('a stale CRL fetched on every node at once is re-signed once', async () => {
      const before = (await nodes[0]!.crl(ORG_CA_ID)).crlNumber;
      // Every node's clock is 5 days ahead: the 7-day CRL is past half its validity everywhere.
      const later = new Date(Date.now() + 5 * 86_400_000);
      const ahead = await Promise.all(nodes.map((n) => Authority.load(n.store, masterKey, () => later)));
      const fetched = await Promise.all(ahead.flatMap((n) => [n.crl(ORG_CA_ID), n.crl(ORG_CA_ID)]));
      assert.deepEqual(new Set(fetched.map((c) => c.crlNumber)), new Set([before + 1]));
      assert.equal(
        new Set(fetched.map((c) => c.der.toString('base64'))).size,
        1,
        'one CRL, not several with one number',
      );
    });

    test('the first signing key made by several nodes at once: exactly one active key', async () => {
      const services = nodes.map((n) => createServices(n).access);
      await Promise.all(
        services.map((s, i) =>
          s.createApp(
            {
              name: `app ${i}`,
              domain: `app${i}.example.test`,
              session_duration: '1h',
              policies: [{ name: 'all', decision: 'non_identity', include: [{ certificate: {} }] }],
            },
            'test',
          ),
        ),
      );
      const keys = await nodes[0]!.store.signingKeys.all();
      assert.equal(keys.filter((k) => k.active === 1).length, 1, JSON.stringify(keys.map((k) => k.kid)));
    });

    test('two nodes creating one hostname: one 201, one 409 hostname_exists', async () => {
      const apps = await Promise.all(
        nodes.slice(0, 2).map((n) => buildApi({ authority: n, metrics: createMetrics() })),
      );
      try {
        for (let round = 0; round < 3; round++) {
          const responses = await Promise.all(
            apps.map((app) =>
              app.inject({
                method: 'POST',
                url: '/api/v1/hostnames',
                headers: { authorization: `Bearer ${token}` },
                payload: {
                  hostname: `race${round}.example.test`,
                  origin: 'http://127.0.0.1:9',
                  client_auth: { mode: 'report', mtls_certificate_ids: [ORG_CA_ID] },
                },
              }),
            ),
          );
          assert.deepEqual(
            responses.map((r) => r.statusCode).sort(),
            [201, 409],
            responses.map((r) => r.body).join('\n'),
          );
          const refused = responses.find((r) => r.statusCode === 409)!;
          assert.equal(refused.json().errors[0].code, 'hostname_exists');
        }
      } finally {
        await Promise.all(apps.map((a) => a.close()));
      }
    });

    test('leases: one holder at a time, taken over once lapsed, released on request', async () => {
      const [a, b] = [nodes[0]!.store, nodes[1]!.store];
      const t0 = Date.now();
      const iso = (ms: number) => new Date(t0 + ms).toISOString();
      const claims = await Promise.all([
        a.leases.claim('jobs', 'node-a', iso(0), iso(30_000)),
        b.leases.claim('jobs', 'node-b', iso(0), iso(30_000)),
      ]);
      assert.equal(claims.filter(Boolean).length, 1, 'exactly one node holds the lease');
      const [holder, other] = claims[0] ? [a, b] : [b, a];
      const [holderName, otherName] = claims[0] ? ['node-a', 'node-b'] : ['node-b', 'node-a'];
      assert.equal(await other.leases.claim('jobs', otherName, iso(10_000), iso(40_000)), false);
      assert.equal(await holder.leases.claim('jobs', holderName, iso(10_000), iso(40_000)), true, 'renewal');
      // The holder died: once its lease lapsed the other takes over, and the old holder cannot renew.
      assert.equal(await other.leases.claim('jobs', otherName, iso(41_000), iso(71_000)), true);
      assert.equal(await holder.leases.claim('jobs', holderName, iso(42_000), iso(72_000)), false);
      await other.leases.release('jobs', otherName);
      assert.equal(await holder.leases.claim('jobs', holderName, iso(43_000), iso(73_000)), true);
    });
  });
}

clusterSuite(
  'PostgreSQL',
  async () => {
    const db: TestDatabase = await createTestDatabase();
    return { url: db.url, cleanup: () => db.drop() };
  },
  postgresSkipReason(),
  true,
);

clusterSuite(
  'SQLite',
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-concurrency-'));
    return {
      url: join(dir, 'gatehouse.db'),
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  },
  false,
  false,
);

describe('classifyDatabaseError', () => {
  test('unique violations and outages of every driver, nothing else', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-classify-'));
    const store = await Store.open({ url: join(dir, 'x.db') });
    try {
      // A real SQLite unique violation.
      const err = await store
        .transaction(async (tx) => {
          const org = { id: 'o', name: 'o', public_url: 'https://x', created_at: '' };
          await tx.organizations.insert(org);
          await tx.organizations.insert(org);
        })
        .then(
          () => null,
          (e: unknown) => e,
        );
      assert.equal(classifyDatabaseError(err), 'unique_violation');
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
    assert.equal(classifyDatabaseError({ code: '23505' }), 'unique_violation');
    assert.equal(classifyDatabaseError({ code: 'ERR_SQLITE_ERROR', errcode: 2067 }), 'unique_violation');
    assert.equal(classifyDatabaseError({ code: 'SQLITE_BUSY' }), 'unavailable');
    assert.equal(classifyDatabaseError({ code: '57P01' }), 'unavailable');
    assert.equal(
      classifyDatabaseError(new AggregateError([Object.assign(new Error('x'), { code: 'ECONNREFUSED' })])),
      'unavailable',
    );
    assert.equal(classifyDatabaseError(new Error('Connection terminated unexpectedly')), 'unavailable');
    assert.equal(
      classifyDatabaseError({ code: '23503' }),
      null,
      'a foreign-key violation is a bug, not a clash',
    );
    assert.equal(classifyDatabaseError(new Error('boom')), null);
    assert.equal(classifyDatabaseError({ code: 'not_found' }), null);
  });
});
