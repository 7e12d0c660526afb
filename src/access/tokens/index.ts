// Access tokens: ES256 JWTs bound to the client certificate (RFC 8705), their signing keys and
// JWKS, and the session cookie. Pure functions: the caller stores the keys.
export {
  ACCESS_TOKEN_TYPE,
  type AccessTokenClaims,
  type AccessTokenInput,
  ASSERTION_HEADER,
  type CertificateConfirmation,
  MAX_TOKEN_LENGTH,
  signAccessToken,
  type SignAccessTokenOptions,
  SINGLE_REQUEST_TOKEN_LIFETIME_MS,
  verifyAccessToken,
  type VerifyAccessTokenOptions,
} from './access-token.js';
export {
  clearSessionCookie,
  type CookieAttributes,
  readCookie,
  readCookies,
  SESSION_COOKIE_NAME,
  sessionCookie,
  setCookie,
  type SessionCookieOptions,
} from './cookie.js';
export { type AccessTokenErrorCode, tokenError } from './errors.js';
export {
  activeSigningKey,
  DEFAULT_CLOCK_TOLERANCE_MS,
  type EcPrivateJwk,
  type EcPublicJwk,
  generateSigningKey,
  jwks,
  type Jwks,
  jwkThumbprint,
  KeySet,
  type PublishedJwk,
  pruneSigningKeys,
  rotateSigningKeys,
  type RotationResult,
  SIGNING_ALGORITHM,
  type SigningAlgorithm,
  type PublicSigningKey,
  type SigningKey,
  verifyingKeys,
} from './keys.js';
export { isX5tS256, x5tS256 } from './thumbprint.js';
