// Identity registration, RFC 8628 style: the agent starts a device login and shows a user code;
// a person opens the verification page on the control plane, checks the code and the device it
// names, signs in through the organization's OIDC identity provider, and so approves it; the
// agent, polling with its device code, then receives its registration.
//
// Codes: the device code is 32 random bytes (base64url), the user code 8 letters from a 20-letter
// alphabet without vowels or look-alikes (RFC 8628 §6.1), shown as BCDF-GHJK. Both are stored as
// SHA-256 only, live 10 minutes and are used once: the row goes in the transaction that stores the
// registration. Polling faster than the interval gets slow_down and 5 more seconds of interval.
import { createHash, randomBytes, randomInt, randomUUID } from 'node:crypto';
import { beginLogin, finishLogin, LOGIN_STATE_KEY, type LoginIdp, loginIdp } from '../access/index.js';
import type { Clock, Keys } from '../authority/index.js';
import { type ErrorCode, GatehouseError } from '../errors/index.js';
import type { DeviceLogin, Repositories, StoreFor } from '../store/index.js';
import { RateLimiter } from './rate-limit.js';
import type { EnrollingIdentity, Enroller, RegistrationInput, RegistrationResult } from './registration.js';

export const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';
export const USER_CODE_LENGTH = 8;
export const DEVICE_LOGIN_TTL_S = 600;
export const DEVICE_LOGIN_INTERVAL_S = 5;
export const SLOW_DOWN_STEP_S = 5;
/** Polls this much earlier than the interval still count as on time (timers and networks jitter). */
const POLL_TOLERANCE_MS = 500;
/** RFC 8628 §5.2: device logins started per client and minute. */
export const DEVICE_LOGIN_STARTS_PER_MINUTE = 20;
/** RFC 8628 §5.2: user codes a client may get wrong per 10 minutes (a code's lifetime) on the page. */
export const USER_CODE_MISSES_PER_WINDOW = 10;
/** The login state's returnTo carries the device login's id across the IdP redirect. */
const RETURN_PREFIX = '/device/login/';

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

/** A fresh user code, 8 letters (unformatted). */
export function newUserCode(): string {
  let code = '';
  for (let i = 0; i < USER_CODE_LENGTH; i++) code += USER_CODE_ALPHABET[randomInt(USER_CODE_ALPHABET.length)];
  return code;
}

/** BCDFGHJK → BCDF-GHJK */
export const formatUserCode = (code: string) => `${code.slice(0, 4)}-${code.slice(4)}`;

/** What a person typed, in canonical form (upper case, no dashes or spaces), or undefined. */
export function normalizeUserCode(typed: string): string | undefined {
  const code = typed.toUpperCase().replace(/[\s-]/g, '');
  const valid = code.length === USER_CODE_LENGTH && [...code].every((c) => USER_CODE_ALPHABET.includes(c));
  return valid ? code : undefined;
}

export type PollOutcome =
  | { kind: 'expired' }
  | { kind: 'slow_down'; intervalS: number }
  | { kind: 'pending' }
  | { kind: 'denied' }
  | { kind: 'approved'; identity: EnrollingIdentity };

/** RFC 8628 §3.5: what a poll of this device login at `nowMs` gets. Pure. */
export function pollOutcome(login: DeviceLogin, nowMs: number): PollOutcome {
  if (Date.parse(login.expires_at) <= nowMs) return { kind: 'expired' };
  if (
    login.last_polled_at &&
    nowMs - Date.parse(login.last_polled_at) < login.interval_s * 1000 - POLL_TOLERANCE_MS
  )
    return { kind: 'slow_down', intervalS: login.interval_s + SLOW_DOWN_STEP_S };
  if (login.status === 'denied') return { kind: 'denied' };
  if (login.status === 'approved' && login.identity) {
    const { issuer, subject, email } = login.identity;
    return { kind: 'approved', identity: { issuer, subject, email } };
  }
  return { kind: 'pending' };
}

export interface DeviceAuthorization {
  device_code: string;
  user_code: string;
  verification_uri: string;
  verification_uri_complete: string;
  expires_in: number;
  interval: number;
}

/** A pending device login as the verification page shows it. */
export interface PendingDeviceLogin {
  id: string;
  userCode: string;
  request: RegistrationInput;
  expiresAt: string;
  identityProviders: { id: string; name: string }[];
}

const rfcError = (code: ErrorCode, message: string) => new GatehouseError(code, message, 400);

const tooMany = (retryAfterS: number, what: string) =>
  new GatehouseError('rate_limited', `${what}: try again in ${retryAfterS} s`, 429);

