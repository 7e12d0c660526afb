/**
 * A real OpenID Provider for tests (the `oidc-provider` package, v8), on 127.0.0.1 with a random
 * port over plain http, plus `Browser`, a small HTTP client with a cookie jar that follows
 * redirects the way a browser does.
 *
 *   const op = await startOidcProvider({
 *     clients: [{ client_id: 'gatehouse', client_secret: 's3cret', redirect_uris: ['https://app.test/.gatehouse/callback'] }],
 *   });
 *   op.loginAs('alice@example.com');          // who the next logins are
 *   … drive a login with `new Browser()` …
 *   await op.stop();
 *
 * startOidcProvider(options?) → TestOidcProvider:
 *   - issuer                 'http://127.0.0.1:PORT' (no trailing slash); discovery at
 *                            `${issuer}/.well-known/openid-configuration`
 *   - loginAs(email)         the user the interaction endpoint logs in (and consents) as from now
 *                            on; who logs in is, first match: the request header
 *                            `x-test-login-as: EMAIL`, the authorization request's `login_hint`
 *                            (when it names a test user), then `loginAs`. With none, the login
 *                            ends with error=login_required.
 *   - denyLogins(error?, description?)  from now on every interaction ends with that error
 *                            (default access_denied, as when the user clicks "deny");
 *                            `loginAs` switches back to logging in.
 *   - addClient(metadata)    adds or replaces a client (validated now); defaults: confidential
 *                            (client_secret_basic), response_types ['code'], grant_types
 *                            authorization_code + refresh_token + device_code.
 *   - addUser(user)          adds or replaces a test user (by e-mail).
 *   - approveDeviceCode(userCode, email)  RFC 8628: goes through the provider's own verification
 *                            pages (/device) with a fresh browser, logs in as `email` and
 *                            consents, so that the device's next token poll succeeds.
 *   - denyDeviceCode(userCode)  the user aborts on the confirmation page (poll → access_denied).
 *   - interactions           how many times the interaction endpoint ran (login + consent = 2).
 *   - provider               the oidc-provider instance, for anything else (typed loosely).
 *   - stop()                 closes the server and every connection.
 *
 * Default users: alice@example.com (groups ['engineering']), bob@example.com (['sales']), both
 * email_verified; carol@example.com (['engineering']) with email_verified false.
 * Scopes → claims: openid → sub; email → email, email_verified; profile → name, groups;
 * groups → groups. PKCE (S256) is required for every authorization request. With the provider's
 * default `conformIdTokenClaims: true`, scope-requested claims (email, groups) are NOT in the ID
 * token of a code flow, only in UserInfo; pass `conformIdTokenClaims: false` to have them in the
 * ID token too.
 *
 * Each provider has its own in-memory storage (oidc-provider's built-in memory adapter is shared
 * by every instance in the process) and its own RSA signing key.
 */
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { type Dispatcher, fetch } from 'undici';
// @ts-expect-error -- oidc-provider v8 ships no type declarations; the parts used are typed below.
import OidcProviderModule from 'oidc-provider';

export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

export interface TestUser {
  email: string;
  /** Defaults to an opaque id derived from the e-mail. */
  sub?: string;
  /** Default true. */
  emailVerified?: boolean;
  groups?: string[];
  name?: string;
  /** More claims, released with the profile scope. */
  extraClaims?: Record<string, unknown>;
}

/** OAuth client metadata (RFC 7591 names), as oidc-provider takes it. */
export interface TestClientMetadata {
  client_id: string;
  client_secret?: string;
  redirect_uris?: string[];
  token_endpoint_auth_method?: 'client_secret_basic' | 'client_secret_post' | 'none' | string;
  grant_types?: string[];
  response_types?: string[];
  [other: string]: unknown;
}

export interface StartOidcProviderOptions {
  clients?: TestClientMetadata[];
  /** Replaces the default users. */
  users?: TestUser[];
  /** oidc-provider's option (default true): see the top of this file. */
  conformIdTokenClaims?: boolean;
  /** Extra oidc-provider configuration, merged over the helper's (shallowly). */
  configuration?: Record<string, unknown>;
}

export interface TestOidcProvider {
  issuer: string;
  provider: OidcProviderInstance;
  readonly interactions: number;
  loginAs(email: string): void;
  denyLogins(error?: string, description?: string): void;
  addClient(metadata: TestClientMetadata): Promise<void>;
  addUser(user: TestUser): void;
  approveDeviceCode(userCode: string, email: string): Promise<void>;
  denyDeviceCode(userCode: string): Promise<void>;
  stop(): Promise<void>;
}

