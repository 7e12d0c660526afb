// A throwaway SoftHSM2 token for tests: its own config (SOFTHSM2_CONF) and token dir in a temp
// dir, one initialised token and a PIN file.
//
//   const hsm = await startSoftHsm();
//   t.after(() => hsm.stop());
//   process.env.SOFTHSM2_CONF = hsm.env.SOFTHSM2_CONF;   // read when the module initialises
//
// The PINs go on softhsm2-util's command line: throwaway test values only.

import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireTool, runOk } from './tools.js';

export interface SoftHsm {
  dir: string;
  /** Absolute path of libsofthsm2.so. */
  module: string;
  token: string;
  userPin: string;
  pinFile: string;
  /** SOFTHSM2_CONF */
  env: Record<string, string>;
  stop(): Promise<void>;
}

export function findSoftHsmModule(): string | null {
  const candidates = [
    '/usr/lib/softhsm/libsofthsm2.so',
    '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so',
    '/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so',
    '/usr/lib64/pkcs11/libsofthsm2.so',
    '/usr/local/lib/softhsm/libsofthsm2.so',
  ];
  return candidates.find((p) => existsSync(p)) ?? null;
}

export async function startSoftHsm(
  options: { token?: string; userPin?: string; soPin?: string } = {},
): Promise<SoftHsm> {
  const util = requireTool('softhsm2-util');
  const module = findSoftHsmModule();
  if (!module) throw new Error('libsofthsm2.so not found (Debian: softhsm2)');
  const token = options.token ?? 'device';
  const userPin = options.userPin ?? '123456';
  const soPin = options.soPin ?? '87654321';
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-softhsm-'));
  const stop = () => rm(dir, { recursive: true, force: true });
  try {
    const tokens = join(dir, 'tokens');
    await mkdir(tokens, { mode: 0o700 });
    const conf = join(dir, 'softhsm2.conf');
    await writeFile(
      conf,
      `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`,
    );
    const env = { SOFTHSM2_CONF: conf };
    await runOk(util, ['--init-token', '--free', '--label', token, '--so-pin', soPin, '--pin', userPin], {
      env,
    });
    const pinFile = join(dir, 'user.pin');
    await writeFile(pinFile, `${userPin}\n`, { mode: 0o600 });
    return { dir, module, token, userPin, pinFile, env, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
