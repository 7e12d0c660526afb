import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AccessApp, IdentityProvider, ServiceToken, SessionRevocation } from '../store/index.js';
import { type FinishedLogin, LOGIN_PURPOSES, type LoginIdp, loginIdp } from './authenticate/index.js';
import {
  AppIndex,
  type CompiledPolicies,
  compilePolicies,
  parseDuration,
  type Policy,
  type RequestFacts,
  sessionDurationMsFor,
} from './policy/index.js';
import { SessionRevocations } from './sessions.js';
import {
  type AccessTokenClaims,
  type AccessTokenInput,
  type Jwks,
  jwks,
  KeySet,
  readCookies,
  SESSION_COOKIE_NAME,
  type SigningKey,
  sessionCookie,
  signAccessToken,
  SINGLE_REQUEST_TOKEN_LIFETIME_MS,
  verifyAccessToken,
  x5tS256,
} from './tokens/index.js';

export const CALLBACK_PATH = LOGIN_PURPOSES.app.callbackPath;
export const JWKS_PATH = '/.well-known/jwks.json';
export const CLIENT_ID_HEADER = 'gatehouse-access-client-id';
export const CLIENT_SECRET_HEADER = 'gatehouse-access-client-secret';

interface AppRuntime {
  id: string;
  name: string;
  hostname: string;
  pathPrefix: string;
  aud: string;
  sessionMs: number;
  /** Undefined when the stored policies no longer compile: the app then denies everything. */
  policies: CompiledPolicies | undefined;
  needsCertificate: boolean;
  postureIds: readonly string[];
  allowedIdps: string[];
}

/** Everything Access needs per request, compiled once per configuration version. */
export interface AccessSnapshot {
  issuer: string;
  apps: AppIndex<AppRuntime>;
  keys: KeySet;
  jwks: Jwks;
  serviceTokens: ReadonlyMap<string, { id: string; hash: Buffer; expiresAtMs: number }>;
  /** Service token id → when it stops counting for a session: expiry, and its last rotation. */
  serviceTokenIds: ReadonlyMap<string, { expiresAtMs: number; rotatedAtMs: number }>;
  revocations: SessionRevocations;
  idps: ReadonlyMap<string, LoginIdp>;
  loginStateKey: Buffer;
}

export function compileAccess(input: {
  issuer: string;
  apps: AccessApp[];
  serviceTokens: ServiceToken[];
  signingKeys: SigningKey[];
  idps: IdentityProvider[];
  sessionRevocations: SessionRevocation[];
  openSecret: (sealed: string, aad: string) => string;
  loginStateKey: Buffer;
  now: Date;
}): AccessSnapshot {
  const apps = input.apps.map((row): AppRuntime => {
    let policies: CompiledPolicies | undefined;
    try {
      // null: the stored text is not JSON (a damaged row); this app alone fails closed.
      policies = row.policies === null ? undefined : compilePolicies(row.policies as Policy[]);
    } catch {
      policies = undefined; // fail closed: see decideAccess
    }
    return {
      id: row.id,
      name: row.name,
      hostname: row.hostname,
      pathPrefix: row.path_prefix,
      aud: row.aud,
      sessionMs: parseDuration(row.session_duration),
      policies,
      needsCertificate: policies?.needsCertificate ?? true,
      postureIds: policies?.postureIds ?? [],
      allowedIdps: row.allowed_idps,
    };
  });
  const expiresAtMs = (t: ServiceToken) =>
    t.expires_at ? Date.parse(t.expires_at) : Number.POSITIVE_INFINITY;
  return {
    issuer: input.issuer,
    apps: new AppIndex(apps),
    serviceTokenIds: new Map(
      input.serviceTokens.map((t) => [
        t.id,
        { expiresAtMs: expiresAtMs(t), rotatedAtMs: t.rotated_at ? Date.parse(t.rotated_at) : 0 },
      ]),
    ),
    revocations: new SessionRevocations(input.sessionRevocations, input.now.getTime()),
    keys: KeySet.from(input.signingKeys),
    jwks: jwks(input.signingKeys, input.now),
    serviceTokens: new Map(
      input.serviceTokens.map((t) => [
        t.client_id,
        {
          id: t.id,
          hash: Buffer.from(t.secret_hash, 'hex'),
          expiresAtMs: expiresAtMs(t),
        },
      ]),
    ),
    idps: new Map(input.idps.map((r) => [r.id, loginIdp(r, input.openSecret)])),
    loginStateKey: input.loginStateKey,
  };
}

