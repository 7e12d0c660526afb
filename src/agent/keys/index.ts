// Device key providers of the agent: where the device's private key lives and how it signs.
//
//   tpm2      the key is made and kept by the TPM through tpm2-pkcs11 (a PKCS#11 token whose
//             objects are wrapped by the TPM; TCTI default device:/dev/tpmrm0)
//   pkcs11    the key lives in any PKCS#11 token (SoftHSM2, smart card, HSM)
//   software  a PEM file in the state dir (0600), only with insecureSoftwareKey
//
// For tpm2/pkcs11: pkcs11js generates the ECDSA P-256 key in the token (sensitive, never
// extractable; the key is deleted again if anything after generation fails), reads its public
// key and signs CSRs (built by @peculiar/x509). TLS handshakes are signed in the token by libp11's
// OpenSSL engine, which Node only accepts from the OpenSSL config given at start-up: the agent
// calls `await ensureEngineProcess(opts)` first thing, which re-executes the process with
// `--openssl-config=<stateDir>/openssl-pkcs11.cnf` when needed (see engine.ts). A DeviceKey's
// tlsOptions() fails with `engine_unavailable` in a process that was not started that way.
//
// Usage (agent CLI):
//   await ensureEngineProcess(opts);   // first thing: may re-execute this process, then never returns
//   const key = ref ? await loadDeviceKey(opts, ref) : await createDeviceKey(opts, 'gatehouse-device');
//   keep key.reference (JSON) in the state dir; const csr = await key.createCsr({ commonName });
//   const { secureContext } = key.tlsOptions(certificatePem, { ca: gatewayCaPem });
//   new undici.Agent({ connect: { secureContext } })  or  https.request(url, { secureContext })
//   await key.close();
//
// PINs come from a file (never a command line) and are tried exactly once: a wrong PIN fails
// with `wrong_pin` (a TPM locks out after a few failures: `tpm_locked`). Error codes: errors.ts.
//
// Process-wide effects of tpm2: TPM2_PKCS11_TCTI (and TPM2_PKCS11_STORE when tpm2PkcsStore is
// given) are set in process.env, read by tpm2-pkcs11 when it initialises; one TCTI per process.

import { keyError } from './errors.js';
import { createTokenKey, deleteTokenKey, loadTokenKey } from './pkcs11.js';
import { createSoftwareKey, deleteSoftwareKey, loadSoftwareKey } from './software.js';
import type { DeviceKey, KeyProviderOptions, KeyReference } from './types.js';

export type {
  DeviceKey,
  ExtraTlsOptions,
  KeyProtection,
  KeyProviderOptions,
  KeyReference,
  SoftwareKeyReference,
  TokenKeyReference,
} from './types.js';
export type { KeyErrorCode } from './errors.js';
export {
  ENGINE_CONFIG_ENV,
  engineConfigPath,
  engineOpensslConfig,
  ensureEngineProcess,
  isEngineProcess,
  needsEngine,
  writeEngineOpensslConfig,
} from './engine.js';
export { DEFAULT_TPM_TCTI, DEFAULT_TPM2_MODULE, DEFAULT_TPM2_TOKEN } from './paths.js';

const PROVIDERS = ['tpm2', 'pkcs11', 'software'] as const;

function checkOptions(opts: KeyProviderOptions): void {
  if (!opts || !(PROVIDERS as readonly string[]).includes(opts.provider)) {
    throw keyError('invalid_key_options', `unknown key provider ${JSON.stringify(opts?.provider)}`);
  }
  if (typeof opts.stateDir !== 'string' || opts.stateDir === '') {
    throw keyError('invalid_key_options', 'stateDir is required');
  }
}

/** Creates a new ECDSA P-256 device key labelled `label` with the provider of `opts`. */
export async function createDeviceKey(opts: KeyProviderOptions, label: string): Promise<DeviceKey> {
  checkOptions(opts);
  if (typeof label !== 'string' || label.length === 0 || label.length > 64 || /\p{Cc}/u.test(label)) {
    throw keyError('invalid_key_options', 'the key label must be 1-64 characters without controls');
  }
  return opts.provider === 'software' ? createSoftwareKey(opts, label) : createTokenKey(opts, label);
}

function checkReference(opts: KeyProviderOptions, ref: KeyReference): void {
  checkOptions(opts);
  if (!ref || typeof ref !== 'object' || !(PROVIDERS as readonly string[]).includes(ref.provider)) {
    throw keyError('invalid_key_options', 'malformed key reference');
  }
  if (ref.provider !== opts.provider) {
    throw keyError(
      'provider_mismatch',
      `the stored key is a ${ref.provider} key but the provider is ${opts.provider}`,
    );
  }
}

/** Finds the key a previous createDeviceKey() made, from its (JSON round-tripped) reference. */
export async function loadDeviceKey(opts: KeyProviderOptions, ref: KeyReference): Promise<DeviceKey> {
  checkReference(opts, ref);
  return ref.provider === 'software' ? loadSoftwareKey(opts, ref) : loadTokenKey(opts, ref);
}

/**
 * Deletes the key a reference names (token objects, or the software key file): true when it was
 * deleted, false when it was not there. A token key needs its PIN; a key in the token under the
 * reference's id but with another public key is not touched (key_not_found).
 */
export async function deleteDeviceKey(opts: KeyProviderOptions, ref: KeyReference): Promise<boolean> {
  checkReference(opts, ref);
  return ref.provider === 'software' ? deleteSoftwareKey(opts, ref) : deleteTokenKey(opts, ref);
}