const invalidUserCode = () =>
  new GatehouseError(
    'invalid_user_code',
    'this code is not valid, was already used, or has expired: start the registration on the device again',
    404,
  );

/** What a device login needs of DeviceService: the up-front checks and the registration itself. */
export interface Registrar {
  check(input: RegistrationInput): Promise<unknown>;
  register(
    input: RegistrationInput,
    enroller: Enroller,
    opts: { within?: (tx: Repositories) => Promise<void> },
  ): Promise<RegistrationResult>;
}

export interface DeviceLoginDeps {
  store: StoreFor<'deviceLogins' | 'identityProviders'>;
  keys: Pick<Keys, 'openKey' | 'derivedKey'>;
  now: Clock;
  /** DeviceService: an approved login becomes a registration there. */
  devices: Registrar;
}

/** The device-login half of device registration (kept apart: it is the only part that speaks OIDC). */
export class DeviceLogins {
  readonly #starts = new RateLimiter(DEVICE_LOGIN_STARTS_PER_MINUTE, 60_000);
  readonly #misses = new RateLimiter(USER_CODE_MISSES_PER_WINDOW, DEVICE_LOGIN_TTL_S * 1000);

  constructor(private readonly deps: DeviceLoginDeps) {}

  private get store() {
    return this.deps.store;
  }

  private get devices() {
    return this.deps.devices;
  }

