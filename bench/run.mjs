// `npm run bench` — every benchmark, one after the other: the edge (bench/edge.mjs) and the
// store (bench/store.mjs); later ones get appended to BENCHES. Arguments are passed to each:
// `npm run bench -- --quick`.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BENCHES = ['edge.mjs', 'store.mjs'];

// A Ctrl-C reaches the benchmark too (same process group): let it stop its servers and exit,
// and only then exit ourselves, so that the prompt comes back after the cleanup.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => {});

function run(file) {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [fileURLToPath(new URL(file, import.meta.url)), ...process.argv.slice(2)],
      {
        stdio: 'inherit',
      },
    );
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

for (const file of BENCHES) {
  const code = await run(file);
  if (code !== 0) process.exit(code);
}
