// The device key as the agent uses it: the providers of ./keys (tpm2, pkcs11, software), plus what
// the agent needs around them: the provider names for the command line, the engine re-execution
// for token keys, and deleting a key whose registration ended.
import { unlink } from 'node:fs/promises';
import {
  type DeviceKey,
  deleteDeviceKey,
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

/** What became of a registration's key: deleted, already gone, none (standard), or kept and why. */
export type KeyDisposal = { key: 'deleted' | 'not_found' | 'none' } | { key: 'kept'; reason: string };

/**
 * Deletes the key of a registration that ended (unregistered, replaced): the token's objects or
 * the software key file. Never throws: a key that cannot be deleted (token unreachable, PIN
 * refused) is reported as kept, with the reason, for the caller to tell the user.
 */
export async function discardKey(opts: KeyProviderOptions, ref: KeyReference | null): Promise<KeyDisposal> {
  if (!ref) return { key: 'none' };
  try {
    return { key: (await deleteDeviceKey(opts, ref)) ? 'deleted' : 'not_found' };
  } catch (err) {
    return { key: 'kept', reason: err instanceof Error ? err.message : String(err) };
  }
}

/** Deletes a key this process holds open (see discardKey); closes it in any case. */
export async function destroyKey(key: DeviceKey): Promise<KeyDisposal> {
  try {
    await key.destroy();
    return { key: 'deleted' };
  } catch (err) {
    await key.close();
    return { key: 'kept', reason: err instanceof Error ? err.message : String(err) };
  }
}

/** The engine config ensureEngineProcess wrote into the state dir, removed with the state. */
export async function discardEngineConfig(opts: KeyProviderOptions): Promise<void> {
  if (needsEngine(opts)) await unlink(engineConfigPath(opts)).catch(() => undefined);
}
