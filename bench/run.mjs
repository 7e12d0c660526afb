// `npm run bench` — every benchmark. For now only the edge benchmark (bench/edge.mjs); later
// ones get appended here. Arguments are passed through: `npm run bench -- --quick`.

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BENCHES = ['edge.mjs'];

for (const file of BENCHES) {
  const r = spawnSync(
    process.execPath,
    [fileURLToPath(new URL(file, import.meta.url)), ...process.argv.slice(2)],
    {
      stdio: 'inherit',
    },
  );
  if (r.status !== 0) process.exit(r.status ?? 1);
}
