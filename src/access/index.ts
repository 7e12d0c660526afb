/**
 * Access: applications and policies, service tokens, identity logins (authenticate: the one OIDC
 * login flow) and the access decision (authorize: pure), signed session tokens.
 */
export { AccessAppInput, parseDuration, Policy, Rule } from './policy/index.js';
export { IdentityProviderInput } from './oidc/index.js';
export {
  beginLogin,
  type FinishedLogin,
  finishLogin,
  LOGIN_STATE_KEY,
  type LoginIdentity,
  type LoginIdp,
  loginIdp,
  type LoginPurpose,
} from './authenticate/index.js';
export { handleAccess } from './app-login.js';
export { keysFromRows, publicKeysFromRows } from './signing-keys.js';
export {
  type AccessDeps,
  AccessService,
  DEFAULT_SERVICE_TOKEN_DURATION,
  type NewServiceToken,
} from './service.js';
export {
  type AccessDecision,
  type AccessRequest,
  type AccessSnapshot,
  type AccessVerdict,
  authorizeLogin,
  CALLBACK_PATH,
  compileAccess,
  decideAccess,
  JWKS_PATH,
} from './runtime.js';
export { REVOCATION_HORIZON_MS, SessionRevocationInput, sessionRevocationView } from './sessions.js';
export { ASSERTION_HEADER, jwks, readCookies, setCookie } from './tokens/index.js';
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
