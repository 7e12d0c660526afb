// `npm run bench:store` — the SQLite store's cost per operation, through Gatehouse's own Store
// (dist/, so build first) on a file in a temporary directory (WAL, as `gatehouse serve` opens it).
// Prints µs per operation (median of --rounds rounds). Options: --ops N (per round, default 2000),
// --rounds N (default 5), --quick (500 × 3). Results and the driver comparison: docs/benchmarks.md.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Store } from '../dist/store/index.js';

// Not strict: `npm run bench -- …` hands every benchmark the same arguments.
const { values } = parseArgs({
  strict: false,
  options: {
    ops: { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '5' },
    quick: { type: 'boolean', default: false },
  },
});
const OPS = Number(values.quick ? 500 : values.ops);
const ROUNDS = Number(values.quick ? 3 : values.rounds);

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-store-'));
const store = await Store.open({ url: join(dir, 'gatehouse.db') });
const now = () => new Date().toISOString();
let seq = 0;

/** One round: returns µs per operation for each workload. */
async function round() {
  const ids = [];
  const timed = async (fn) => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < OPS; i++) await fn(i);
    return Number(process.hrtime.bigint() - t0) / 1e3 / OPS;
  };
  const r = {};
  // A write that commits on its own (an API token being created).
  r['insert (own commit)'] = await timed(async () => {
    const id = `tok-${seq++}`;
    ids.push(id);
    await store.apiTokens.insert({
      id,
      name: id,
      token_hash: `hash-${id}`,
      role: 'admin',
      created_at: now(),
      last_used_at: null,
    });
  });
  // A point read by a unique column (every API call looks its token up).
  r['select by unique key'] = await timed((i) => store.apiTokens.byHash(`hash-${ids[i]}`));
  // An update by primary key (the token's last use).
  r['update by primary key'] = await timed((i) => store.apiTokens.touch(ids[i], now()));
  // Ten audit rows in one transaction (what one admin change writes at most).
  r['transaction of 10 inserts (per insert)'] =
    (await timed((i) =>
      store.transaction(async (tx) => {
        for (let k = 0; k < 10; k++) {
          await tx.audit.append({
            id: `a-${seq++}`,
            at: now(),
            actor: 'bench',
            action: 'bench.write',
            resource_type: 'bench',
            resource_id: `r-${i}`,
            before: null,
            after: { k: 1 },
          });
        }
      }),
    )) / 10;
  // A listing page (20 rows plus the count) over a growing table.
  r['list page of 20 + count'] = await timed(() => store.audit.list({}, { page: 1, perPage: 20 }));
  return r;
}

const rounds = [];
for (let i = 0; i < ROUNDS; i++) rounds.push(await round());
await store.close();
rmSync(dir, { recursive: true, force: true });

const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`Node ${process.version}, ${OPS} operations × ${ROUNDS} rounds, µs per operation (median)`);
for (const name of Object.keys(rounds[0])) {
  console.log(
    `${name.padEnd(40)} ${median(rounds.map((r) => r[name]))
      .toFixed(1)
      .padStart(8)}`,
  );
}