export const DEFAULT_TEST_USERS: readonly TestUser[] = [
  { email: 'alice@example.com', name: 'Alice Example', groups: ['engineering'] },
  { email: 'bob@example.com', name: 'Bob Example', groups: ['sales'] },
  { email: 'carol@example.com', name: 'Carol Unverified', groups: ['engineering'], emailVerified: false },
];

/** The `sub` a test user gets when none is given. */
export function defaultSubject(email: string): string {
  return `u-${createHash('sha256').update(email.toLowerCase()).digest('hex').slice(0, 16)}`;
}

// ---------------------------------------------------------------------------------------------
// The parts of oidc-provider's API this helper uses (v8 has no .d.ts).
// ---------------------------------------------------------------------------------------------

interface InteractionDetails {
  uid: string;
  prompt: {
    name: string;
    reasons: string[];
    details: {
      missingOIDCScope?: string[];
      missingOIDCClaims?: string[];
      missingResourceScopes?: Record<string, string[]>;
    };
  };
  params: Record<string, string | undefined>;
  session?: { accountId?: string };
  grantId?: string;
}

interface GrantInstance {
  addOIDCScope(scope: string): void;
  addOIDCClaims(claims: string[]): void;
  addResourceScope(indicator: string, scope: string): void;
  save(): Promise<string>;
}

export interface OidcProviderInstance {
  issuer: string;
  proxy: boolean;
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<InteractionDetails>;
  interactionFinished(
    req: IncomingMessage,
    res: ServerResponse,
    result: Record<string, unknown>,
    opts?: { mergeWithLastSubmission?: boolean },
  ): Promise<void>;
  Grant: {
    new (init: { accountId: string; clientId: string }): GrantInstance;
    find(id: string): Promise<GrantInstance | undefined>;
  };
  Client: { validate(metadata: TestClientMetadata): Promise<void> };
  on(event: string, listener: (...args: unknown[]) => void): unknown;
}

type ProviderConstructor = new (
  issuer: string,
  configuration: Record<string, unknown>,
) => OidcProviderInstance;
const Provider = OidcProviderModule as ProviderConstructor;

// oidc-provider's koa context, as far as the configuration callbacks below touch it.
interface KoaContext {
  type: string;
  body: unknown;
  status: number;
}

// ---------------------------------------------------------------------------------------------
// Storage: one Map per provider instance, in oidc-provider's adapter shape.
// ---------------------------------------------------------------------------------------------

type Payload = Record<string, unknown> & {
  grantId?: string;
  userCode?: string;
  uid?: string;
  consumed?: number;
};

function adapterFor(store: Map<string, { payload: Payload; expiresAt: number }>) {
  const live = (key: string): Payload | undefined => {
    const entry = store.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      store.delete(key);
      return undefined;
    }
    return entry.payload;
  };
  const ref = (key: string, id: string, expiresIn: number | undefined) =>
    store.set(key, { payload: { id }, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : Infinity });
  const deref = (key: string) => live(key)?.id as string | undefined;

  return class TestAdapter {
    constructor(readonly model: string) {}

    private key(id: string) {
      return `${this.model}:${id}`;
    }

    async upsert(id: string, payload: Payload, expiresIn?: number): Promise<void> {
      const expiresAt = expiresIn ? Date.now() + expiresIn * 1000 : Infinity;
      if (this.model === 'Session' && payload.uid) ref(`sessionUid:${payload.uid}`, id, expiresIn);
      if (payload.userCode) ref(`userCode:${payload.userCode}`, id, expiresIn);
      if (payload.grantId) {
        const grantKey = `grant:${payload.grantId}`;
        const list = (live(grantKey)?.keys as string[] | undefined) ?? [];
        store.set(grantKey, { payload: { keys: [...list, this.key(id)] }, expiresAt: Infinity });
      }
      store.set(this.key(id), { payload: structuredClone(payload), expiresAt });
    }

    async find(id: string): Promise<Payload | undefined> {
      return live(this.key(id));
    }

    async findByUid(uid: string): Promise<Payload | undefined> {
      const id = deref(`sessionUid:${uid}`);
      return id ? this.find(id) : undefined;
    }

    async findByUserCode(userCode: string): Promise<Payload | undefined> {
      const id = deref(`userCode:${userCode}`);
      return id ? this.find(id) : undefined;
    }

    async consume(id: string): Promise<void> {
      const payload = live(this.key(id));
      if (payload) payload.consumed = Math.floor(Date.now() / 1000);
    }

    async destroy(id: string): Promise<void> {
      store.delete(this.key(id));
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      const keys = (live(`grant:${grantId}`)?.keys as string[] | undefined) ?? [];
      for (const k of keys) store.delete(k);
      store.delete(`grant:${grantId}`);
    }
  };
}

