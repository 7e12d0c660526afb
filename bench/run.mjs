// `npm run bench` — the default benchmarks, one after the other: the edge (bench/edge.mjs) and
// the store (bench/store.mjs). Arguments are passed to each: `npm run bench -- --quick`. A first
// argument naming a benchmark runs only that one: `npm run bench -- cluster` (bench/cluster.mjs),
// `npm run bench -- scale --quick` (bench/scale.mjs).

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const NAMED = { edge: 'edge.mjs', store: 'store.mjs', cluster: 'cluster.mjs', scale: 'scale.mjs' };
const chosen = NAMED[process.argv[2]];
const BENCHES = chosen ? [chosen] : ['edge.mjs', 'store.mjs'];
const args = chosen ? process.argv.slice(3) : process.argv.slice(2);

// A Ctrl-C reaches the benchmark too (same process group): let it stop its servers and exit,
// and only then exit ourselves, so that the prompt comes back after the cleanup.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => {});

function run(file) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [fileURLToPath(new URL(file, import.meta.url)), ...args], {
      stdio: 'inherit',
    });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

for (const file of BENCHES) {
  const code = await run(file);
  if (code !== 0) process.exit(code);
}
