import { GatehouseError } from '../../errors/index.js';
import type { IdentityProvider } from '../../store/index.js';
import {
  completeLogin,
  discover,
  type IdentityProviderClaims,
  JwksCache,
  LOGIN_STATE_TTL_MS,
  MetadataCache,
  openLoginState,
  sealLoginState,
  startLogin,
} from '../oidc/index.js';
import { readCookies, setCookie } from '../tokens/index.js';
import { LOGIN_PURPOSES, type LoginPurpose, purposeKey } from './purposes.js';

/** An identity provider as a login needs it: its client secret opened, its JSON columns decoded. */
export interface LoginIdp {
  id: string;
  name: string;
  issuer: string;
  clientId: string;
  clientSecret: string;
  scopes: readonly string[];
  claims: IdentityProviderClaims;
}

/** The stored identity provider as a login needs it (`openSecret`: the authority's `openKey`). */
export function loginIdp(
  row: IdentityProvider,
  openSecret: (sealed: string, aad: string) => string,
): LoginIdp {
  return {
    id: row.id,
    name: row.name,
    issuer: row.issuer,
    clientId: row.client_id,
    clientSecret: openSecret(row.sealed_client_secret, `idp:${row.id}`),
    scopes: row.scopes,
    claims: row.claims,
  };
}

/** Who signed in: verified by the IdP (ID token, and UserInfo when needed). */
export interface LoginIdentity {
  issuer: string;
  subject: string;
  /** Lower-cased. */
  email: string;
  groups: string[];
}

export interface FinishedLogin {
  idp: LoginIdp;
  identity: LoginIdentity;
  /** The same-host path the login was begun for. */
  returnTo: string;
  /** The `Set-Cookie` that deletes the state cookie. */
  clearCookie: string;
}

// The one cache pair: discovery documents by issuer, the IdPs' key sets by jwks_uri.
const metadataCache = new MetadataCache();
const jwksCache = new JwksCache();

/**
 * States already presented at a callback (by their random `state`), until they expire: a state is
 * used once, whether its login then succeeds or fails. Per process; the IdP's single-use code backs
 * it up across nodes.
 */
class UsedStates {
  readonly #until = new Map<string, number>();

