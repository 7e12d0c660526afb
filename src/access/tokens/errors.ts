import { GatehouseError } from '../../errors/index.js';

/**
 * Why an access token was refused. Every refusal is a 401: the client has to authenticate again
 * (the edge re-runs the app's policies and issues a new token), it is never a server fault.
 */
export type AccessTokenErrorCode =
  | 'token_malformed'
  | 'token_algorithm'
  | 'token_signature'
  | 'token_unknown_key'
  | 'token_expired'
  | 'token_not_yet_valid'
  | 'token_audience'
  | 'token_issuer'
  | 'token_binding'
  /** A per-request ("0s") assertion presented as a session cookie. */
  | 'token_single_use';

export function tokenError(code: AccessTokenErrorCode, message: string): GatehouseError {
  return new GatehouseError(code, message, 401);
}
