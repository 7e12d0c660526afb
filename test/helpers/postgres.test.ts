// Self-test of the harness: the cluster from GATEHOUSE_TEST_DATABASE_URL is reachable, per-test
// databases are isolated and dropped, and the tool helpers work.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import pg from 'pg';
import { createTestDatabase, postgresSkipReason, testDatabaseUrl } from './postgres.js';
import { requireTool, run, runOk, skipUnlessTools, withTempDir } from './tools.js';

async function databaseExists(name: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: testDatabaseUrl()! });
  await client.connect();
  try {
    const r = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    return r.rowCount === 1;
  } finally {
    await client.end();
  }
}

describe('test PostgreSQL', { skip: postgresSkipReason() }, () => {
  test('create table, insert, read back, drop the database', async () => {
    const db = await createTestDatabase();
    const url = new URL(db.url);
    assert.equal(url.hostname, '127.0.0.1', 'tests talk only to loopback');
    assert.equal(url.pathname, `/${db.name}`);

    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      await client.query('CREATE TABLE harness_probe (id serial PRIMARY KEY, note text NOT NULL)');
      await client.query('INSERT INTO harness_probe (note) VALUES ($1), ($2)', ['alpha', 'βeta']);
      const r = await client.query<{ note: string }>('SELECT note FROM harness_probe ORDER BY id');
      assert.deepEqual(
        r.rows.map((row) => row.note),
        ['alpha', 'βeta'],
      );
    } finally {
      await client.end();
    }

    assert.equal(await databaseExists(db.name), true);
    await db.drop();
    assert.equal(await databaseExists(db.name), false);
    await db.drop(); // idempotent
  });

  test('databases are isolated and dropped with the test context', async (t) => {
    const a = await createTestDatabase(t);
    const b = await createTestDatabase(t);
    assert.ok(a && b);
    assert.notEqual(a.name, b.name);
    const ca = new pg.Client({ connectionString: a.url });
    await ca.connect();
    await ca.query('CREATE TABLE only_in_a (x int)');
    await ca.end();
    const cb = new pg.Client({ connectionString: b.url });
    await cb.connect();
    // Left open on purpose: drop() must terminate leftover connections.
    cb.on('error', () => {});
    const r = await cb.query("SELECT to_regclass('public.only_in_a') AS t");
    assert.equal(r.rows[0].t, null);
    t.after(async () => {
      assert.equal(await databaseExists(a.name), false);
      assert.equal(await databaseExists(b.name), false);
      await cb.end().catch(() => {});
    });
  });
});

describe('tool helpers', () => {
  test('requireTool finds openssl and run() captures output and stdin', async (t) => {
    const openssl = requireTool('openssl', t);
    if (!openssl) return;
    const v = await runOk(openssl, ['version']);
    assert.match(v.stdout, /OpenSSL/);
    const dgst = await run(openssl, ['dgst', '-sha256', '-r'], { input: 'abc' });
    assert.equal(dgst.code, 0, dgst.stderr);
    assert.match(dgst.stdout, /^ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad/);
  });

  test('run() reports a non-zero exit code without throwing', async () => {
    const r = await run(process.execPath, ['-e', 'console.error("boom"); process.exit(3)']);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /boom/);
    await assert.rejects(runOk(process.execPath, ['-e', 'process.exit(1)']));
  });

  test('requireTool without a context throws for an unknown tool', () => {
    assert.throws(() => requireTool('gatehouse-no-such-tool'), /not found/);
  });

  test('withTempDir removes the directory afterwards', async () => {
    let seen = '';
    await withTempDir(async (dir) => {
      seen = dir;
      await writeFile(join(dir, 'f'), 'x');
    });
    assert.ok(seen);
    assert.equal(existsSync(seen), false);
  });

  test('system tools of the suite are present', { skip: skipUnlessTools('curl', 'certutil') }, () => {
    for (const tool of ['openssl', 'curl', 'certutil', 'pg_ctl']) assert.ok(requireTool(tool), tool);
  });
});
