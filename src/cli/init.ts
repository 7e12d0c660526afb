import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type CaKeyAlgorithm, initializeOrganization } from '../authority/index.js';
import { DataDir, formatHostPort, parseListen } from '../config/index.js';
import { GatehouseError } from '../errors/index.js';
import { Store } from '../store/index.js';

export interface InitCommandOptions {
  dataDir: string;
  org: string;
  algorithm: CaKeyAlgorithm;
  san: string[];
  apiListen: string;
  publicUrl?: string;
}

export interface InitOutput {
  org: string;
  org_id: string;
  admin_token: string;
  api_url: string;
  root_ca_pem: string;
  data_dir: string;
}

/**
 * `gatehouse init`: refuses an initialised directory or database, and removes what it created
 * itself (config, SQLite file, generated master key) when any step fails.
 */
export async function runInit(opts: InitCommandOptions): Promise<InitOutput> {
  const dataDir = new DataDir(opts.dataDir);
  if (dataDir.isInitialized()) {
    throw new GatehouseError(
      'already_initialized',
      `${dataDir.path} is already initialised; refusing to overwrite it`,
      409,
    );
  }
  if (!opts.org.trim()) throw new GatehouseError('invalid_argument', '--org must not be empty');
  const { host, port } = parseListen(opts.apiListen);
  const apiUrl =
    opts.publicUrl ??
    `https://${formatHostPort(host === '0.0.0.0' || host === '::' ? 'localhost' : host, port)}`;
  if (!/^https?:\/\/[^/]+$/.test(apiUrl.replace(/\/+$/, ''))) {
    throw new GatehouseError(
      'invalid_argument',
      `--public-url must be a base URL such as https://gatehouse.example.com (got ${apiUrl})`,
    );
  }
  dataDir.ensure();
  const created: string[] = [];
  const masterKeyExisted =
    Boolean(process.env.GATEHOUSE_MASTER_KEY) || existsSync(join(dataDir.path, 'master.key'));
  const databaseUrl = dataDir.databaseUrl();
  const sqliteExisted = !/^postgres/i.test(databaseUrl) && existsSync(join(dataDir.path, 'gatehouse.db'));
  let store: Store | undefined;
  try {
    const masterKey = dataDir.masterKey({ create: true });
    if (!masterKeyExisted) created.push('master.key');
    store = await Store.open({ url: databaseUrl });
    if (!sqliteExisted && store.dialect === 'sqlite')
      created.push('gatehouse.db', 'gatehouse.db-wal', 'gatehouse.db-shm');
    const result = await initializeOrganization({
      store,
      masterKey,
      orgName: opts.org.trim(),
      algorithm: opts.algorithm,
      sans: opts.san,
      publicUrl: apiUrl.replace(/\/+$/, ''),
    });
    dataDir.writeConfig({
      version: 1,
      org_id: result.orgId,
      created_at: new Date().toISOString(),
      api_listen: opts.apiListen,
    });
    return {
      org: result.orgName,
      org_id: result.orgId,
      admin_token: result.adminToken,
      api_url: apiUrl,
      root_ca_pem: result.rootCaPem,
      data_dir: dataDir.path,
    };
  } catch (err) {
    await store?.close();
    store = undefined;
    for (const file of created) rmSync(join(dataDir.path, file), { force: true });
    throw err;
  } finally {
    await store?.close();
  }
}
