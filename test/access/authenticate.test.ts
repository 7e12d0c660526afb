// The one OIDC login flow (src/access/authenticate/) against a real OpenID Provider: every purpose
// logs in, and a state is refused when altered, presented for another purpose or another IdP,
// used twice, or expired. Then the authorize side: decideAccess is synchronous and only says that
// a login is needed; handleAccess begins and finishes it.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  beginLogin,
  finishLogin,
  LOGIN_PURPOSES,
  type LoginIdp,
  type LoginPurpose,
  purposeKey,
} from '../../src/access/authenticate/index.js';
import { handleAccess } from '../../src/access/app-login.js';
import { openLoginState } from '../../src/access/oidc/index.js';
import { compileAccess, decideAccess, type AccessRequest } from '../../src/access/runtime.js';
import { generateSigningKey } from '../../src/access/tokens/index.js';
import { GatehouseError } from '../../src/errors/index.js';
import {
  Browser,
  defaultSubject,
  startOidcProvider,
  type TestOidcProvider,
} from '../helpers/oidc-provider.js';

const HOST = 'app.gatehouse.test';
const ORIGIN = `https://${HOST}`;
const PURPOSES: LoginPurpose[] = ['app', 'console', 'device'];
const CLIENT = {
  client_id: 'gatehouse',
  client_secret: 'gatehouse-secret',
  redirect_uris: PURPOSES.map((p) => `${ORIGIN}${LOGIN_PURPOSES[p].callbackPath}`),
};

