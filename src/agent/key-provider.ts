// The device key as the agent uses it: the providers of ./keys (tpm2, pkcs11, software), plus what
// the agent needs around them: the provider names for the command line, the engine re-execution
// for token keys, and removing a key whose registration ended.
import { unlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import {
  engineConfigPath,
  ensureEngineProcess,
  type KeyProtection,
  type KeyProviderOptions,
  type KeyReference,
  needsEngine,
} from './keys/index.js';

export {
  createDeviceKey,
  type DeviceKey,
  type KeyProtection,
  type KeyProviderOptions,
  type KeyReference,
  loadDeviceKey,
} from './keys/index.js';

export const KEY_PROTECTIONS = ['tpm2', 'pkcs11', 'software'] as const satisfies readonly KeyProtection[];

/**
 * Token keys sign TLS handshakes through libp11's OpenSSL engine, which Node accepts only from
 * the OpenSSL config it starts with: for tpm2/pkcs11 this re-executes the whole command with that
 * config (and exits with its code). Call it before the command has any other effect.
 */
export async function prepareKeyProcess(opts: KeyProviderOptions): Promise<void> {
  await ensureEngineProcess(opts);
}

/**
 * Removes what the agent wrote for a key once its registration ended: the file of a software key.
 * Token keys stay in the token (the providers offer no deletion yet).
 */
export async function discardKey(stateDir: string, ref: KeyReference | null): Promise<void> {
  if (ref?.provider === 'software' && typeof ref.file === 'string' && basename(ref.file) === ref.file)
    await unlink(join(stateDir, ref.file)).catch(() => undefined);
}

/** The engine config ensureEngineProcess wrote into the state dir, removed with the state. */
export async function discardEngineConfig(opts: KeyProviderOptions): Promise<void> {
  if (needsEngine(opts)) await unlink(engineConfigPath(opts)).catch(() => undefined);
}
