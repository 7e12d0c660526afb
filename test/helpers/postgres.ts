// PostgreSQL for tests. `npm test` starts one throwaway cluster and exports its URL as
// GATEHOUSE_TEST_DATABASE_URL; each test file takes its own database on it:
//
//   test('store round-trip', async (t) => {
//     const db = await createTestDatabase(t); // dropped automatically after the test
//     if (!db) return;                         // skipped: no database (never under CI=true)
//     const pool = new pg.Pool({ connectionString: db.url }); …
//   });
//
//   describe('store', { skip: postgresSkipReason() }, () => {
//     let db: TestDatabase;
//     before(async () => { db = await createTestDatabase(); });
//     after(() => db.drop());
//   });
//
// Run without the harness (`node --import tsx --test file.test.ts`) and without
// GATEHOUSE_TEST_DATABASE_URL: skipped with a message, or a failure when CI=true.

import { randomBytes } from 'node:crypto';
import type { TestContext } from 'node:test';
import pg from 'pg';
import { isCI } from './tools.js';

export type { PostgresCluster } from '../../scripts/postgres-cluster.mjs';
/** Start a dedicated cluster (for tests that must stop/restart the server themselves). */
export { startPostgresCluster } from '../../scripts/postgres-cluster.mjs';

export interface TestDatabase {
  /** postgres://postgres@127.0.0.1:PORT/<name> */
  url: string;
  name: string;
  /** Drops the database (terminating leftover connections). Idempotent. */
  drop(): Promise<void>;
}

const NOT_CONFIGURED =
  'GATEHOUSE_TEST_DATABASE_URL is not set: run the tests through `npm test` (it starts a throwaway ' +
  'PostgreSQL) or point GATEHOUSE_TEST_DATABASE_URL at a cluster you may create databases on';

/** URL of the harness cluster's database, or null when not configured. */
export function testDatabaseUrl(): string | null {
  return process.env.GATEHOUSE_TEST_DATABASE_URL || null;
}

/** For the `skip` option: a reason when no PostgreSQL is configured, else false (always false under CI). */
export function postgresSkipReason(): string | false {
  if (isCI || testDatabaseUrl()) return false;
  return NOT_CONFIGURED;
}

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

async function adminQuery(sql: string): Promise<void> {
  const base = testDatabaseUrl();
  if (!base) throw new Error(NOT_CONFIGURED);
  const client = new pg.Client({ connectionString: base });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * A fresh, empty database with a random name on the cluster from GATEHOUSE_TEST_DATABASE_URL.
 * - with a test context: dropped automatically when the test ends; when no cluster is configured
 *   and not CI, the test is marked skipped and undefined is returned
 * - without: call drop() yourself; throws when no cluster is configured
 */
export async function createTestDatabase(): Promise<TestDatabase>;
export async function createTestDatabase(t: TestContext): Promise<TestDatabase | undefined>;
export async function createTestDatabase(t?: TestContext): Promise<TestDatabase | undefined> {
  const base = testDatabaseUrl();
  if (!base) {
    if (t && !isCI) {
      t.skip(NOT_CONFIGURED);
      return undefined;
    }
    throw new Error(isCI ? `${NOT_CONFIGURED} (CI=true: tests may not skip)` : NOT_CONFIGURED);
  }
  const name = `gh_test_${process.pid}_${randomBytes(6).toString('hex')}`;
  await adminQuery(`CREATE DATABASE "${name}"`);
  let dropped = false;
  const db: TestDatabase = {
    url: withDatabase(base, name),
    name,
    async drop() {
      if (dropped) return;
      dropped = true;
      await adminQuery(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`); // PostgreSQL >= 13
    },
  };
  t?.after(() => db.drop());
  return db;
}
