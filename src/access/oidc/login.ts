import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  createRemoteJWKSet,
  customFetch,
  errors as joseErrors,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
} from 'jose';
import { type ErrorCode, GatehouseError } from '../../errors/index.js';
import type { OidcMetadata } from './discovery.js';
import { DEFAULT_TIMEOUT_MS, isRecord, type OidcHttpOptions, requestJson } from './http.js';
import { validateReturnTo } from './login-state.js';
import type { IdentityProviderClaims } from './schema.js';

// ---------------------------------------------------------------------------------------------
// Starting a login
// ---------------------------------------------------------------------------------------------

export interface StartLoginOptions {
  metadata: OidcMetadata;
  clientId: string;
  /** `https://<app hostname>/.gatehouse/callback`: must be registered with the IdP as is. */
  redirectUri: string;
  /** Must include 'openid'. */
  scopes: readonly string[];
  /** Where to send the browser after the login; a same-host path (see `validateReturnTo`). */
  returnTo: string;
  /** Extra authorization parameters (`login_hint`, `prompt`, `max_age`, …); cannot override ours. */
  extraParams?: Record<string, string>;
}

export interface StartedLogin {
  /** Where to redirect the browser. */
  authorizationUrl: string;
  state: string;
  nonce: string;
  codeVerifier: string;
  /** The validated `returnTo`. */
  returnTo: string;
}

const OWN_PARAMS = new Set([
  'response_type',
  'client_id',
  'redirect_uri',
  'scope',
  'state',
  'nonce',
  'code_challenge',
  'code_challenge_method',
  'response_mode',
  'request',
  'request_uri',
]);

const random32 = () => randomBytes(32).toString('base64url');

/** The S256 PKCE challenge of a verifier (RFC 7636 §4.2). */
export function pkceChallenge(codeVerifier: string): string {
  return createHash('sha256').update(codeVerifier, 'ascii').digest('base64url');
}

/**
 * Builds the authorization request: response_type=code, PKCE S256, and fresh random 32-byte
 * `state`, `nonce` and code verifier. The caller keeps `state`, `nonce`, `codeVerifier` and
 * `returnTo` (sealed in a cookie: `sealLoginState`) for `completeLogin`.
 */
export function startLogin(opts: StartLoginOptions): StartedLogin {
  if (!opts.scopes.includes('openid')) {
    throw new GatehouseError('invalid_identity_provider', "the scopes must include 'openid'", 400);
  }
  const returnTo = validateReturnTo(opts.returnTo);
  const state = random32();
  const nonce = random32();
  const codeVerifier = random32();
  const url = new URL(opts.metadata.authorization_endpoint);
  for (const [k, v] of Object.entries(opts.extraParams ?? {})) {
    if (OWN_PARAMS.has(k)) throw new TypeError(`startLogin: extraParams cannot set ${k}`);
    url.searchParams.set(k, v);
  }
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('client_id', opts.clientId);
  url.searchParams.set('redirect_uri', opts.redirectUri);
  url.searchParams.set('scope', opts.scopes.join(' '));
  url.searchParams.set('state', state);
  url.searchParams.set('nonce', nonce);
  url.searchParams.set('code_challenge', pkceChallenge(codeVerifier));
  url.searchParams.set('code_challenge_method', 'S256');
  return { authorizationUrl: url.toString(), state, nonce, codeVerifier, returnTo };
}

// ---------------------------------------------------------------------------------------------
// The IdP's signing keys
// ---------------------------------------------------------------------------------------------

/**
 * One jose remote key set per `jwks_uri`, so that keys are fetched once and re-fetched only on an
 * unknown `kid` (at most every 30 s) or after 10 minutes.
 */
export class JwksCache {
  private readonly sets = new Map<string, JWTVerifyGetKey>();

  constructor(private readonly http: OidcHttpOptions = {}) {}

  get(jwksUri: string): JWTVerifyGetKey {
    let set = this.sets.get(jwksUri);
    if (!set) {
      const doFetch = this.http.fetch;
      set = createRemoteJWKSet(new URL(jwksUri), {
        timeoutDuration: this.http.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        cooldownDuration: 30_000,
        cacheMaxAge: 10 * 60_000,
        ...(doFetch ? { [customFetch]: (url: string, init: RequestInit) => doFetch(url, init) } : {}),
      });
      this.sets.set(jwksUri, set);
    }
    return set;
  }

