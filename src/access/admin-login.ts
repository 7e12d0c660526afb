import { jwtVerify, SignJWT } from 'jose';
import { GatehouseError } from '../errors/index.js';
import { beginLogin, finishLogin, LOGIN_PURPOSES, type LoginIdp } from './authenticate/index.js';
import { readCookies, setCookie } from './tokens/index.js';

/**
 * Admin sign-in to the control plane with the organization's OIDC provider.
 *
 * Who may become an admin is set by the operator when the server starts (`gatehouse serve
 * --admin-idp ID --admin-email … --admin-group …`), not through the API: a person signed in this
 * way can therefore never widen the list that let them in. Every request re-checks the current
 * list, so removing an address and restarting ends that person's sessions at once.
 */
export interface AdminSignInConfig {
  /** The identity provider (an id from /identity_providers) admins sign in with. */
  identityProviderId: string;
  /** Lower-cased e-mail addresses allowed to sign in. */
  emails: string[];
  /** IdP groups whose members may sign in. */
  groups: string[];
}

export const ADMIN_SESSION_COOKIE = 'Gatehouse_Admin';
/** Cookie-authenticated API calls must carry this header (a cross-site page cannot set it). */
export const ADMIN_CSRF_HEADER = 'gatehouse-csrf';
export const ADMIN_SESSION_TTL_SECONDS = 8 * 3600;
export const ADMIN_CALLBACK_PATH = LOGIN_PURPOSES.console.callbackPath;

export interface AdminIdentity {
  email: string;
  groups: string[];
}

/** Pure: does the allow-list admit this identity (by e-mail, or by one of its groups)? */
export function isAllowedAdmin(config: AdminSignInConfig, identity: AdminIdentity): boolean {
  const email = identity.email.toLowerCase();
  return config.emails.includes(email) || identity.groups.some((g) => config.groups.includes(g));
}

/** Builds the configuration from the serve options; undefined when no IdP is named. */
export function adminSignInConfig(input: {
  identityProviderId?: string;
  emails?: string[];
  groups?: string[];
}): AdminSignInConfig | undefined {
  if (!input.identityProviderId) return undefined;
  const list = (values: string[] | undefined) =>
    (values ?? [])
      .flatMap((v) => v.split(','))
      .map((v) => v.trim())
      .filter(Boolean);
  const config = {
    identityProviderId: input.identityProviderId,
    emails: list(input.emails).map((e) => e.toLowerCase()),
    groups: list(input.groups),
  };
  if (config.emails.length === 0 && config.groups.length === 0) {
    throw new GatehouseError(
      'invalid_argument',
      '--admin-idp needs at least one --admin-email or --admin-group (who may sign in as an admin)',
    );
  }
  return config;
}

// Strict: the session never rides along on a navigation from another site.
const adminSessionCookie = (token: string, maxAgeSeconds: number) =>
  setCookie(ADMIN_SESSION_COOKIE, token, { maxAgeSeconds, path: '/', sameSite: 'Strict' });

/**
 * Starts a login: the IdP's authorization URL and the state cookie. `origin` is the control plane
 * as the browser sees it; `${origin}/api/v1/admin/oidc/callback` must be registered at the IdP.
 */
export function startAdminLogin(opts: {
  idp: LoginIdp;
  origin: string;
  stateKey: Buffer;
  now: Date;
}): Promise<{ redirect: string; setCookie: string }> {
  const { idp, origin, stateKey, now } = opts;
  return beginLogin(idp, 'console', { stateKey, origin, returnTo: '/', now });
}

/**
 * Finishes a login at the callback: verifies it with the IdP (state, PKCE, ID token), checks the
 * allow-list, and returns the admin session cookie. Refusals are GatehouseErrors
 * (`admin_not_allowed`, 403, for an identity outside the list).
 */
export async function completeAdminLogin(opts: {
  config: AdminSignInConfig;
  idp: LoginIdp;
  origin: string;
  /** The callback's request target (path and query). */
  callbackUrl: string;
  cookieHeader: string | string[] | undefined;
  stateKey: Buffer;
  sessionKey: Buffer;
  now: Date;
}): Promise<{ identity: AdminIdentity; setCookie: string[] }> {
  // The state must name the configured IdP: one sealed before it was changed is refused.
  const { idp, origin, callbackUrl, cookieHeader, stateKey, now } = opts;
  const login = await finishLogin('console', { idp, origin, callbackUrl, cookieHeader, stateKey, now });
  const identity = { email: login.identity.email, groups: login.identity.groups };
  if (!isAllowedAdmin(opts.config, identity)) {
    throw new GatehouseError('admin_not_allowed', `${identity.email} is not an admin of this Gatehouse`, 403);
  }
  const token = await new SignJWT({ idp: opts.idp.id, groups: identity.groups })
    .setProtectedHeader({ alg: 'HS256', typ: 'gatehouse-admin+jwt' })
    .setSubject(identity.email)
    .setIssuedAt(Math.floor(opts.now.getTime() / 1000))
    .setExpirationTime(Math.floor(opts.now.getTime() / 1000) + ADMIN_SESSION_TTL_SECONDS)
    .sign(opts.sessionKey);
  return { identity, setCookie: [adminSessionCookie(token, ADMIN_SESSION_TTL_SECONDS), login.clearCookie] };
}

export const clearAdminSessionCookie = () => adminSessionCookie('', 0);

/**
 * The admin behind a session cookie, or undefined when there is none or it is not valid (bad
 * signature, expired, another IdP than the configured one, or no longer on the allow-list).
 */
export async function verifyAdminSession(opts: {
  config: AdminSignInConfig | undefined;
  cookieHeader: string | string[] | undefined;
  sessionKey: Buffer;
  now: Date;
}): Promise<AdminIdentity | undefined> {
  if (!opts.config) return undefined;
  for (const token of readCookies(opts.cookieHeader, ADMIN_SESSION_COOKIE)) {
    try {
      const { payload } = await jwtVerify(token, opts.sessionKey, {
        algorithms: ['HS256'],
        typ: 'gatehouse-admin+jwt',
        currentDate: opts.now,
      });
      const groups = Array.isArray(payload.groups)
        ? payload.groups.filter((g): g is string => typeof g === 'string')
        : [];
      const identity = { email: String(payload.sub), groups };
      if (payload.idp === opts.config.identityProviderId && isAllowedAdmin(opts.config, identity)) {
        return identity;
      }
    } catch {
      // not a valid session: try the next cookie of that name, else unauthenticated
    }
  }
  return undefined;
}
