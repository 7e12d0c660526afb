// The control-plane API in-process (fastify inject) on a fresh organization in a real SQLite store.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApi } from '../../src/api/index.js';
import { Authority, initializeOrganization } from '../../src/authority/index.js';
import { createMetrics } from '../../src/observability/index.js';
import { Store } from '../../src/store/index.js';

export type App = Awaited<ReturnType<typeof buildApi>>;

export interface TestApi {
  app: App;
  store: Store;
  authority: Authority;
  /** The admin token `gatehouse init` would show once. */
  adminToken: string;
  dir: string;
  /** Closes the API and the store and removes the directory. */
  close(): Promise<void>;
}

/** `initializeOrganization` in a new temp dir, then the API over it (`clock`: the authority's). */
export async function openTestApi(opts: { clock?: () => Date; orgName?: string } = {}): Promise<TestApi> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-test-'));
  const store = await Store.open({ url: join(dir, 'api.db') });
  const masterKey = randomBytes(32);
  const init = await initializeOrganization({
    store,
    masterKey,
    orgName: opts.orgName ?? 'Test Org',
    algorithm: 'ecdsa-p256',
    sans: [],
    publicUrl: 'https://gatehouse.test',
  });
  const authority = await Authority.load(store, masterKey, opts.clock);
  const app = await buildApi({ authority, metrics: createMetrics() });
  return {
    app,
    store,
    authority,
    adminToken: init.adminToken,
    dir,
    close: async () => {
      await app.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