  #stateKey(): Buffer {
    // The purpose ('device') is bound into the state: one sealed for another login opens nowhere here.
    return this.deps.keys.derivedKey(LOGIN_STATE_KEY);
  }

  /**
   * Starts a device login for a registration request (checked now, and again when it is made).
   * `verificationUri` is the control plane's page, e.g. https://gatehouse.example:7443/device.
   */
  async start(
    input: RegistrationInput,
    verificationUri: string,
    client?: string,
  ): Promise<DeviceAuthorization> {
    const nowMs = this.deps.now().getTime();
    if (client !== undefined && !this.#starts.take(client, nowMs))
      throw tooMany(
        this.#starts.retryAfterS(client, nowMs),
        'too many device logins started from this address',
      );
    if ((await this.store.identityProviders.all()).length === 0)
      throw new GatehouseError(
        'identity_login_unavailable',
        'the organization has no identity provider: register with a service token',
        409,
      );
    await this.devices.check(input);
    const now = this.deps.now();
    await this.store.deviceLogins.deleteExpired(now.toISOString());
    const deviceCode = randomBytes(32).toString('base64url');
    for (let attempt = 0; ; attempt++) {
      const userCode = newUserCode();
      const hash = sha256(userCode);
      // 20^8 codes: a clash with a live one is rare; draw again rather than fail.
      if ((await this.store.deviceLogins.byUserCodeHash(hash)) && attempt < 5) continue;
      await this.store.deviceLogins.insert({
        id: randomUUID(),
        device_code_hash: sha256(deviceCode),
        user_code_hash: hash,
        request: input,
        status: 'pending',
        interval_s: DEVICE_LOGIN_INTERVAL_S,
        last_polled_at: null,
        identity: null,
        created_at: now.toISOString(),
        expires_at: new Date(now.getTime() + DEVICE_LOGIN_TTL_S * 1000).toISOString(),
      });
      const shown = formatUserCode(userCode);
      return {
        device_code: deviceCode,
        user_code: shown,
        verification_uri: verificationUri,
        verification_uri_complete: `${verificationUri}?user_code=${shown}`,
        expires_in: DEVICE_LOGIN_TTL_S,
        interval: DEVICE_LOGIN_INTERVAL_S,
      };
    }
  }

  /** The agent's poll: the registration once approved, else the RFC 8628 error for the state. */
  async poll(deviceCode: string): Promise<RegistrationResult> {
    const login = await this.store.deviceLogins.byDeviceCodeHash(sha256(deviceCode));
    if (!login) throw rfcError('invalid_grant', 'unknown device_code, or one that was already used');
    const now = this.deps.now();
    const outcome = pollOutcome(login, now.getTime());
    switch (outcome.kind) {
      case 'expired':
        await this.store.deviceLogins.delete(login.id);
        throw rfcError('expired_token', 'the device login expired before it was approved: start again');
      case 'slow_down':
        await this.store.deviceLogins.polled(login.id, now.toISOString(), outcome.intervalS);
        throw rfcError('slow_down', `polling too fast: wait ${outcome.intervalS} s between polls`);
      case 'denied':
        await this.store.deviceLogins.delete(login.id);
        throw rfcError('access_denied', 'the registration was denied in the browser');
      case 'pending':
        await this.store.deviceLogins.polled(login.id, now.toISOString(), login.interval_s);
        throw rfcError('authorization_pending', 'waiting for the user to sign in and approve');
      case 'approved': {
        const request = login.request as RegistrationInput;
        return this.devices.register(
          request,
          { kind: 'identity', ...outcome.identity },
          {
            within: async (tx) => {
              // Single use: whoever deletes the approved row makes the registration.
              if (!(await tx.deviceLogins.delete(login.id, 'approved')))
                throw rfcError('invalid_grant', 'this device_code was already used');
            },
          },
        );
      }
    }
  }

  /** The pending login a user code names (for the verification page); else invalid_user_code (404). */
  async pending(typedUserCode: string, client?: string): Promise<PendingDeviceLogin> {
    const nowMs = this.deps.now().getTime();
    // Guessing codes: refused before the lookup once this client got too many wrong.
    if (client !== undefined && this.#misses.exhausted(client, nowMs))
      throw tooMany(this.#misses.retryAfterS(client, nowMs), 'too many wrong codes from this address');
    const code = normalizeUserCode(typedUserCode);
    const login = code ? await this.store.deviceLogins.byUserCodeHash(sha256(code)) : undefined;
    if (!code || !login || login.status !== 'pending' || Date.parse(login.expires_at) <= nowMs) {
      if (client !== undefined) this.#misses.take(client, nowMs);
      throw invalidUserCode();
    }
    return {
      id: login.id,
      userCode: formatUserCode(code),
      request: login.request as RegistrationInput,
      expiresAt: login.expires_at,
      identityProviders: (await this.store.identityProviders.all()).map((i) => ({ id: i.id, name: i.name })),
    };
  }

  async deny(typedUserCode: string, client?: string): Promise<PendingDeviceLogin> {
    const login = await this.pending(typedUserCode, client);
    if (!(await this.store.deviceLogins.decide(login.id, 'denied', null, this.deps.now().toISOString())))
      throw invalidUserCode();
    return login;
  }

  /**
   * Sends the user to sign in for a pending login: the IdP's authorization URL and the state cookie
   * for the callback (`${origin}/device/callback`).
   */
  async beginSignIn(
    typedUserCode: string,
    idpId: string | undefined,
    origin: string,
    client?: string,
  ): Promise<{ redirect: string; setCookie: string }> {
    const login = await this.pending(typedUserCode, client);
    const now = this.deps.now();
    return beginLogin(await this.#idp(idpId), 'device', {
      stateKey: this.#stateKey(),
      origin,
      returnTo: `${RETURN_PREFIX}${login.id}`,
      now,
      expires: Math.min(now.getTime() + DEVICE_LOGIN_TTL_S * 1000, Date.parse(login.expiresAt)),
    });
  }

  /** The IdP's redirect back: completes the sign-in and approves the device login as that user. */
  async completeSignIn(opts: {
    origin: string;
    /** The callback's request target (path and query). */
    callbackUrl: string;
    cookieHeader: string | string[] | undefined;
  }): Promise<{ identity: EnrollingIdentity; request: RegistrationInput; clearCookie: string }> {
    const signedIn = await finishLogin('device', {
      ...opts,
      stateKey: this.#stateKey(),
      idp: async (idpId) => {
        const row = await this.store.identityProviders.get(idpId);
        return row && loginIdp(row, (sealed, aad) => this.deps.keys.openKey(sealed, aad));
      },
      now: this.deps.now(),
    });
    const { issuer, subject, email } = signedIn.identity;
    const identity: EnrollingIdentity = { issuer, subject, email };
    const id = signedIn.returnTo.startsWith(RETURN_PREFIX)
      ? signedIn.returnTo.slice(RETURN_PREFIX.length)
      : '';
    const login = await this.store.deviceLogins.get(id);
    const approved =
      login &&
      (await this.store.deviceLogins.decide(
        id,
        'approved',
        { ...identity, idp_id: signedIn.idp.id },
        this.deps.now().toISOString(),
      ));
    if (!login || !approved) throw invalidUserCode();
    return {
      identity,
      request: login.request as RegistrationInput,
      clearCookie: signedIn.clearCookie,
    };
  }

  async #idp(id: string | undefined): Promise<LoginIdp> {
    const all = await this.store.identityProviders.all();
    const idp = id ? all.find((i) => i.id === id) : all[0];
    if (!idp)
      throw new GatehouseError(
        id ? 'unknown_identity_provider' : 'identity_login_unavailable',
        id
          ? `${id} is not an identity provider of this organization`
          : 'the organization has no identity provider',
        400,
      );
    return loginIdp(idp, (sealed, aad) => this.deps.keys.openKey(sealed, aad));
  }
}