// ---------------------------------------------------------------------------------------------
// The provider
// ---------------------------------------------------------------------------------------------

const page = (title: string, body: string) =>
  `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${title}</title></head><body>${body}</body></html>`;

export async function startOidcProvider(options: StartOidcProviderOptions = {}): Promise<TestOidcProvider> {
  const users = new Map<string, Required<Omit<TestUser, 'extraClaims'>> & Pick<TestUser, 'extraClaims'>>();
  const bySub = new Map<string, string>();
  const addUser = (u: TestUser) => {
    const email = u.email.toLowerCase();
    const full = {
      email,
      sub: u.sub ?? defaultSubject(email),
      emailVerified: u.emailVerified ?? true,
      groups: u.groups ?? [],
      name: u.name ?? email,
      extraClaims: u.extraClaims,
    };
    users.set(email, full);
    bySub.set(full.sub, email);
  };
  for (const u of options.users ?? DEFAULT_TEST_USERS) addUser(u);

  let decision: { email: string } | { error: string; description?: string } | undefined;
  let interactions = 0;

  const store = new Map<string, { payload: Payload; expiresAt: number }>();
  const Adapter = adapterFor(store);
  const clientAdapter = new Adapter('Client');

  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const signingKey = {
    ...privateKey.export({ format: 'jwk' }),
    kid: randomBytes(8).toString('hex'),
    alg: 'RS256',
    use: 'sig',
  };

  const server = createServer();
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const configuration: Record<string, unknown> = {
    adapter: Adapter,
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    conformIdTokenClaims: options.conformIdTokenClaims ?? true,
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'groups'],
      groups: ['groups'],
    },
    pkce: { methods: ['S256'], required: () => true },
    features: {
      devInteractions: { enabled: false },
      deviceFlow: {
        enabled: true,
        userCodeInputSource: (ctx: KoaContext, form: string, _out: unknown, err?: Error) => {
          ctx.type = 'html';
          ctx.body = page('Enter code', `${err ? `<p id="error">${err.name}</p>` : ''}${form}`);
        },
        userCodeConfirmSource: (ctx: KoaContext, form: string) => {
          ctx.type = 'html';
          ctx.body = page('Confirm device', form);
        },
        successSource: (ctx: KoaContext) => {
          ctx.type = 'html';
          ctx.body = page('Device approved', '<p id="device-approved">Device approved</p>');
        },
      },
      revocation: { enabled: true },
    },
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    findAccount: (_ctx: unknown, sub: string) => {
      const email = bySub.get(sub);
      const user = email ? users.get(email) : undefined;
      if (!user) return undefined;
      return {
        accountId: user.sub,
        claims: async () => ({
          ...user.extraClaims,
          sub: user.sub,
          email: user.email,
          email_verified: user.emailVerified,
          name: user.name,
          groups: user.groups,
        }),
      };
    },
    renderError: (ctx: KoaContext, out: Record<string, unknown>) => {
      ctx.type = 'json';
      ctx.body = out;
    },
    clientBasedCORS: () => true,
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 60,
      DeviceCode: 600,
      Grant: 3600,
      IdToken: 3600,
      Interaction: 600,
      RefreshToken: 3600,
      Session: 3600,
    },
    ...options.configuration,
  };

  const provider = new Provider(issuer, configuration);
  const providerCallback = provider.callback();

  const addClient = async (metadata: TestClientMetadata) => {
    const full: TestClientMetadata = {
      token_endpoint_auth_method: 'client_secret_basic',
      response_types: ['code'],
      grant_types: ['authorization_code', 'refresh_token', DEVICE_CODE_GRANT],
      ...metadata,
    };
    await provider.Client.validate(full);
    await clientAdapter.upsert(full.client_id, full);
  };
  try {
    for (const c of options.clients ?? []) await addClient(c);
  } catch (err) {
    server.close();
    throw err;
  }

  const chooseUser = (req: IncomingMessage, details: InteractionDetails) => {
    const header = req.headers['x-test-login-as'];
    if (typeof header === 'string' && users.has(header.toLowerCase())) return users.get(header.toLowerCase());
    const hint = details.params.login_hint?.toLowerCase();
    if (hint && users.has(hint)) return users.get(hint);
    if (decision && 'email' in decision) return users.get(decision.email);
    return undefined;
  };

  async function interaction(req: IncomingMessage, res: ServerResponse): Promise<void> {
    interactions += 1;
    const details = await provider.interactionDetails(req, res);
    const finish = (result: Record<string, unknown>) =>
      provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
    if (decision && 'error' in decision && !req.headers['x-test-login-as']) {
      return finish({
        error: decision.error,
        ...(decision.description ? { error_description: decision.description } : {}),
      });
    }
    if (details.prompt.name === 'login') {
      const user = chooseUser(req, details);
      if (!user) {
        return finish({
          error: 'login_required',
          error_description: 'test provider: no user chosen (loginAs, login_hint or x-test-login-as)',
        });
      }
      return finish({ login: { accountId: user.sub } });
    }
    if (details.prompt.name === 'consent') {
      const accountId = details.session?.accountId;
      const clientId = details.params.client_id;
      if (!accountId || !clientId) return finish({ error: 'access_denied', error_description: 'no session' });
      const grant =
        (details.grantId ? await provider.Grant.find(details.grantId) : undefined) ??
        new provider.Grant({ accountId, clientId });
      const missing = details.prompt.details;
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
      if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
      const grantId = await grant.save();
      return provider.interactionFinished(
        req,
        res,
        { consent: { grantId } },
        { mergeWithLastSubmission: true },
      );
    }
    return finish({ error: 'access_denied', error_description: `unsupported prompt ${details.prompt.name}` });
  }

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (req.method === 'GET' && /^\/interaction\/[^/]+$/.test(path)) {
      interaction(req, res).catch((err: unknown) => {
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(`test provider interaction failed: ${(err as Error).stack ?? String(err)}`);
        }
      });
      return;
    }
    providerCallback(req, res);
  });

  async function deviceVerification(userCode: string, as: string | undefined, abort: boolean): Promise<void> {
    const browser = new Browser(as ? { headers: { 'x-test-login-as': as } } : {});
    const url = new URL('/device', issuer);
    url.searchParams.set('user_code', userCode);
    // GET /device?user_code= answers with an auto-submitting form (xsrf token + code) …
    const autoPost = await browser.navigate(url.toString());
    // … whose submission renders the confirmation form …
    const confirm = await browser.submitForm(autoPost);
    if (!/id="op.deviceConfirmForm"/.test(confirm.body)) {
      throw new Error(
        `device verification for ${userCode}: no confirmation form (${confirm.status}: ${confirm.body})`,
      );
    }
    // … and confirming (or aborting) runs the login and consent interactions.
    const done = await browser.submitForm(confirm, abort ? { abort: 'yes' } : {});
    const expected = abort ? /<p id="error">AbortedError</ : /id="device-approved"/;
    if (!expected.test(done.body)) {
      throw new Error(
        `device verification for ${userCode} failed (${done.status} at ${done.url}): ${done.body}`,
      );
    }
  }

  return {
    issuer,
    provider,
    get interactions() {
      return interactions;
    },
    loginAs(email: string) {
      const e = email.toLowerCase();
      if (!users.has(e)) throw new Error(`test provider: unknown user ${email}`);
      decision = { email: e };
    },
    denyLogins(error = 'access_denied', description?: string) {
      decision = description ? { error, description } : { error };
    },
    addClient,
    addUser,
    async approveDeviceCode(userCode: string, email: string) {
      if (!users.has(email.toLowerCase())) throw new Error(`test provider: unknown user ${email}`);
      await deviceVerification(userCode, email.toLowerCase(), false);
    },
    async denyDeviceCode(userCode: string) {
      await deviceVerification(userCode, undefined, true);
    },
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Browser: cookies and redirects
// ---------------------------------------------------------------------------------------------

export interface BrowserResponse {
  /** The URL that answered (or, when navigation stopped at `stopAt`, the URL it stopped at). */
  url: string;
  status: number;
  headers: Headers;
  body: string;
  /** Every URL requested, in order (the first one included). */
  visited: string[];
  /** True when `stopAt` matched a redirect target, which was then not requested. */
  stopped: boolean;
}

export interface NavigateOptions {
  method?: 'GET' | 'POST';
  /** Sent as application/x-www-form-urlencoded (POST). */
  form?: Record<string, string>;
  headers?: Record<string, string>;
  /** Do not request a redirect target for which this returns true (e.g. the RP's redirect_uri). */
  stopAt?: (url: URL) => boolean;
  /** Default 20. */
  maxRedirects?: number;
  /** The page the navigation starts from (for SameSite); none means typed into the address bar. */
  initiator?: string;
}

interface StoredCookie {
  name: string;
  value: string;
  domain: string;
  hostOnly: boolean;
  path: string;
  secure: boolean;
  sameSite: 'strict' | 'lax' | 'none';
  expires: number;
}

/** Scheme + registrable domain, roughly (last two labels; an IP or single label as is). */
function siteOf(url: URL): string {
  const host = url.hostname;
  const isIp = /^[\d.]+$/.test(host) || host.startsWith('[');
  const labels = host.split('.');
  return `${url.protocol}//${isIp || labels.length <= 2 ? host : labels.slice(-2).join('.')}`;
}

/** RFC 6265 cookies, enough for tests: Domain, Path, Max-Age/Expires, Secure, SameSite. */
export class CookieJar {
  private cookies: StoredCookie[] = [];

  store(url: URL, setCookies: string[]): void {
    for (const line of setCookies) {
      const [pair = '', ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const cookie: StoredCookie = {
        name: pair.slice(0, eq).trim(),
        value: pair.slice(eq + 1).trim(),
        domain: url.hostname,
        hostOnly: true,
        path: url.pathname.includes('/', 1) ? url.pathname.slice(0, url.pathname.lastIndexOf('/')) : '/',
        secure: false,
        sameSite: 'lax',
        expires: Infinity,
      };
      let valid = true;
      for (const attr of attrs) {
        const i = attr.indexOf('=');
        const key = (i < 0 ? attr : attr.slice(0, i)).trim().toLowerCase();
        const val = i < 0 ? '' : attr.slice(i + 1).trim();
        if (key === 'path' && val.startsWith('/')) cookie.path = val;
        else if (key === 'domain' && val) {
          const d = val.replace(/^\./, '').toLowerCase();
          if (url.hostname !== d && !url.hostname.endsWith(`.${d}`)) valid = false;
          cookie.domain = d;
          cookie.hostOnly = false;
        } else if (key === 'max-age') cookie.expires = Date.now() + Number(val) * 1000;
        else if (key === 'expires' && cookie.expires === Infinity) cookie.expires = Date.parse(val);
        else if (key === 'secure') cookie.secure = true;
        else if (key === 'samesite') {
          const s = val.toLowerCase();
          cookie.sameSite = s === 'strict' || s === 'none' ? s : 'lax';
        }
      }
      if (!valid) continue;
      this.cookies = this.cookies.filter(
        (c) => !(c.name === cookie.name && c.domain === cookie.domain && c.path === cookie.path),
      );
      if (!(cookie.expires <= Date.now())) this.cookies.push(cookie);
    }
  }

  /** The Cookie header for a request; `sameSite` describes the request's context. */
  header(
    url: URL,
    context: { sameSite: boolean; topLevelGet: boolean } = { sameSite: true, topLevelGet: true },
  ) {
    const now = Date.now();
    this.cookies = this.cookies.filter((c) => c.expires > now);
    const path = url.pathname || '/';
    return this.cookies
      .filter((c) =>
        c.hostOnly
          ? url.hostname === c.domain
          : url.hostname === c.domain || url.hostname.endsWith(`.${c.domain}`),
      )
      .filter((c) => path === c.path || path.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`))
      .filter((c) => !c.secure || url.protocol === 'https:')
      .filter(
        (c) => context.sameSite || c.sameSite === 'none' || (c.sameSite === 'lax' && context.topLevelGet),
      )
      .sort((a, b) => b.path.length - a.path.length)
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }

  /** A cookie's value as the jar holds it (any path), for assertions and tampering. */
  get(name: string, host?: string): string | undefined {
    return this.cookies.find((c) => c.name === name && (!host || c.domain === host))?.value;
  }

  set(url: string, setCookie: string): void {
    this.store(new URL(url), [setCookie]);
  }
}

/**
 * A browser without JavaScript: a cookie jar, top-level navigations that follow redirects (303 and
 * 301/302 after POST become GET), and form submission. SameSite is honoured roughly (Strict
 * cookies are withheld once a redirect chain has crossed sites, Lax ones on cross-site POSTs), so
 * that a callback cookie with the wrong SameSite fails here as it would in a real browser.
 * `dispatcher` (an undici Agent) sets TLS options such as a test CA or a client certificate.
 */
export class Browser {
  readonly jar = new CookieJar();

  constructor(private readonly opts: { dispatcher?: Dispatcher; headers?: Record<string, string> } = {}) {}

  async navigate(url: string, init: NavigateOptions = {}): Promise<BrowserResponse> {
    let current = new URL(url);
    let method = init.method ?? 'GET';
    let form = init.form;
    const visited: string[] = [];
    const chainSites = new Set<string>(init.initiator ? [siteOf(new URL(init.initiator))] : []);
    const maxRedirects = init.maxRedirects ?? 20;
    for (let hop = 0; ; hop += 1) {
      visited.push(current.toString());
      chainSites.add(siteOf(current));
      const headers: Record<string, string> = {
        'user-agent': 'gatehouse-test-browser',
        ...this.opts.headers,
        ...init.headers,
      };
      const cookie = this.jar.header(current, {
        sameSite: chainSites.size === 1,
        topLevelGet: method === 'GET',
      });
      if (cookie) headers.cookie = cookie;
      let body: string | undefined;
      if (method === 'POST') {
        headers['content-type'] = 'application/x-www-form-urlencoded';
        body = new URLSearchParams(form ?? {}).toString();
      }
      const res = await fetch(current, {
        method,
        headers,
        body,
        redirect: 'manual',
        ...(this.opts.dispatcher ? { dispatcher: this.opts.dispatcher } : {}),
      });
      this.jar.store(current, res.headers.getSetCookie());
      const text = await res.text();
      const location = res.headers.get('location');
      const base = { status: res.status, headers: res.headers as unknown as Headers, visited };
      if (res.status >= 300 && res.status < 400 && location) {
        const next = new URL(location, current);
        if (init.stopAt?.(next)) return { ...base, url: next.toString(), body: text, stopped: true };
        if (hop >= maxRedirects) throw new Error(`too many redirects (last: ${next})`);
        if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === 'POST')) {
          method = 'GET';
          form = undefined;
        }
        current = next;
        continue;
      }
      return { ...base, url: current.toString(), body: text, stopped: false };
    }
  }

  /** Submits the first form of `page` (its hidden and text inputs, `overrides` on top). */
  async submitForm(
    page: BrowserResponse,
    overrides: Record<string, string> = {},
    init: Pick<NavigateOptions, 'stopAt' | 'headers'> = {},
  ): Promise<BrowserResponse> {
    const form = parseForm(page.body);
    if (!form) throw new Error(`no form on ${page.url} (${page.status}): ${page.body.slice(0, 500)}`);
    const action = new URL(form.action || page.url, page.url);
    if (form.method === 'GET') {
      for (const [k, v] of Object.entries({ ...form.fields, ...overrides })) action.searchParams.set(k, v);
      return this.navigate(action.toString(), { ...init, initiator: page.url });
    }
    return this.navigate(action.toString(), {
      ...init,
      method: 'POST',
      form: { ...form.fields, ...overrides },
      initiator: page.url,
    });
  }
}

const decodeEntities = (s: string) =>
  s.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (_m, e: string) => {
    const lower = e.toLowerCase();
    if (lower.startsWith('#x')) return String.fromCodePoint(parseInt(lower.slice(2), 16));
    if (lower.startsWith('#')) return String.fromCodePoint(parseInt(lower.slice(1), 10));
    return ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" } as Record<string, string>)[lower] ?? e;
  });

function attribute(tag: string, name: string): string | undefined {
  const m = new RegExp(`\\s${name}\\s*=\\s*("([^"]*)"|'([^']*)'|([^\\s>]+))`, 'i').exec(tag);
  return m ? decodeEntities(m[2] ?? m[3] ?? m[4] ?? '') : undefined;
}

/** The first <form> of an HTML page: action, method and its named <input> values. */
export function parseForm(
  html: string,
): { action: string; method: string; fields: Record<string, string> } | undefined {
  const m = /<form\b([^>]*)>([\s\S]*?)<\/form>/i.exec(html);
  if (!m) return undefined;
  const [, attrs = '', inner = ''] = m;
  const fields: Record<string, string> = {};
  for (const input of inner.match(/<input\b[^>]*>/gi) ?? []) {
    const name = attribute(input, 'name');
    if (name) fields[name] = attribute(input, 'value') ?? '';
  }
  return {
    action: attribute(` ${attrs}`, 'action') ?? '',
    method: (attribute(` ${attrs}`, 'method') ?? 'GET').toUpperCase(),
    fields,
  };
}
