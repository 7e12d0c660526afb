// recordChange: the one way a service records a change (version bump + audit entry, in its transaction).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { recordChange } from '../../src/authority/index.js';
import { Store } from '../../src/store/index.js';

const AT = new Date('2026-06-01T00:00:00Z');

describe('recordChange', () => {
  let dir: string;
  let store: Store;
  const versions = async () => ({
    config: await store.configVersion.current(),
    posture: await store.postureVersion.current(),
  });
  const last = async () => (await store.audit.list({}, { page: 1, perPage: 1 })).items[0];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-record-change-'));
    store = await Store.open({ url: join(dir, 'gatehouse.db') });
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('reload: config bumps the config version only, and audits', async () => {
    const start = await versions();
    await store.transaction((tx) =>
      recordChange(
        tx,
        {
          actor: 'cli:test',
          action: 'access_app.create',
          resourceId: 'a1',
          before: null,
          after: { name: 'x' },
          reload: 'config',
        },
        AT,
      ),
    );
    assert.deepEqual(await versions(), { config: start.config + 1, posture: start.posture });
    const entry = await last();
    assert.equal(entry?.action, 'access_app.create');
    assert.equal(entry?.resource_type, 'access_app', 'defaults to the action up to its last dot');
    assert.equal(entry?.resource_id, 'a1');
    assert.equal(entry?.actor, 'cli:test');
    assert.equal(entry?.at, AT.toISOString());
    assert.equal(entry?.before, null);
    assert.deepEqual(entry?.after, { name: 'x' });
  });

  test('reload: posture bumps the posture version only', async () => {
    const start = await versions();
    await store.transaction((tx) =>
      recordChange(
        tx,
        {
          actor: 'a',
          action: 'posture_rule.delete',
          resourceId: 'r',
          before: { n: 1 },
          after: null,
          reload: 'posture',
        },
        AT,
      ),
    );
    assert.deepEqual(await versions(), { config: start.config, posture: start.posture + 1 });
  });

  test('without reload the change is only audited; an explicit resource type wins', async () => {
    const start = await versions();
    await store.transaction((tx) =>
      recordChange(
        tx,
        {
          actor: 'a',
          action: 'mtls_certificate.crl.detach',
          resourceType: 'mtls_certificate',
          resourceId: 'ca',
          before: { crl: true },
          after: null,
        },
        AT,
      ),
    );
    assert.deepEqual(await versions(), start);
    const entry = await last();
    assert.equal(entry?.resource_type, 'mtls_certificate');
    assert.deepEqual(entry?.before, { crl: true });
  });

  test('a transaction that fails after the change keeps neither the bump nor the entry', async () => {
    const start = await versions();
    const before = (await store.audit.list({}, { page: 1, perPage: 1 })).total;
    await assert.rejects(
      store.transaction(async (tx) => {
        await recordChange(
          tx,
          {
            actor: 'a',
            action: 'hostname.delete',
            resourceId: 'h',
            before: null,
            after: null,
            reload: 'config',
          },
          AT,
        );
        throw new Error('the write after it failed');
      }),
      /the write after it failed/,
    );
    assert.deepEqual(await versions(), start);
    assert.equal((await store.audit.list({}, { page: 1, perPage: 1 })).total, before);
  });
});
