import { Kysely, Migrator, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { GatehouseError } from '../errors/index.js';
import { type Dialect, migrationProvider } from './migrations.js';
import type { Database } from './schema.js';
import { NodeSqliteDatabase } from './sqlite.js';

export interface StoreLocation {
  /** `postgres://…` / `postgresql://…` selects PostgreSQL; anything else is a SQLite file path. */
  url: string;
}

export interface Connection {
  db: Kysely<Database>;
  dialect: Dialect;
}

export function dialectOf(url: string): Dialect {
  return /^postgres(ql)?:\/\//i.test(url) ? 'postgres' : 'sqlite';
}

export function connect({ url }: StoreLocation): Connection {
  const dialect = dialectOf(url);
  if (dialect === 'postgres') {
    const pool = new pg.Pool({ connectionString: url, max: 10 });
    // An idle connection can fail at any time (server restart, admin termination); without a
    // listener pg re-throws that as an uncaught exception. The pool drops the client and the
    // next query opens a new one, so a warning is all it deserves.
    pool.on('error', (err) => process.emitWarning(`PostgreSQL idle connection lost: ${err.message}`));
    // A client checked out of the pool has no listener at all (pg-pool removes its idle one), so a
    // connection the server ends between two statements of a transaction (pg_ctl stop, failover)
    // crashed the process. The transaction's next statement fails on its own and is rolled back.
    pool.on('connect', (client) =>
      client.on('error', (err) => process.emitWarning(`PostgreSQL connection lost: ${err.message}`)),
    );
    return { dialect, db: new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }) };
  }
  const sqlite = new NodeSqliteDatabase(url);
  // WAL lets the CLI and a running server share the file; foreign keys are off by default in SQLite.
  // synchronous = NORMAL is what better-sqlite3's build defaulted to in WAL mode (a commit survives a
  // crash or kill -9 of the process; only a power loss can drop the last commits, never corrupt);
  // node:sqlite's default FULL syncs every commit and made each write about 5x slower.
  sqlite.exec(
    'PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;',
  );
  return { dialect, db: new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) }) };
}

export async function migrateToLatest({ db, dialect }: Connection): Promise<string[]> {
  const migrator = new Migrator({ db, provider: migrationProvider(dialect) });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    throw new GatehouseError('migration_failed', `database migration failed: ${String(error)}`, 500, {
      cause: error,
    });
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
