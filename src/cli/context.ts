import { readFileSync } from 'node:fs';
import { Authority } from '../authority/index.js';
import { DataDir, type DataDirConfig } from '../config/index.js';
import { GatehouseError } from '../errors/index.js';
import { Store } from '../store/index.js';

export interface CliContext {
  dataDir: DataDir;
  config: DataDirConfig;
  store: Store;
  authority: Authority;
  close(): Promise<void>;
}

export const DEFAULT_DATA_DIR = process.env.GATEHOUSE_DATA_DIR || '.gatehouse';

/** Opens an initialised data directory: config, store (migrated) and the unsealed authority. */
export async function openDataDir(path: string): Promise<CliContext> {
  const dataDir = new DataDir(path);
  const config = dataDir.readConfig();
  const masterKey = dataDir.masterKey();
  const store = await Store.open({ url: dataDir.databaseUrl() });
  try {
    const authority = await Authority.load(store, masterKey);
    // A data dir pointed at another organization's database (a mistyped URL on one node) must
    // not serve or change it.
    if (authority.org.id !== config.org_id) {
      throw new GatehouseError(
        'org_mismatch',
        `${dataDir.configPath} belongs to organization ${config.org_id}, but the database holds ${authority.org.id} ("${authority.org.name}"); check GATEHOUSE_DATABASE_URL`,
      );
    }
    return { dataDir, config, store, authority, close: () => store.close() };
  } catch (err) {
    await store.close();
    throw err;
  }
}

/** Runs `work` with an open data directory and always closes the store. */
export async function withDataDir<T>(path: string, work: (ctx: CliContext) => Promise<T>): Promise<T> {
  const ctx = await openDataDir(path);
  try {
    return await work(ctx);
  } finally {
    await ctx.close();
  }
}

/** Reads a file the user named (`-`: stdin); an unreadable one is a file_unreadable error. */
export const readInput = (file: string, what: string): string => {
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw new GatehouseError(
      'file_unreadable',
      `cannot read ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
};