/** The request as Access sees it (the edge has already checked SNI, Host and the certificate). */
export interface AccessRequest {
  hostname: string;
  /** Host header as sent (with port), for building the callback URL. */
  authority: string;
  /** Request target (path and query). */
  url: string;
  headers: {
    cookie?: string | string[];
    [CLIENT_ID_HEADER]?: string | string[];
    [CLIENT_SECRET_HEADER]?: string | string[];
  };
  ip: string;
  /** The connection's certificate, when it validated for this hostname. */
  certificate?: {
    der: Buffer;
    sha256: string;
    commonName?: string;
    /** The certificate policies its validated path is good for (pki validPolicies). */
    policies?: ReadonlySet<string>;
    /** Its active device registration's assurance level now (the edge's in-memory cache). */
    deviceAssurance?: string;
  };
  /** Posture rules the device behind that certificate passes now (the edge's in-memory cache). */
  passingPosture?: ReadonlySet<string>;
  /** The client is a browser (wants HTML): send it to log in rather than answering 401. */
  browser: boolean;
}

/** What the edge does with a request on an Access application (`handleAccess`). */
export type AccessDecision =
  /** No application covers this path: the hostname's own settings apply. */
  | { kind: 'none' }
  | { kind: 'bypass' }
  | { kind: 'allow'; assertion: string; setCookie?: string[]; redirect?: string }
  | { kind: 'deny'; reason: string }
  | { kind: 'login'; redirect: string; setCookie: string[] }
  | { kind: 'unauthenticated'; reason: string }
  | { kind: 'jwks'; body: Jwks };

/**
 * The authorization verdict (`decideAccess`): a decision, or a login the authenticate side has to
 * begin (with this IdP, to come back to `returnTo`) or finish (the login callback).
 */
export type AccessVerdict =
  | Exclude<AccessDecision, { kind: 'login' }>
  | { kind: 'login_needed'; idp: LoginIdp; returnTo: string }
  | { kind: 'login_callback' };

/**
 * The policy facts about the connection's certificate (only a validated one counts) and its
 * device: posture and registration assurance as they are now, so a session is judged on them too.
 */
const certificateFacts = (req: AccessRequest): Pick<RequestFacts, 'certificate' | 'passingPosture'> =>
  req.certificate
    ? {
        certificate: {
          valid: true,
          sha256: req.certificate.sha256,
          commonName: req.certificate.commonName,
          ...(req.certificate.policies ? { policies: req.certificate.policies } : {}),
          ...(req.certificate.deviceAssurance !== undefined
            ? { deviceAssurance: req.certificate.deviceAssurance }
            : {}),
        },
        ...(req.passingPosture ? { passingPosture: req.passingPosture } : {}),
      }
    : {};

/** The app's posture rules the device passes now: recorded in tokens, required again when one is used. */
const passingFor = (app: AppRuntime, req: AccessRequest): string[] =>
  app.postureIds.filter((id) => req.certificate !== undefined && req.passingPosture?.has(id) === true);

const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);

function presentedServiceToken(
  snapshot: AccessSnapshot,
  req: AccessRequest,
  nowMs: number,
): { id: string; clientId: string } | undefined {
  const clientId = first(req.headers[CLIENT_ID_HEADER]);
  const secret = first(req.headers[CLIENT_SECRET_HEADER]);
  if (!clientId || !secret) return undefined;
  const token = snapshot.serviceTokens.get(clientId);
  if (!token || token.expiresAtMs <= nowMs) return undefined;
  const presented = createHash('sha256').update(secret, 'utf8').digest();
  return timingSafeEqual(presented, token.hash) ? { id: token.id, clientId } : undefined;
}

interface Grant {
  app: AppRuntime;
  policy: Policy | undefined;
  claims: Omit<AccessTokenInput, 'iss' | 'aud' | 'identity_nonce'>;
}

