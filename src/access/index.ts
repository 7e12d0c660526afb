/** Access: applications and policies, service tokens, identity logins and signed session tokens. */
export { AccessAppInput, parseDuration, Policy, Rule } from './policy/index.js';
export {
  completeLogin,
  discover,
  type IdentityProviderClaims,
  IdentityProviderInput,
  JwksCache,
  MetadataCache,
  openLoginState,
  sealLoginState,
  startLogin,
} from './oidc/index.js';
export { keysFromRows, publicKeysFromRows } from './signing-keys.js';
export { AccessService, DEFAULT_SERVICE_TOKEN_DURATION, type NewServiceToken } from './service.js';
export {
  type AccessDecision,
  type AccessRequest,
  type AccessSnapshot,
  CALLBACK_PATH,
  compileAccess,
  decideAccess,
  JWKS_PATH,
} from './runtime.js';
export { REVOCATION_HORIZON_MS, SessionRevocationInput, sessionRevocationView } from './sessions.js';
export { ASSERTION_HEADER, jwks, readCookies } from './tokens/index.js';
export {
  ADMIN_CALLBACK_PATH,
  ADMIN_CSRF_HEADER,
  ADMIN_SESSION_COOKIE,
  type AdminIdentity,
  type AdminSignInConfig,
  adminSignInConfig,
  clearAdminSessionCookie,
  completeAdminLogin,
  isAllowedAdmin,
  startAdminLogin,
  verifyAdminSession,
} from './admin-login.js';
