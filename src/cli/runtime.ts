// The CLI's check of the Node.js running it. `#!/usr/bin/env node` takes whichever node is first on
// PATH: through npm (`npm start`, `npm exec gatehouse`) that is the runtime pinned in package.json
// (node_modules/.bin/node), but run directly on a machine whose system Node is older it is not.
// Then re-execute under the pinned runtime package installed beside this one (node-<os>-<arch>),
// or say what is needed — never half-run on a runtime the code was not built or tested for.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
import { dirname, join } from 'node:path';
import { ENGINE_CONFIG_ENV } from '../agent/keys/engine.js';
import { InternalError } from '../errors/index.js';

const require = createRequire(import.meta.url);

/** Lowest Node.js major that package.json's `engines.node` (">=N") accepts. */
export function requiredNodeMajor(): number {
  const engines = (require('../../package.json') as { engines?: { node?: string } }).engines?.node ?? '';
  const m = /^>=\s*(\d+)/.exec(engines);
  if (!m)
    throw new InternalError(`package.json engines.node ${JSON.stringify(engines)} is not of the form ">=N"`);
  return Number(m[1]);
}

/** Path of the pinned runtime's node binary, when its package is installed and is not this process. */
export function pinnedRuntime(): string | null {
  try {
    const pkg = require.resolve(`node-${process.platform}-${process.arch}/package.json`);
    const bin = join(dirname(pkg), 'bin', 'node');
    return existsSync(bin) && bin !== process.execPath ? bin : null;
  } catch {
    return null;
  }
}

/**
 * Returns when this Node is new enough. Otherwise re-runs the same command under the pinned
 * runtime (stdio inherited, signals forwarded, its exit status becomes ours) and never returns,
 * or exits 1 with a message when there is none.
 */
export async function ensureSupportedRuntime(): Promise<void> {
  // The agent's PKCS#11 engine process runs on an OpenSSL 3.0 Node on purpose (engineRuntime()).
  if (process.env[ENGINE_CONFIG_ENV]) return;
  const need = requiredNodeMajor();
  if (Number(process.versions.node.split('.')[0]) >= need) return;
  const pinned = pinnedRuntime();
  if (!pinned) {
    process.stderr.write(
      `gatehouse: needs Node.js ${need} or newer, this is ${process.version} (${process.execPath}); ` +
        'run it through npm (`npm start`, `npm exec gatehouse`) or install Node.js ' +
        `${need}\n`,
    );
    process.exit(1);
  }
  const child = spawn(pinned, [...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit' });
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];
  for (const s of signals) process.on(s, () => child.kill(s));
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
    child.once('error', () => resolve([1, null]));
    child.once('exit', (c, sig) => resolve([c, sig]));
  });
  process.exit(signal ? 128 + (osConstants.signals[signal] ?? 0) : (code ?? 1));
}
