import { connect, dialectOf, migrateToLatest, type StoreLocation } from './connect.js';
import type { Dialect } from './migrations.js';
import { Repositories } from './repositories.js';

export type { Dialect } from './migrations.js';
export type {
  AuditFilter,
  ClientCertificateFilter,
  Page,
  PageResult,
  PassingPosture,
  PostureLogFilter,
} from './repositories.js';
export { type Lease, Repositories } from './repositories.js';
export {
  classifyDatabaseError,
  type DatabaseFailure,
  isDatabaseUnavailable,
  isUniqueViolation,
} from './errors.js';
export type * from './schema.js';
export { dialectOf };

/** A service's part of the store: the repositories it uses, and transactions for its writes. */
export type StoreFor<K extends keyof Repositories> = Pick<Store, K | 'transaction'>;

/**
 * The persistence boundary. Everything outside `store/` talks to the database through a Store:
 * its repositories for single statements, `transaction` for writes that must land together.
 */
export class Store extends Repositories {
  readonly dialect: Dialect;
  readonly #connection: ReturnType<typeof connect>;

  private constructor(connection: ReturnType<typeof connect>) {
    super(connection.db, connection.dialect);
    this.dialect = connection.dialect;
    this.#connection = connection;
  }

  /** Opens the database and applies pending migrations. */
  static async open(location: StoreLocation): Promise<Store> {
    const connection = connect(location);
    try {
      await migrateToLatest(connection);
    } catch (err) {
      await connection.db.destroy();
      throw err;
    }
    return new Store(connection);
  }

  /** Runs `work` in one database transaction: all of its writes land, or none do. */
  transaction<T>(work: (tx: Repositories) => Promise<T>): Promise<T> {
    return this.#connection.db.transaction().execute((trx) => work(new Repositories(trx, this.dialect)));
  }

  async close(): Promise<void> {
    await this.#connection.db.destroy();
  }
}