  delete(jwksUri: string): void {
    this.sets.delete(jwksUri);
  }
}

// One cache per fetch implementation (the global one, or each injected one).
const jwksCaches = new WeakMap<typeof fetch, JwksCache>();
function jwksCacheFor(http: OidcHttpOptions): JwksCache {
  const key = http.fetch ?? globalThis.fetch;
  let cache = jwksCaches.get(key);
  if (!cache) {
    cache = new JwksCache(http);
    jwksCaches.set(key, cache);
  }
  return cache;
}

// ---------------------------------------------------------------------------------------------
// Completing a login
// ---------------------------------------------------------------------------------------------

export interface CompleteLoginOptions extends OidcHttpOptions {
  metadata: OidcMetadata;
  clientId: string;
  clientSecret: string;
  /** The same redirect_uri as in the authorization request. */
  redirectUri: string;
  /** The full URL the IdP redirected the browser to (with its query string). */
  callbackUrl: string | URL;
  /** From the login state (`openLoginState`). */
  expected: { state: string; nonce: string; codeVerifier: string };
  /** Claim names, from the identity provider's configuration. */
  claims: IdentityProviderClaims;
  /** Key sets for ID token verification; defaults to a process-wide cache per fetch function. */
  jwks?: JwksCache;
  /** Allowed clock skew for exp/iat/nbf. Default 60 s. */
  clockToleranceSec?: number;
  /** Clock, for tests. */
  now?: () => number;
}

export interface CompletedLogin {
  /** The ID token's `sub`. */
  subject: string;
  /** Lower-cased. */
  email: string;
  /** The IdP's `email_verified`, when it sent one (a false one is refused). */
  emailVerified?: boolean;
  groups: string[];
  /** The verified ID token's payload. */
  idTokenClaims: JWTPayload;
  /** The UserInfo response, when it was needed for the e-mail or groups claim. */
  userinfoClaims?: Record<string, unknown>;
  /** The raw ID token (e.g. for an `id_token_hint` at logout). */
  idToken: string;
}

/** An error response from the IdP's authorization endpoint (`?error=…`). */
export class IdpError extends GatehouseError {
  constructor(
    readonly error: string,
    readonly errorDescription?: string,
  ) {
    super(
      'idp_error',
      `the identity provider refused the login: ${error}${errorDescription ? ` (${errorDescription})` : ''}`,
      400,
    );
    this.name = 'IdpError';
  }
}

/** Asymmetric JWS algorithms accepted for ID tokens: never `none`, never HMAC. */
export const ID_TOKEN_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
];

// jose errors that are about the token itself; any other failure is about reaching the keys.
const TOKEN_ERRORS = [
  joseErrors.JWTClaimValidationFailed,
  joseErrors.JWTExpired,
  joseErrors.JWTInvalid,
  joseErrors.JWSInvalid,
  joseErrors.JWSSignatureVerificationFailed,
  joseErrors.JOSEAlgNotAllowed,
  joseErrors.JOSENotSupported,
  joseErrors.JWKSNoMatchingKey,
  joseErrors.JWKSMultipleMatchingKeys,
];

