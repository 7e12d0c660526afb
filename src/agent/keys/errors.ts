import { GatehouseError } from '../../errors/index.js';

/**
 * Error codes of the key providers (GatehouseError.code), printed by the agent CLI.
 * - `no_tpm`: no usable TPM / token library: the PKCS#11 module cannot be loaded or initialised,
 *   the TCTI is unreachable
 * - `tpm_locked`: the TPM is in dictionary-attack lockout (or the token's user PIN is locked)
 * - `wrong_pin`: the token refused the PIN (CKR_PIN_INCORRECT); never retried
 * - `pin_unavailable`: no PIN file given, or it cannot be read
 * - `token_not_found`, `key_not_found`
 * - `insecure_key_refused`: a software key without `insecureSoftwareKey`
 * - `insecure_key_permissions`: the software key file is readable by group or others
 * - `key_not_protected`: the token made a key that is extractable or not sensitive (it is deleted)
 * - `engine_unavailable`: the process cannot sign the TLS handshake in the token (engine missing,
 *   process not started with the engine config: see ensureEngineProcess)
 * - `provider_mismatch`: the reference belongs to another provider than the options name
 * - `invalid_key_options`: options or label unusable
 * - `token_error`: any other failure reported by the token
 */
export type KeyErrorCode =
  | 'no_tpm'
  | 'tpm_locked'
  | 'wrong_pin'
  | 'pin_unavailable'
  | 'token_not_found'
  | 'key_not_found'
  | 'insecure_key_refused'
  | 'insecure_key_permissions'
  | 'key_not_protected'
  | 'engine_unavailable'
  | 'provider_mismatch'
  | 'invalid_key_options'
  | 'token_error';

export function keyError(code: KeyErrorCode, message: string, cause?: unknown): GatehouseError {
  return new GatehouseError(code, message, 400, cause === undefined ? undefined : { cause });
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
