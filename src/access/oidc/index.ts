/**
 * OpenID Connect relying party for identity logins: the identity-provider configuration schema,
 * discovery, the authorization-code + PKCE login (start and callback), and the sealed login state
 * that crosses the IdP redirect in a cookie. No HTTP routes here: the edge and the API use these.
 */
export {
  DEFAULT_SCOPES,
  IdentityProviderClaims,
  IdentityProviderInput,
  LOOPBACK_HOSTS,
  parseIdentityProviderInput,
  parseIdpUrl,
} from './schema.js';
export { DEFAULT_TIMEOUT_MS, type OidcHttpOptions } from './http.js';
export {
  discover,
  DISCOVERY_TTL_MS,
  type DiscoverOptions,
  discoveryUrl,
  MetadataCache,
  type OidcMetadata,
} from './discovery.js';
export {
  type CompletedLogin,
  completeLogin,
  type CompleteLoginOptions,
  ID_TOKEN_ALGORITHMS,
  IdpError,
  JwksCache,
  pkceChallenge,
  type StartedLogin,
  startLogin,
  type StartLoginOptions,
} from './login.js';
export {
  deriveLoginStateKey,
  LOGIN_STATE_TTL_MS,
  type LoginState,
  type LoginStateOptions,
  MAX_RETURN_TO_LENGTH,
  openLoginState,
  sealLoginState,
  validateReturnTo,
} from './login-state.js';
