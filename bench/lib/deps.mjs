// Debian packages the edge benchmark needs. Like scripts/system-deps.mjs (which lists the test
// suite's), but kept separate: `npm test` must not install a load generator and nginx.
// As root, missing packages are installed with apt-get; otherwise we print the command.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { findCommand } from '../../scripts/system-deps.mjs';

const BENCH_DEPS = [
  { package: 'wrk', present: () => findCommand('wrk') !== null },
  { package: 'nginx', present: () => findCommand('nginx') !== null },
  { package: 'openssl', present: () => findCommand('openssl') !== null },
  { package: 'gcc', present: () => findCommand('gcc') !== null },
  // headers + the libssl.so link for building the mTLS shim
  { package: 'libssl-dev', present: () => existsSync('/usr/include/openssl/ssl.h') },
];

function apt(args) {
  console.error(`[bench] apt-get ${args.join(' ')}`);
  const r = spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=600', ...args], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  return r.status === 0;
}

/** Install what is missing (root + apt-get) or throw with the command to run. */
export function ensureBenchDeps() {
  const missing = () => BENCH_DEPS.filter((d) => !d.present()).map((d) => d.package);
  const need = missing();
  if (need.length === 0) return;
  const isRoot = process.getuid?.() === 0;
  if (!isRoot || !findCommand('apt-get')) {
    throw new Error(
      `missing packages: ${need.join(' ')}\n  run: sudo apt-get install -y --no-install-recommends ${need.join(' ')}`,
    );
  }
  console.error(`[bench] installing missing packages: ${need.join(' ')}`);
  if (!apt(['update']) || !apt(['install', '-y', '--no-install-recommends', ...need])) {
    throw new Error(`apt-get could not install: ${need.join(' ')}`);
  }
  const still = missing();
  if (still.length) throw new Error(`still missing after apt-get: ${still.join(' ')}`);
}
