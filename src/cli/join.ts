import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Authority } from '../authority/index.js';
import { DataDir, DEFAULT_API_LISTEN, MASTER_KEY_FILE, parseListen } from '../config/index.js';
import { GatehouseError } from '../errors/index.js';
import { parseMasterKey } from '../pki/index.js';
import { dialectOf, Store } from '../store/index.js';

export interface JoinOptions {
  dataDir: string;
  /** Refuse unless the database holds this organization. */
  orgId?: string;
  /** A file with the master key (hex), copied into the data dir; else GATEHOUSE_MASTER_KEY. */
  masterKeyFile?: string;
  apiListen?: string;
  env?: NodeJS.ProcessEnv;
}

export interface JoinOutput {
  org: string;
  org_id: string;
  data_dir: string;
}

/**
 * `gatehouse join`: makes a data directory for one more node of an existing organization, from
 * the shared PostgreSQL URL and the master key. Proves both before writing anything: the org must
 * exist (and be the one asked for) and the master key must unseal its CA key.
 */
export async function runJoin(opts: JoinOptions): Promise<JoinOutput> {
  const env = opts.env ?? process.env;
  const dataDir = new DataDir(opts.dataDir);
  if (dataDir.isInitialized())
    throw new GatehouseError(
      'already_initialized',
      `${dataDir.path} is already initialised; refusing to overwrite it`,
      409,
    );
  const url = env.GATEHOUSE_DATABASE_URL;
  if (!url || dialectOf(url) !== 'postgres')
    throw new GatehouseError(
      'invalid_argument',
      'join needs the shared PostgreSQL database: set GATEHOUSE_DATABASE_URL=postgres://… (nodes cannot share a SQLite file)',
    );
  if (opts.masterKeyFile && env.GATEHOUSE_MASTER_KEY)
    throw new GatehouseError(
      'invalid_argument',
      'give the master key once: --master-key-file or GATEHOUSE_MASTER_KEY',
    );
  const keyText = opts.masterKeyFile
    ? readFileSync(opts.masterKeyFile, 'utf8').trim()
    : env.GATEHOUSE_MASTER_KEY;
  if (!keyText)
    throw new GatehouseError(
      'master_key_missing',
      'join needs the master key: --master-key-file FILE or GATEHOUSE_MASTER_KEY',
    );
  const masterKey = parseMasterKey(keyText);
  parseListen(opts.apiListen ?? DEFAULT_API_LISTEN);

  const store = await Store.open({ url });
  try {
    const org = await store.organizations.first();
    if (!org)
      throw new GatehouseError(
        'not_initialized',
        'the database holds no organization: run gatehouse init on the first node',
      );
    if (opts.orgId && opts.orgId !== org.id)
      throw new GatehouseError(
        'org_mismatch',
        `the database holds organization ${org.id} ("${org.name}"), not ${opts.orgId}`,
      );
    await Authority.load(store, masterKey).catch((err: unknown) => {
      throw new GatehouseError(
        'wrong_master_key',
        `the master key does not open organization ${org.id}'s CA key: it is not this organization's master key`,
        400,
        { cause: err },
      );
    });
    dataDir.ensure();
    if (opts.masterKeyFile)
      writeFileSync(join(dataDir.path, MASTER_KEY_FILE), `${keyText}\n`, { mode: 0o600, flag: 'wx' });
    dataDir.writeConfig({
      version: 1,
      org_id: org.id,
      created_at: new Date().toISOString(),
      api_listen: opts.apiListen ?? DEFAULT_API_LISTEN,
    });
    return { org: org.name, org_id: org.id, data_dir: dataDir.path };
  } finally {
    await store.close();
  }
}
