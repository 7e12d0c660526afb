import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Static, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { GatehouseError } from '../errors/index.js';
import { generateMasterKey, parseMasterKey } from '../pki/index.js';

/**
 * The data directory holds what must stay on the host: the config file, the SQLite database (when
 * no PostgreSQL URL is given) and the master key file (when GATEHOUSE_MASTER_KEY is not set).
 * Everything else lives in the store.
 */
export const DataDirConfig = Type.Object(
  {
    version: Type.Literal(1),
    org_id: Type.String({ minLength: 1 }),
    created_at: Type.String(),
    api_listen: Type.String(),
  },
  { additionalProperties: false },
);
export type DataDirConfig = Static<typeof DataDirConfig>;

export const CONFIG_FILE = 'gatehouse.json';
export const SQLITE_FILE = 'gatehouse.db';
export const MASTER_KEY_FILE = 'master.key';
export const DEFAULT_API_LISTEN = '127.0.0.1:7443';

export class DataDir {
  readonly path: string;

  constructor(path: string) {
    this.path = resolve(path);
  }

  get configPath(): string {
    return join(this.path, CONFIG_FILE);
  }

  isInitialized(): boolean {
    return existsSync(this.configPath);
  }

  ensure(): void {
    mkdirSync(this.path, { recursive: true, mode: 0o700 });
  }

  readConfig(): DataDirConfig {
    if (!this.isInitialized()) {
      throw new GatehouseError(
        'not_initialized',
        `${this.path} is not an initialised Gatehouse data directory (run: gatehouse init --data-dir ${this.path} --org NAME)`,
      );
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(this.configPath, 'utf8'));
    } catch (err) {
      throw new GatehouseError(
        'invalid_config',
        `${this.configPath}: not valid JSON (${(err as Error).message})`,
      );
    }
    if (!Value.Check(DataDirConfig, parsed)) {
      const first = Value.Errors(DataDirConfig, parsed).First();
      throw new GatehouseError(
        'invalid_config',
        `${this.configPath}: ${first ? `${first.path || '/'} ${first.message}` : 'invalid'}`,
      );
    }
    return parsed;
  }

  writeConfig(config: DataDirConfig): void {
    writeFileSync(this.configPath, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  }

  /** GATEHOUSE_DATABASE_URL when set (PostgreSQL or an explicit SQLite path), else the embedded file. */
  databaseUrl(env: NodeJS.ProcessEnv = process.env): string {
    return env.GATEHOUSE_DATABASE_URL || join(this.path, SQLITE_FILE);
  }

  /**
   * The key-encryption key for CA private keys: GATEHOUSE_MASTER_KEY, or the 0600 file in the data
   * directory, generated on first use when `create` is set.
   */
  masterKey({
    create = false,
    env = process.env,
  }: {
    create?: boolean;
    env?: NodeJS.ProcessEnv;
  } = {}): Buffer {
    if (env.GATEHOUSE_MASTER_KEY) return parseMasterKey(env.GATEHOUSE_MASTER_KEY);
    const file = join(this.path, MASTER_KEY_FILE);
    if (existsSync(file)) return parseMasterKey(readFileSync(file, 'utf8').trim());
    if (!create) {
      throw new GatehouseError(
        'master_key_missing',
        `no master key: set GATEHOUSE_MASTER_KEY or restore ${file} (CA keys cannot be decrypted without it)`,
      );
    }
    const key = generateMasterKey();
    writeFileSync(file, `${key.toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
    chmodSync(file, 0o600);
    return key;
  }
}

/** Parses HOST:PORT, including bracketed IPv6 ("[::1]:7443"). */
export function parseListen(value: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value.trim());
  const port = match ? Number(match[3]) : Number.NaN;
  if (!match || port < 0 || port > 65535) {
    throw new GatehouseError(
      'invalid_listen',
      `invalid listen address "${value}" (expected HOST:PORT, e.g. 127.0.0.1:7443)`,
    );
  }
  return { host: (match[1] ?? match[2]) as string, port };
}

export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