function issue(
  snapshot: AccessSnapshot,
  grant: Grant,
  req: AccessRequest,
  now: Date,
): { assertion: string; setCookie?: string[] } {
  const sessionMs = grant.policy
    ? sessionDurationMsFor(grant.policy, grant.app.sessionMs)
    : grant.app.sessionMs;
  const posture = passingFor(grant.app, req);
  const claims: AccessTokenInput = {
    ...grant.claims,
    ...(posture.length > 0 ? { device_posture: posture } : {}),
    iss: snapshot.issuer,
    aud: grant.app.aud,
    identity_nonce: randomBytes(16).toString('base64url'),
    ...(req.certificate ? { cnf: { 'x5t#S256': x5tS256(req.certificate.der) } } : {}),
    // Only a session token carries a session id: a per-request assertion is never taken back.
    ...(sessionMs === 0 ? {} : { sid: randomBytes(16).toString('base64url') }),
  };
  // "0s": a token for this one request, never a cookie, so every request needs a new handshake.
  const lifetimeMs = sessionMs === 0 ? SINGLE_REQUEST_TOKEN_LIFETIME_MS : sessionMs;
  const assertion = signAccessToken(snapshot.keys, claims, { lifetimeMs, now });
  return sessionMs === 0
    ? { assertion }
    : { assertion, setCookie: [sessionCookie(assertion, { maxAgeSeconds: Math.floor(sessionMs / 1000) })] };
}

function idpFor(snapshot: AccessSnapshot, app: AppRuntime): LoginIdp | undefined {
  const ids = app.allowedIdps.length > 0 ? app.allowedIdps : [...snapshot.idps.keys()];
  for (const id of ids) {
    const idp = snapshot.idps.get(id);
    if (idp) return idp;
  }
  return undefined;
}

/**
 * A verified session token judged as a request of its own: the identity it records (e-mail,
 * groups, IdP), the service token that earned it while that token still exists unrotated (or
 * one presented now), and the connection's current certificate, IP and posture, against the
 * app's current policies.
 * 'allow', or why not (a deny reason). Everything comes from the snapshot: no I/O.
 */
function judgeSession(
  snapshot: AccessSnapshot,
  app: AppRuntime,
  policies: CompiledPolicies,
  claims: AccessTokenClaims,
  req: AccessRequest,
  presented: { id: string } | undefined,
  nowMs: number,
): 'allow' | string {
  if (snapshot.revocations.revoked(app.id, claims)) return 'session_revoked';
  let identity: RequestFacts['identity'];
  if (claims.idp !== undefined) {
    // A login session: its IdP must still exist and still be one the app accepts.
    if (!snapshot.idps.has(claims.idp)) return 'identity_provider_removed';
    if (app.allowedIdps.length > 0 && !app.allowedIdps.includes(claims.idp))
      return 'identity_provider_not_allowed';
    if (claims.email === undefined) return 'session_invalid';
    identity = { email: claims.email, groups: claims.groups ?? [] };
  }
  // A service token sent with this request counts as well (deny policies see every fact).
  let serviceToken: RequestFacts['serviceToken'] = presented ? { id: presented.id } : undefined;
  if (claims.service_token !== undefined) {
    const current = snapshot.serviceTokenIds.get(claims.service_token);
    // Deleted, expired or rotated since (the old secret may be what leaked): it no longer counts.
    if (current && current.expiresAtMs > nowMs && claims.iat * 1000 >= current.rotatedAtMs)
      serviceToken = { id: claims.service_token };
  }
  const outcome = policies.evaluate({
    ip: req.ip,
    ...certificateFacts(req),
    ...(identity ? { identity } : {}),
    ...(serviceToken ? { serviceToken } : {}),
  });
  switch (outcome.outcome) {
    case 'allow':
    case 'bypass':
      return 'allow';
    case 'deny':
      return outcome.reason;
    case 'login_required':
      return 'login_required';
  }
}

/**
 * Decides a request on an Access application: a session cookie (bound to the same certificate
 * when the policies need one, not revoked) passes when the current policies allow the identity it
 * records with the request's current facts; otherwise the policies decide with the certificate, a
 * service token and the client IP, and a login is needed when only an identity is missing.
 * Synchronous and pure (the snapshot, the request, the clock): the IdP is never called here.
 */