/** Asserts that `promise` rejects with a GatehouseError of `code` and `status`. */
async function refused(promise: Promise<unknown>, code: string, status = 400): Promise<GatehouseError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof GatehouseError, `expected a GatehouseError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.equal(err.status, status);
    return err;
  }
  assert.fail(`expected ${code}, but it succeeded`);
}

/** `name=value` of a Set-Cookie. */
const pair = (setCookie: string) => setCookie.slice(0, setCookie.indexOf(';'));
const valueOf = (setCookie: string) => pair(setCookie).slice(pair(setCookie).indexOf('=') + 1);

/** The sealed value with one bit of byte `at` (of the decoded body) flipped. */
function flipped(sealed: string, at: number): string {
  const [version, body] = sealed.split('.') as [string, string];
  const bytes = Buffer.from(body, 'base64url');
  const i = at < 0 ? bytes.length + at : at;
  bytes[i] = (bytes[i] as number) ^ 0x01;
  return `${version}.${bytes.toString('base64url')}`;
}

describe('the login flow (authenticate)', () => {
  let op: TestOidcProvider;
  let idp: LoginIdp;
  let other: LoginIdp;
  const stateKey = randomBytes(32);

  before(async () => {
    op = await startOidcProvider({ clients: [CLIENT] });
    const common = {
      issuer: op.issuer,
      clientId: CLIENT.client_id,
      clientSecret: CLIENT.client_secret,
      scopes: ['openid', 'email', 'profile'],
      claims: { email: 'email', groups: 'groups' },
    };
    idp = { id: 'idp-1', name: 'Test IdP', ...common };
    other = { id: 'idp-2', name: 'Another IdP', ...common };
  });
  after(() => op.stop());

  /** Begins a login and drives a browser through the IdP back to the purpose's callback. */
  async function toCallback(
    purpose: LoginPurpose,
    opts: { now?: Date; expires?: number; as?: string } = {},
  ): Promise<{ setCookie: string; sealed: string; callbackUrl: string }> {
    const begun = await beginLogin(idp, purpose, {
      stateKey,
      origin: ORIGIN,
      returnTo: '/return/here?x=1',
      now: opts.now ?? new Date(),
      ...(opts.expires !== undefined ? { expires: opts.expires } : {}),
    });
    op.loginAs(opts.as ?? 'alice@example.com');
    const callback = `${ORIGIN}${LOGIN_PURPOSES[purpose].callbackPath}`;
    const res = await new Browser().navigate(begun.redirect, {
      stopAt: (u) => u.origin + u.pathname === callback,
    });
    assert.ok(res.stopped, `the IdP did not redirect back (${res.status} at ${res.url})`);
    const url = new URL(res.url);
    return {
      setCookie: begun.setCookie,
      sealed: valueOf(begun.setCookie),
      callbackUrl: url.pathname + url.search,
    };
  }

  const finish = (
    purpose: LoginPurpose,
    cookieHeader: string,
    callbackUrl: string,
    opts: { now?: Date; idp?: Parameters<typeof finishLogin>[1]['idp'] } = {},
  ) =>
    finishLogin(purpose, {
      stateKey,
      origin: ORIGIN,
      callbackUrl,
      cookieHeader,
      idp: opts.idp ?? idp,
      now: opts.now ?? new Date(),
    });

  const cookieFor = (purpose: LoginPurpose, sealed: string) => `${LOGIN_PURPOSES[purpose].cookie}=${sealed}`;

  for (const purpose of PURPOSES) {
    test(`${purpose}: begin → IdP → finish; the state cookie is scoped to the callback and cleared after`, async () => {
      const { cookie, cookiePath } = LOGIN_PURPOSES[purpose];
      const { setCookie, sealed, callbackUrl } = await toCallback(purpose);
      assert.match(
        setCookie,
        new RegExp(
          `^${cookie}=v1\\.[A-Za-z0-9_-]+; Max-Age=600; Path=${cookiePath}; HttpOnly; Secure; SameSite=Lax$`,
        ),
      );
      const done = await finish(purpose, cookieFor(purpose, sealed), callbackUrl);
      assert.deepEqual(done.identity, {
        issuer: op.issuer,
        subject: defaultSubject('alice@example.com'),
        email: 'alice@example.com',
        groups: ['engineering'],
      });
      assert.equal(done.idp.id, 'idp-1');
      assert.equal(done.returnTo, '/return/here?x=1');
      assert.match(done.clearCookie, new RegExp(`^${cookie}=; Max-Age=0; .*Path=${cookiePath}; HttpOnly`));
    });
  }

  test('no state cookie → login_state_missing', async () => {
    const { callbackUrl } = await toCallback('app');
    await refused(finish('app', '', callbackUrl), 'login_state_missing');
    // Another purpose's cookie name is not read either.
    const { sealed } = await toCallback('app');
    await refused(finish('app', cookieFor('console', sealed), callbackUrl), 'login_state_missing');
  });

  test('tampering: one flipped bit anywhere in the sealed state → login_state_invalid', async () => {
    const { sealed, callbackUrl } = await toCallback('app');
    const length = Buffer.from(sealed.split('.')[1] as string, 'base64url').length;
    // The IV, the first and last ciphertext bytes, the tag.
    for (const at of [0, 11, 12, length - 17, length - 16, length - 1]) {
      const err = await refused(
        finish('app', cookieFor('app', flipped(sealed, at)), callbackUrl),
        'login_state_invalid',
      );
      assert.match(err.message, /altered or sealed with another key/);
    }
    await refused(
      finish('app', cookieFor('app', `v2.${sealed.slice(3)}`), callbackUrl),
      'login_state_invalid',
    );
    await refused(finish('app', cookieFor('app', sealed.slice(0, 40)), callbackUrl), 'login_state_invalid');
    // The untouched state still works: the refusals above did not use it up.
    const done = await finish('app', cookieFor('app', sealed), callbackUrl);
    assert.equal(done.identity.email, 'alice@example.com');
  });

  test('wrong purpose: a state sealed for one login is refused at every other callback', async () => {
    for (const sealedFor of PURPOSES) {
      const { sealed, callbackUrl } = await toCallback(sealedFor);
      for (const usedAt of PURPOSES.filter((p) => p !== sealedFor)) {
        // Under the other purpose's cookie name, as an attacker who moves it would send it.
        await refused(finish(usedAt, cookieFor(usedAt, sealed), callbackUrl), 'login_state_invalid');
      }
      // Still good for its own purpose.
      assert.equal(
        (await finish(sealedFor, cookieFor(sealedFor, sealed), callbackUrl)).identity.email,
        'alice@example.com',
      );
    }
  });

  test('the purpose is bound by the key and by the AAD, each on its own', async () => {
    const keys = PURPOSES.map((p) => purposeKey(stateKey, p).toString('hex'));
    assert.equal(new Set(keys).size, 3, 'one key per purpose');
    const { sealed } = await toCallback('console');
    // The console's key but another purpose in the AAD: refused.
    assert.throws(
      () => openLoginState(purposeKey(stateKey, 'console'), sealed, { purpose: 'app' }),
      (e) => e instanceof GatehouseError && e.code === 'login_state_invalid',
    );
    // The app's key with the console's AAD: refused.
    assert.throws(
      () => openLoginState(purposeKey(stateKey, 'app'), sealed, { purpose: 'console' }),
      (e) => e instanceof GatehouseError && e.code === 'login_state_invalid',
    );
    assert.equal(
      openLoginState(purposeKey(stateKey, 'console'), sealed, { purpose: 'console' }).idpId,
      'idp-1',
    );
  });

  test('replay: a state (and its code) presented a second time → login_state_replayed', async () => {
    const { sealed, callbackUrl } = await toCallback('console');
    await finish('console', cookieFor('console', sealed), callbackUrl);
    await refused(finish('console', cookieFor('console', sealed), callbackUrl), 'login_state_replayed');

    // Also when the first attempt failed at the IdP (here: a forged code): the state is spent.
    const second = await toCallback('device');
    const forged = second.callbackUrl.replace(/([?&]code=)[^&]+/, '$1forged');
    await refused(finish('device', cookieFor('device', second.sealed), forged), 'token_exchange_failed', 502);
    await refused(
      finish('device', cookieFor('device', second.sealed), second.callbackUrl),
      'login_state_replayed',
    );
  });

  test('expired: after 10 minutes, or after an earlier expiry the caller set → login_state_invalid', async () => {
    const began = new Date();
    const { sealed, callbackUrl } = await toCallback('app', { now: began });
    const late = new Date(began.getTime() + 10 * 60_000 + 1);
    const err = await refused(
      finish('app', cookieFor('app', sealed), callbackUrl, { now: late }),
      'login_state_invalid',
    );
    assert.match(err.message, /has expired/);

    const short = await toCallback('device', { now: began, expires: began.getTime() + 5_000 });
    await refused(
      finish('device', cookieFor('device', short.sealed), short.callbackUrl, {
        now: new Date(began.getTime() + 5_000),
      }),
      'login_state_invalid',
    );
    // A state that did not open is not spent: in time, it finishes.
    const done = await finish('device', cookieFor('device', short.sealed), short.callbackUrl, {
      now: new Date(began.getTime() + 4_000),
    });
    assert.equal(done.identity.email, 'alice@example.com');
  });

  test('another IdP: a state begun with one IdP does not finish with another, nor with a removed one', async () => {
    const { sealed, callbackUrl } = await toCallback('console');
    const err = await refused(
      finish('console', cookieFor('console', sealed), callbackUrl, { idp: other }),
      'login_state_invalid',
    );
    assert.match(err.message, /another identity provider/);
    await refused(
      finish('console', cookieFor('console', sealed), callbackUrl, {
        idp: (id) => (id === 'idp-2' ? other : undefined),
      }),
      'identity_provider_removed',
    );
    const done = await finish('console', cookieFor('console', sealed), callbackUrl, {
      idp: (id) => (id === 'idp-1' ? idp : undefined),
    });
    assert.equal(done.idp.id, 'idp-1');
  });

  describe('authorize: decideAccess only says a login is needed; handleAccess runs it', () => {
    const now = new Date();
    const snapshot = () =>
      compileAccess({
        issuer: 'https://gatehouse.test',
        apps: [
          {
            id: 'app-1',
            name: 'App',
            hostname: HOST,
            path_prefix: '/',
            aud: 'aud-app-1',
            session_duration: '24h',
            policies: [
              { name: 'alice', decision: 'allow', include: [{ email: { email: 'alice@example.com' } }] },
            ],
            allowed_idps: [],
            created_at: now.toISOString(),
            updated_at: now.toISOString(),
          },
        ],
        serviceTokens: [],
        signingKeys: [generateSigningKey(now)],
        idps: [
          {
            id: idp.id,
            name: idp.name,
            type: 'oidc',
            issuer: idp.issuer,
            client_id: idp.clientId,
            sealed_client_secret: 'sealed',
            scopes: [...idp.scopes],
            claims: idp.claims,
            created_at: now.toISOString(),
            updated_at: now.toISOString(),
          },
        ],
        sessionRevocations: [],
        openSecret: () => idp.clientSecret,
        loginStateKey: stateKey,
        now,
      });
    const request = (url: string, cookie?: string, browser = true): AccessRequest => ({
      hostname: HOST,
      authority: HOST,
      url,
      headers: cookie ? { cookie } : {},
      ip: '192.0.2.1',
      browser,
    });

    test('decideAccess is synchronous: login_needed (browser) or 401 (API client), login_callback', () => {
      const s = snapshot();
      const verdict = decideAccess(s, request('/page'), now);
      assert.ok(!(verdict instanceof Promise));
      assert.equal(verdict.kind, 'login_needed');
      assert.ok(
        verdict.kind === 'login_needed' && verdict.idp.id === 'idp-1' && verdict.returnTo === '/page',
      );
      assert.deepEqual(decideAccess(s, request('/page', undefined, false), now), {
        kind: 'unauthenticated',
        reason: 'login_required',
      });
      assert.deepEqual(decideAccess(s, request('/.gatehouse/callback?code=x'), now), {
        kind: 'login_callback',
      });
    });

    test('handleAccess: the login redirect, then the callback issues a session; a console state is refused there', async () => {
      const s = snapshot();
      const login = await handleAccess(s, request('/page?a=1'), now);
      assert.equal(login.kind, 'login');
      if (login.kind !== 'login') return;
      op.loginAs('alice@example.com');
      const res = await new Browser().navigate(login.redirect, {
        stopAt: (u) => u.pathname === '/.gatehouse/callback',
      });
      assert.ok(res.stopped);
      const back = new URL(res.url);
      const cookie = pair(login.setCookie[0] as string);
      const done = await handleAccess(s, request(back.pathname + back.search, cookie), new Date());
      assert.equal(done.kind, 'allow');
      if (done.kind !== 'allow') return;
      assert.equal(done.redirect, '/page?a=1');
      assert.match(done.setCookie?.[0] ?? '', /^Gatehouse_Authorization=/);
      assert.match(done.setCookie?.[1] ?? '', /^Gatehouse_Login=; Max-Age=0;/);

      // No state: 401, as before. A state made for the console login: refused (400).
      assert.deepEqual(await handleAccess(s, request(back.pathname + back.search), now), {
        kind: 'unauthenticated',
        reason: 'login_state_missing',
      });
      const forConsole = await toCallback('console');
      await refused(
        handleAccess(
          s,
          request(
            forConsole.callbackUrl.replace(LOGIN_PURPOSES.console.callbackPath, '/.gatehouse/callback'),
            cookieFor('app', forConsole.sealed),
          ),
          now,
        ),
        'login_state_invalid',
      );
    });
  });
});
