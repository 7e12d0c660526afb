// `npm start` — run a local Gatehouse from this checkout.
//
// Builds dist/ if it is missing or stale, initialises ./.gatehouse on first run
// (`gatehouse init --org "My Organization"`, which prints the admin URL and one-time admin token),
// then runs `gatehouse serve --data-dir ./.gatehouse`. Extra args go to serve:
//   npm start -- --some-serve-flag
// Env: GATEHOUSE_DATA_DIR (default ./.gatehouse), GATEHOUSE_ORG (org name for the first init).

import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { buildIfNeeded, REPO_ROOT } from './build-if-needed.mjs';
import { ensureRuntime } from './runtime.mjs';

const say = (msg) => console.error(`[npm start] ${msg}`);

const runtimeCode = ensureRuntime(say);
if (runtimeCode !== 0) process.exit(runtimeCode);

const code = buildIfNeeded({ log: say });
if (code !== 0) {
  say(`build failed (exit ${code})`);
  process.exit(code);
}

const cli = join(REPO_ROOT, 'dist', 'cli', 'main.js');
if (!existsSync(cli)) {
  say(`${cli} not found after the build (is src/cli/main.ts there?)`);
  process.exit(1);
}

// Relative paths are relative to the repo root (our cwd for the CLI).
const dataDir = process.env.GATEHOUSE_DATA_DIR ?? './.gatehouse';

if (!existsSync(join(resolve(REPO_ROOT, dataDir), 'gatehouse.json'))) {
  const org = process.env.GATEHOUSE_ORG ?? 'My Organization';
  say(`${dataDir} is not initialised: gatehouse init --org "${org}"`);
  const init = spawnSync(process.execPath, [cli, 'init', '--data-dir', dataDir, '--org', org], {
    cwd: REPO_ROOT,
    stdio: 'inherit',
  });
  if (init.error) throw init.error;
  if (init.status !== 0) {
    say(`init failed (exit ${init.status ?? init.signal})`);
    process.exit(init.status ?? 1);
  }
}

// Own process group: a Ctrl-C reaches the server once (forwarded by us), not twice.
const child = spawn(process.execPath, [cli, 'serve', '--data-dir', dataDir, ...process.argv.slice(2)], {
  cwd: REPO_ROOT,
  stdio: 'inherit',
  detached: true,
});

const forward = (sig) => {
  try {
    process.kill(-child.pid, sig);
  } catch {
    // already gone
  }
};
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => forward(sig));
process.on('exit', () => {
  if (child.exitCode === null && child.signalCode === null) forward('SIGTERM');
});

child.on('error', (err) => {
  say(`cannot start the server: ${err.message}`);
  process.exit(1);
});
child.on('exit', (c, sig) => {
  if (sig) {
    // Re-raise so our own exit status says "killed by SIGxxx", as a shell expects.
    process.removeAllListeners(sig);
    process.kill(process.pid, sig);
    return;
  }
  process.exit(c ?? 0);
});