export function decideAccess(snapshot: AccessSnapshot, req: AccessRequest, now: Date): AccessVerdict {
  const path = req.url;
  if (path === JWKS_PATH && snapshot.apps.hasHostname(req.hostname))
    return { kind: 'jwks', body: snapshot.jwks };
  if (path.startsWith(`${CALLBACK_PATH}?`) || path === CALLBACK_PATH) return { kind: 'login_callback' };
  const app = snapshot.apps.select(req.hostname, path);
  if (!app) return { kind: 'none' };
  if (!app.policies) return { kind: 'deny', reason: 'policies_invalid' };

  // Every session is judged again, on the application's current policies: only the login is
  // skipped. A denied session does not end the search (a stale or planted cookie may come first).
  const serviceToken = presentedServiceToken(snapshot, req, now.getTime());
  let sessionDenied = false;
  for (const token of readCookies(req.headers.cookie, SESSION_COOKIE_NAME)) {
    let claims: AccessTokenClaims;
    try {
      claims = verifyAccessToken(token, {
        keys: snapshot.keys,
        issuer: snapshot.issuer,
        audience: app.aud,
        now,
        certificateSha256: req.certificate ? x5tS256(req.certificate.der) : null,
        requireCertificateBinding: app.needsCertificate,
        requireSession: true,
      });
    } catch {
      // Not valid here (expired, other app, other certificate, per-request…): as if absent.
      continue;
    }
    const verdict = judgeSession(snapshot, app, app.policies, claims, req, serviceToken, now.getTime());
    if (verdict === 'allow') return { kind: 'allow', assertion: token };
    // A deny policy matching the session's identity sees a fact the request carries: it refuses.
    // Any other refusal (revoked, no longer allowed…) only means the session does not count.
    if (verdict === 'deny_policy') sessionDenied = true;
  }
  if (sessionDenied) return { kind: 'deny', reason: 'deny_policy' };

  const facts: RequestFacts = {
    ip: req.ip,
    ...certificateFacts(req),
    ...(serviceToken ? { serviceToken: { id: serviceToken.id } } : {}),
  };
  const outcome = app.policies.evaluate(facts);
  switch (outcome.outcome) {
    case 'bypass':
      return { kind: 'bypass' };
    case 'deny':
      return { kind: 'deny', reason: outcome.reason };
    case 'allow':
      return {
        kind: 'allow',
        ...issue(
          snapshot,
          {
            app,
            policy: outcome.policy,
            claims: {
              sub: serviceToken ? serviceToken.clientId : (req.certificate?.sha256 ?? ''),
              ...(serviceToken
                ? { common_name: serviceToken.clientId, service_token: serviceToken.id }
                : req.certificate?.commonName
                  ? { common_name: req.certificate.commonName }
                  : {}),
            },
          },
          req,
          now,
        ),
      };
    case 'login_required': {
      const idp = idpFor(snapshot, app);
      if (!idp) return { kind: 'deny', reason: 'no_identity_provider' };
      if (!req.browser) return { kind: 'unauthenticated', reason: 'login_required' };
      return { kind: 'login_needed', idp, returnTo: path };
    }
  }
}

/**
 * The identity a finished login established, judged like a request of its own on the application
 * it was begun for: a session token when the policies allow it, and back to `returnTo`. Pure.
 */
export function authorizeLogin(
  snapshot: AccessSnapshot,
  req: AccessRequest,
  login: Pick<FinishedLogin, 'idp' | 'identity' | 'returnTo'>,
  now: Date,
): AccessDecision {
  const { idp, identity } = login;
  const app = snapshot.apps.select(req.hostname, login.returnTo);
  if (!app?.policies) return { kind: 'deny', reason: 'no_application' };
  if (app.allowedIdps.length > 0 && !app.allowedIdps.includes(idp.id))
    return { kind: 'deny', reason: 'identity_provider_not_allowed' };
  const outcome = app.policies.evaluate({
    ip: req.ip,
    identity: { email: identity.email, groups: identity.groups },
    ...certificateFacts(req),
  });
  if (outcome.outcome !== 'allow' && outcome.outcome !== 'bypass')
    return { kind: 'deny', reason: outcome.outcome === 'deny' ? outcome.reason : 'login_required' };
  const issued = issue(
    snapshot,
    {
      app,
      policy: outcome.outcome === 'allow' ? outcome.policy : undefined,
      claims: { sub: identity.subject, email: identity.email, idp: idp.id, groups: [...identity.groups] },
    },
    req,
    now,
  );
  return { kind: 'allow', ...issued, redirect: login.returnTo };
}