  /** Records `state`; false when it was recorded before. */
  use(state: string, expires: number, now: number): boolean {
    if (this.#until.size >= 1024) {
      for (const [s, until] of this.#until) if (until <= now) this.#until.delete(s);
    }
    const seen = this.#until.get(state);
    if (seen !== undefined && seen > now) return false;
    this.#until.set(state, expires);
    return true;
  }
}

const usedStates = new UsedStates();

const stateCookie = (purpose: LoginPurpose, value: string, maxAgeSeconds: number) =>
  setCookie(LOGIN_PURPOSES[purpose].cookie, value, {
    maxAgeSeconds,
    path: LOGIN_PURPOSES[purpose].cookiePath,
    // Lax, not Strict: the IdP's redirect back to the callback is a cross-site navigation.
    sameSite: 'Lax',
  });

export interface BeginLoginOptions {
  /** The login-state root key (`authority.derivedKey(LOGIN_STATE_KEY)`); the purpose's key is derived. */
  stateKey: Buffer;
  /** `https://host[:port]` as the browser sees it: the redirect URI is origin + the purpose's callback. */
  origin: string;
  /** Same-host path to come back to after the login (for a device login: the login it approves). */
  returnTo: string;
  now: Date;
  /** Milliseconds since the epoch, when the state must expire earlier than in 10 minutes. */
  expires?: number;
}

/**
 * Begins a login: the IdP's authorization URL (code flow, PKCE S256, fresh state and nonce) and the
 * `Set-Cookie` of the state sealed for this purpose and IdP.
 */
export async function beginLogin(
  idp: LoginIdp,
  purpose: LoginPurpose,
  opts: BeginLoginOptions,
): Promise<{ redirect: string; setCookie: string }> {
  const settings = LOGIN_PURPOSES[purpose];
  const metadata = await discover(idp.issuer, { cache: metadataCache });
  const login = startLogin({
    metadata,
    clientId: idp.clientId,
    redirectUri: `${opts.origin}${settings.callbackPath}`,
    scopes: idp.scopes,
    returnTo: opts.returnTo,
  });
  const now = opts.now.getTime();
  const sealed = sealLoginState(
    purposeKey(opts.stateKey, purpose),
    {
      state: login.state,
      nonce: login.nonce,
      codeVerifier: login.codeVerifier,
      returnTo: login.returnTo,
      idpId: idp.id,
      ...(opts.expires !== undefined ? { expires: opts.expires } : {}),
    },
    { now, purpose },
  );
  return {
    redirect: login.authorizationUrl,
    setCookie: stateCookie(purpose, sealed, Math.floor(LOGIN_STATE_TTL_MS / 1000)),
  };
}

export interface FinishLoginOptions {
  stateKey: Buffer;
  /** The same origin as when the login began. */
  origin: string;
  /** The request target of the callback (path and query), as the IdP redirected the browser. */
  callbackUrl: string;
  cookieHeader: string | readonly string[] | undefined;
  /**
   * The IdP the state must name (a state sealed for another one is `login_state_invalid`), or how
   * to find the one it names (none is `identity_provider_removed`).
   */
  idp: LoginIdp | ((id: string) => LoginIdp | undefined | Promise<LoginIdp | undefined>);
  now: Date;
}

/**
 * Finishes a login at the purpose's callback. Refusals are GatehouseErrors (400 unless noted):
 * `login_state_missing` (no state cookie), `login_state_invalid` (altered, expired, sealed for
 * another purpose or another IdP), `login_state_replayed` (presented before), then
 * `identity_provider_removed` and the OIDC callback's own codes (`state_mismatch`, `idp_error`,
 * `id_token_invalid`, `email_missing` 403, `token_exchange_failed` 502, …).
 */
export async function finishLogin(purpose: LoginPurpose, opts: FinishLoginOptions): Promise<FinishedLogin> {
  const settings = LOGIN_PURPOSES[purpose];
  const sealed = readCookies(opts.cookieHeader, settings.cookie)[0];
  if (!sealed) {
    throw new GatehouseError(
      'login_state_missing',
      'no sign-in is under way here: it took too long, or cookies are off; start it again',
      400,
    );
  }
  const now = opts.now.getTime();
  const state = openLoginState(purposeKey(opts.stateKey, purpose), sealed, { now, purpose });
  let idp: LoginIdp | undefined;
  if (typeof opts.idp === 'function') {
    idp = await opts.idp(state.idpId);
    if (!idp) {
      throw new GatehouseError(
        'identity_provider_removed',
        'the identity provider was removed; start again',
        400,
      );
    }
  } else if (opts.idp.id === state.idpId) {
    idp = opts.idp;
  } else {
    throw new GatehouseError(
      'login_state_invalid',
      'login state was sealed for another identity provider; start the login again',
      400,
    );
  }
  if (!usedStates.use(state.state, state.expires, now)) {
    throw new GatehouseError('login_state_replayed', 'this sign-in was already used; start it again', 400);
  }
  const metadata = await discover(idp.issuer, { cache: metadataCache });
  const completed = await completeLogin({
    metadata,
    clientId: idp.clientId,
    clientSecret: idp.clientSecret,
    redirectUri: `${opts.origin}${settings.callbackPath}`,
    callbackUrl: `${opts.origin}${opts.callbackUrl}`,
    expected: { state: state.state, nonce: state.nonce, codeVerifier: state.codeVerifier },
    claims: idp.claims,
    jwks: jwksCache,
  });
  return {
    idp,
    identity: {
      issuer: metadata.issuer,
      subject: completed.subject,
      email: completed.email,
      groups: completed.groups,
    },
    returnTo: state.returnTo,
    clearCookie: stateCookie(purpose, '', 0),
  };
}