function sameString(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

const refused = (code: ErrorCode, message: string, status = 400, cause?: unknown) =>
  new GatehouseError(code, message, status, { cause });

/**
 * Finishes an authorization-code login at the redirect_uri:
 *
 * 1. `state` must equal the expected one (`state_mismatch`); an `iss` parameter (RFC 9207), when
 *    present or promised by discovery, must equal the issuer (`callback_invalid`);
 * 2. `error=…` from the IdP becomes `IdpError` (code `idp_error`, `.error` the IdP's code);
 * 3. the code is exchanged at the token endpoint with the PKCE verifier, authenticating with
 *    client_secret_basic, or client_secret_post when that is all the IdP offers
 *    (`token_exchange_failed`, 502);
 * 4. the ID token is verified with the IdP's JWKS: signature (asymmetric algorithms only), `iss`,
 *    `aud` ∋ client_id, `exp`, `iat`, `nonce`, and `azp` = client_id when present or when there are
 *    several audiences (`id_token_invalid`);
 * 5. the e-mail and groups claims are read from the ID token, else from UserInfo (whose `sub` must
 *    match). No e-mail is `email_missing` (403). `email_verified: false` (boolean, or the string
 *    "false" some IdPs send) is `email_not_verified` (403): an unverified address must not pass
 *    e-mail policies. An absent `email_verified` is accepted: many IdPs (e.g. Entra ID) never send
 *    it and only issue addresses they control. The address is returned lower-cased. A UserInfo
 *    call that fails fails the login: a group-based exclusion must never be skipped silently.
 */
export async function completeLogin(opts: CompleteLoginOptions): Promise<CompletedLogin> {
  const { metadata } = opts;
  let url: URL;
  try {
    url = typeof opts.callbackUrl === 'string' ? new URL(opts.callbackUrl) : opts.callbackUrl;
  } catch (err) {
    throw refused('callback_invalid', 'the callback URL is not a valid URL', 400, err);
  }
  const params = url.searchParams;
  const single = (name: string): string | undefined => {
    const all = params.getAll(name);
    if (all.length > 1) throw refused('callback_invalid', `the callback repeats the ${name} parameter`);
    return all[0];
  };

  const state = single('state');
  if (state === undefined || !sameString(state, opts.expected.state)) {
    throw refused('state_mismatch', 'the callback state does not match this login; start the login again');
  }
  const iss = single('iss');
  if (iss !== undefined ? iss !== metadata.issuer : metadata.authorization_response_iss_parameter_supported) {
    throw refused('callback_invalid', 'the callback does not come from the configured issuer (iss)');
  }
  const error = single('error');
  if (error !== undefined) throw new IdpError(error, single('error_description'));
  const code = single('code');
  if (!code) throw refused('callback_invalid', 'the callback has neither a code nor an error');

  const tokens = await exchangeCode(opts, code);
  const idTokenClaims = await verifyIdToken(opts, tokens.idToken);
  const subject = idTokenClaims.sub as string;

  let userinfoClaims: Record<string, unknown> | undefined;
  const missing = (name: string) => idTokenClaims[name] === undefined || idTokenClaims[name] === null;
  if ((missing(opts.claims.email) || missing(opts.claims.groups)) && metadata.userinfo_endpoint) {
    userinfoClaims = await fetchUserinfo(opts, tokens.accessToken, subject);
  }
  const from = (name: string): Record<string, unknown> | undefined =>
    !missing(name)
      ? idTokenClaims
      : userinfoClaims && userinfoClaims[name] != null
        ? userinfoClaims
        : undefined;

  const emailSource = from(opts.claims.email);
  const rawEmail = emailSource?.[opts.claims.email];
  if (typeof rawEmail !== 'string' || !/^[^\s@]+@[^\s@]+$/.test(rawEmail.trim())) {
    throw refused(
      'email_missing',
      `the identity provider sent no e-mail address in the "${opts.claims.email}" claim`,
      403,
    );
  }
  const rawVerified = emailSource?.email_verified;
  const emailVerified =
    rawVerified === true || rawVerified === 'true'
      ? true
      : rawVerified === false || rawVerified === 'false'
        ? false
        : undefined;
  if (emailVerified === false && opts.claims.email === 'email') {
    throw refused('email_not_verified', `the identity provider has not verified ${rawEmail}`, 403);
  }

  const rawGroups = from(opts.claims.groups)?.[opts.claims.groups];
  const groups =
    typeof rawGroups === 'string'
      ? [rawGroups]
      : Array.isArray(rawGroups)
        ? rawGroups.filter((g): g is string => typeof g === 'string')
        : [];

  const result: CompletedLogin = {
    subject,
    email: rawEmail.trim().toLowerCase(),
    groups,
    idTokenClaims,
    idToken: tokens.idToken,
  };
  if (emailVerified !== undefined) result.emailVerified = emailVerified;
  if (userinfoClaims) result.userinfoClaims = userinfoClaims;
  return result;
}

async function exchangeCode(
  opts: CompleteLoginOptions,
  code: string,
): Promise<{ idToken: string; accessToken?: string }> {
  const methods = opts.metadata.token_endpoint_auth_methods_supported;
  const form = new URLSearchParams({
    grant_type: 'authorization_code',
    code,
    redirect_uri: opts.redirectUri,
    code_verifier: opts.expected.codeVerifier,
  });
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (methods.includes('client_secret_basic')) {
    // RFC 6749 §2.3.1: both halves form-urlencoded before base64.
    const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
    headers.authorization = `Basic ${Buffer.from(`${enc(opts.clientId)}:${enc(opts.clientSecret)}`).toString('base64')}`;
  } else if (methods.includes('client_secret_post')) {
    form.set('client_id', opts.clientId);
    form.set('client_secret', opts.clientSecret);
  } else {
    throw refused(
      'token_exchange_failed',
      `the identity provider supports neither client_secret_basic nor client_secret_post (it offers: ${methods.join(', ')})`,
      502,
    );
  }
  const what = 'token request';
  const res = await requestJson(
    opts.metadata.token_endpoint,
    { method: 'POST', headers, body: form.toString() },
    { ...opts, code: 'token_exchange_failed', what },
  );
  const body = isRecord(res.json) ? res.json : undefined;
  if (res.status !== 200) {
    const err = typeof body?.error === 'string' ? body.error : `HTTP ${res.status}`;
    const desc = typeof body?.error_description === 'string' ? ` (${body.error_description})` : '';
    throw refused('token_exchange_failed', `the identity provider refused the code: ${err}${desc}`, 502);
  }
  if (!body) throw refused('token_exchange_failed', 'the token response is not a JSON object', 502);
  if (typeof body.id_token !== 'string' || body.id_token.length === 0) {
    throw refused('token_exchange_failed', 'the token response has no id_token', 502);
  }
  const tokenType = typeof body.token_type === 'string' ? body.token_type.toLowerCase() : 'bearer';
  const accessToken =
    typeof body.access_token === 'string' && tokenType === 'bearer' ? body.access_token : undefined;
  return accessToken ? { idToken: body.id_token, accessToken } : { idToken: body.id_token };
}

async function verifyIdToken(opts: CompleteLoginOptions, idToken: string): Promise<JWTPayload> {
  const jwks = (opts.jwks ?? jwksCacheFor(opts)).get(opts.metadata.jwks_uri);
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(idToken, jwks, {
      issuer: opts.metadata.issuer,
      audience: opts.clientId,
      algorithms: ID_TOKEN_ALGORITHMS,
      clockTolerance: opts.clockToleranceSec ?? 60,
      requiredClaims: ['sub', 'iat', 'exp'],
      ...(opts.now ? { currentDate: new Date(opts.now()) } : {}),
    }));
  } catch (err) {
    const e = err as Error & { code?: string };
    if (!TOKEN_ERRORS.some((cls) => err instanceof cls)) {
      // The key set could not be had (timeout, HTTP error, not a JWKS, network): the IdP's fault.
      throw refused(
        'idp_keys_unavailable',
        `cannot fetch the identity provider's signing keys from ${opts.metadata.jwks_uri}: ${e.message}`,
        502,
        err,
      );
    }
    throw refused(
      'id_token_invalid',
      `the ID token was rejected: ${e.code ?? e.name}: ${e.message}`,
      400,
      err,
    );
  }
  const bad = (why: string) => refused('id_token_invalid', `the ID token was rejected: ${why}`);
  if (typeof payload.sub !== 'string' || payload.sub.length === 0) throw bad('no sub');
  if (typeof payload.nonce !== 'string' || !sameString(payload.nonce, opts.expected.nonce)) {
    throw bad('nonce mismatch (a replayed or foreign token)');
  }
  const multiAud = Array.isArray(payload.aud) && payload.aud.length > 1;
  if (payload.azp !== undefined || multiAud) {
    if (payload.azp !== opts.clientId) throw bad('azp is not this client');
  }
  return payload;
}

async function fetchUserinfo(
  opts: CompleteLoginOptions,
  accessToken: string | undefined,
  subject: string,
): Promise<Record<string, unknown> | undefined> {
  if (!accessToken || !opts.metadata.userinfo_endpoint) return undefined;
  const res = await requestJson(
    opts.metadata.userinfo_endpoint,
    { method: 'GET', headers: { authorization: `Bearer ${accessToken}` } },
    { ...opts, code: 'userinfo_failed', what: 'UserInfo request' },
  );
  if (res.status !== 200) {
    throw refused(
      'userinfo_failed',
      `UserInfo request: the identity provider answered HTTP ${res.status}`,
      502,
    );
  }
  if (!isRecord(res.json)) {
    throw refused('userinfo_failed', 'UserInfo request: the response is not a JSON object', 502);
  }
  // OIDC Core §5.3.2: the UserInfo sub must be the ID token's, or the response must not be used.
  if (res.json.sub !== subject) {
    throw refused('userinfo_failed', "UserInfo request: the response's sub is not the ID token's", 502);
  }
  return res.json;
}
