// `npm run docs:openapi`: writes docs/openapi.json from the route schemas (the same document the
// API serves at /api/v1/openapi.json). A test fails when the committed copy is stale.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApi } from '../src/api/index.js';
import { Authority, initializeOrganization } from '../src/authority/index.js';
import { createMetrics } from '../src/observability/index.js';
import { Store } from '../src/store/index.js';

export async function generateOpenApi(): Promise<unknown> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-openapi-'));
  const store = await Store.open({ url: join(dir, 'openapi.db') });
  try {
    const masterKey = randomBytes(32);
    await initializeOrganization({
      store,
      masterKey,
      orgName: 'OpenAPI',
      algorithm: 'ecdsa-p256',
      sans: [],
      publicUrl: 'https://localhost:7443',
    });
    const app = await buildApi({
      authority: await Authority.load(store, masterKey),
      metrics: createMetrics(),
    });
    await app.ready();
    const doc = app.swagger();
    await app.close();
    return doc;
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export const OPENAPI_PATH = join(import.meta.dirname, '..', 'docs', 'openapi.json');

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  writeFileSync(OPENAPI_PATH, `${JSON.stringify(await generateOpenApi(), null, 2)}\n`);
  console.error(`wrote ${OPENAPI_PATH}`);
}
