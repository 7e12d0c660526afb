// SQLite through Node's built-in node:sqlite (no native addon to build). Kysely's SqliteDialect
// drives a better-sqlite3-shaped database; DatabaseSync nearly is one, so this adapts the rest:
// parameters as one array rather than spread, `reader` from the statement's result columns, and
// prepared statements kept per SQL text (Kysely prepares every query anew; preparing is a large
// part of a small query's cost), and rows as plain objects. Driver errors pass through untouched — they are recognised in
// src/store/errors.ts by their node:sqlite code and extended result code.

import { DatabaseSync, type SQLInputValue, type SQLOutputValue, type StatementSync } from 'node:sqlite';
import type { SqliteDatabase, SqliteStatement } from 'kysely';

/** Statements kept per connection; Gatehouse has a few hundred distinct queries at most. */
const STATEMENT_CACHE_SIZE = 500;

/** node:sqlite rows have a null prototype; callers (and deepStrictEqual) expect plain objects. */
const plain = (row: Record<string, SQLOutputValue>): Record<string, SQLOutputValue> => ({ ...row });

class Statement implements SqliteStatement {
  readonly reader: boolean;

  constructor(private readonly stmt: StatementSync) {
    this.reader = stmt.columns().length > 0;
  }

  all(parameters: readonly unknown[]): unknown[] {
    return this.stmt.all(...(parameters as SQLInputValue[])).map(plain);
  }

  run(parameters: readonly unknown[]): { changes: number | bigint; lastInsertRowid: number | bigint } {
    return this.stmt.run(...(parameters as SQLInputValue[]));
  }

  *iterate(parameters: readonly unknown[]): IterableIterator<unknown> {
    for (const row of this.stmt.iterate(...(parameters as SQLInputValue[]))) yield plain(row);
  }
}

export class NodeSqliteDatabase implements SqliteDatabase {
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, Statement>();

  constructor(path: string) {
    this.#db = new DatabaseSync(path);
  }

  /** Runs statements that take no parameters and return nothing (pragmas, DDL). */
  exec(sql: string): void {
    this.#db.exec(sql);
  }

  prepare(sql: string): Statement {
    const cached = this.#statements.get(sql);
    if (cached) return cached;
    const statement = new Statement(this.#db.prepare(sql));
    // Insertion order makes the first key the oldest: a simple bound, not a true LRU.
    if (this.#statements.size >= STATEMENT_CACHE_SIZE) {
      const oldest = this.#statements.keys().next().value as string;
      this.#statements.delete(oldest);
    }
    this.#statements.set(sql, statement);
    return statement;
  }

  close(): void {
    this.#statements.clear();
    this.#db.close();
  }
}
