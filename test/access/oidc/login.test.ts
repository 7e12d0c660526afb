// The OIDC relying party against a real OpenID Provider (oidc-provider on 127.0.0.1): the full
// authorization code + PKCE login driven by an HTTP client that follows redirects, then every
// way a callback must be refused.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SignJWT, generateKeyPair } from 'jose';
import {
  type CompleteLoginOptions,
  completeLogin,
  discover,
  IdpError,
  JwksCache,
  MetadataCache,
  type OidcMetadata,
  startLogin,
  type StartedLogin,
} from '../../../src/access/oidc/index.js';
import { GatehouseError } from '../../../src/errors/index.js';
import {
  Browser,
  defaultSubject,
  startOidcProvider,
  type TestOidcProvider,
} from '../../helpers/oidc-provider.js';

const REDIRECT_URI = 'https://app.gatehouse.test/.gatehouse/callback';
const CLIENT = { client_id: 'gatehouse', client_secret: 'gatehouse-secret', redirect_uris: [REDIRECT_URI] };
const POST_CLIENT = {
  client_id: 'gatehouse-post',
  client_secret: 'post-secret',
  redirect_uris: [REDIRECT_URI],
  token_endpoint_auth_method: 'client_secret_post',
};
const CLAIMS = { email: 'email', groups: 'groups' };
const SCOPES = ['openid', 'email', 'profile'];

/** Asserts that `promise` rejects with a GatehouseError of `code` (and returns it). */
async function refused(promise: Promise<unknown>, code: string): Promise<GatehouseError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof GatehouseError, `expected a GatehouseError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected ${code}, but it succeeded`);
}

describe('OIDC login against a real OpenID Provider', () => {
  let op: TestOidcProvider;
  let metadata: OidcMetadata;

  before(async () => {
    op = await startOidcProvider({ clients: [CLIENT, POST_CLIENT] });
    metadata = await discover(op.issuer, { cache: new MetadataCache() });
  });
  after(() => op.stop());

  /** Starts a login and drives a fresh browser through the IdP to the redirect_uri. */
  async function loginToCallback(
    opts: { clientId?: string; extraParams?: Record<string, string>; scopes?: string[] } = {},
  ): Promise<{ started: StartedLogin; callbackUrl: string; visited: string[] }> {
    const started = startLogin({
      metadata,
      clientId: opts.clientId ?? CLIENT.client_id,
      redirectUri: REDIRECT_URI,
      scopes: opts.scopes ?? SCOPES,
      returnTo: '/dashboard?tab=1',
      ...(opts.extraParams ? { extraParams: opts.extraParams } : {}),
    });
    const res = await new Browser().navigate(started.authorizationUrl, {
      stopAt: (url) => url.origin + url.pathname === REDIRECT_URI,
    });
    assert.ok(res.stopped, `the IdP did not redirect back (${res.status} at ${res.url}): ${res.body}`);
    return { started, callbackUrl: res.url, visited: res.visited };
  }

  const complete = (
    started: StartedLogin,
    callbackUrl: string,
    overrides: Partial<CompleteLoginOptions> = {},
  ) =>
    completeLogin({
      metadata,
      clientId: CLIENT.client_id,
      clientSecret: CLIENT.client_secret,
      redirectUri: REDIRECT_URI,
      callbackUrl,
      expected: started,
      claims: CLAIMS,
      ...overrides,
    });

  test('discovery validates and keeps what the login needs', () => {
    assert.equal(metadata.issuer, op.issuer);
    assert.equal(metadata.token_endpoint, `${op.issuer}/token`);
    assert.equal(metadata.jwks_uri, `${op.issuer}/jwks`);
    assert.equal(metadata.device_authorization_endpoint, `${op.issuer}/device/auth`);
    assert.ok(metadata.code_challenge_methods_supported?.includes('S256'));
    assert.equal(metadata.authorization_response_iss_parameter_supported, true);
  });

  test('the authorization request carries PKCE S256, state, nonce and the scopes', () => {
    const started = startLogin({
      metadata,
      clientId: 'gatehouse',
      redirectUri: REDIRECT_URI,
      scopes: SCOPES,
      returnTo: '/',
    });
    const url = new URL(started.authorizationUrl);
    assert.equal(url.origin + url.pathname, metadata.authorization_endpoint);
    const p = url.searchParams;
    assert.equal(p.get('response_type'), 'code');
    assert.equal(p.get('client_id'), 'gatehouse');
    assert.equal(p.get('redirect_uri'), REDIRECT_URI);
    assert.equal(p.get('scope'), 'openid email profile');
    assert.equal(p.get('state'), started.state);
    assert.equal(p.get('nonce'), started.nonce);
    assert.equal(p.get('code_challenge_method'), 'S256');
    assert.notEqual(p.get('code_challenge'), started.codeVerifier);
    for (const v of [started.state, started.nonce, started.codeVerifier]) {
      assert.match(v, /^[A-Za-z0-9_-]{43}$/); // 32 random bytes, base64url
    }
    const again = startLogin({
      metadata,
      clientId: 'x',
      redirectUri: REDIRECT_URI,
      scopes: SCOPES,
      returnTo: '/',
    });
    assert.notEqual(again.state, started.state);
    assert.notEqual(again.nonce, started.nonce);
    assert.notEqual(again.codeVerifier, started.codeVerifier);
  });

  test('startLogin refuses scopes without openid, an open-redirect returnTo, and overriding its parameters', () => {
    const base = {
      metadata,
      clientId: 'gatehouse',
      redirectUri: REDIRECT_URI,
      scopes: SCOPES,
      returnTo: '/',
    };
    assert.throws(() => startLogin({ ...base, scopes: ['email'] }), { code: 'invalid_identity_provider' });
    assert.throws(() => startLogin({ ...base, returnTo: 'https://evil.example/' }), {
      code: 'invalid_return_to',
    });
    assert.throws(() => startLogin({ ...base, returnTo: '//evil.example/' }), { code: 'invalid_return_to' });
    assert.throws(() => startLogin({ ...base, extraParams: { nonce: 'fixed' } }), TypeError);
  });

  test('code + PKCE login as alice: email and groups (claims from UserInfo)', async () => {
    op.loginAs('alice@example.com');
    const { started, callbackUrl, visited } = await loginToCallback();
    assert.equal(started.returnTo, '/dashboard?tab=1');
    assert.ok(
      visited.some((u) => u.startsWith(`${op.issuer}/interaction/`)),
      'went through the login',
    );
    const cb = new URL(callbackUrl).searchParams;
    assert.ok(cb.get('code'));
    assert.equal(cb.get('state'), started.state);
    assert.equal(cb.get('iss'), op.issuer);

    const result = await complete(started, callbackUrl);
    assert.equal(result.email, 'alice@example.com');
    assert.deepEqual(result.groups, ['engineering']);
    assert.equal(result.subject, defaultSubject('alice@example.com'));
    assert.equal(result.emailVerified, true);
    assert.equal(result.idTokenClaims.iss, op.issuer);
    assert.equal(result.idTokenClaims.aud, CLIENT.client_id);
    assert.equal(result.idTokenClaims.nonce, started.nonce);
    // oidc-provider's default conformIdTokenClaims keeps scope claims out of the ID token.
    assert.equal(result.idTokenClaims.email, undefined);
    assert.equal(result.userinfoClaims?.email, 'alice@example.com');
    assert.match(result.idToken, /^[\w-]+\.[\w-]+\.[\w-]+$/);
  });

  test('login_hint picks the user: bob, in sales', async () => {
    op.loginAs('alice@example.com');
    const { started, callbackUrl } = await loginToCallback({
      extraParams: { login_hint: 'bob@example.com' },
    });
    const result = await complete(started, callbackUrl);
    assert.equal(result.email, 'bob@example.com');
    assert.deepEqual(result.groups, ['sales']);
  });

  test('client_secret_post when that is all the IdP offers', async () => {
    op.loginAs('alice@example.com');
    const { started, callbackUrl } = await loginToCallback({ clientId: POST_CLIENT.client_id });
    const postOnly = { ...metadata, token_endpoint_auth_methods_supported: ['client_secret_post'] };
    const result = await complete(started, callbackUrl, {
      metadata: postOnly,
      clientId: POST_CLIENT.client_id,
      clientSecret: POST_CLIENT.client_secret,
    });
    assert.equal(result.email, 'alice@example.com');
  });

  test('the code is good once: a replayed callback is refused by the IdP', async () => {
    op.loginAs('alice@example.com');
    const { started, callbackUrl } = await loginToCallback();
    await complete(started, callbackUrl);
    const err = await refused(complete(started, callbackUrl), 'token_exchange_failed');
    assert.match(err.message, /invalid_grant/);
  });

  test('a wrong client secret is refused at the token endpoint', async () => {
    op.loginAs('alice@example.com');
    const { started, callbackUrl } = await loginToCallback();
    const err = await refused(
      complete(started, callbackUrl, { clientSecret: 'wrong' }),
      'token_exchange_failed',
    );
    assert.match(err.message, /invalid_client/);
  });

  test('a wrong PKCE verifier is refused at the token endpoint', async () => {
    op.loginAs('alice@example.com');
    const { started, callbackUrl } = await loginToCallback();
    const other = startLogin({
      metadata,
      clientId: 'x',
      redirectUri: REDIRECT_URI,
      scopes: SCOPES,
      returnTo: '/',
    });
    await refused(
      complete(started, callbackUrl, { expected: { ...started, codeVerifier: other.codeVerifier } }),
      'token_exchange_failed',
    );
  });

  test('wrong state → refused before the code is used', async () => {
    op.loginAs('alice@example.com');
    const { started, callbackUrl } = await loginToCallback();
    const other = startLogin({
      metadata,
      clientId: 'x',
      redirectUri: REDIRECT_URI,
      scopes: SCOPES,
      returnTo: '/',
    });
    await refused(
      complete(started, callbackUrl, { expected: { ...started, state: other.state } }),
      'state_mismatch',
    );
    const noState = new URL(callbackUrl);
    noState.searchParams.delete('state');
    await refused(complete(started, noState.toString()), 'state_mismatch');
    const twoStates = new URL(callbackUrl);
    twoStates.searchParams.append('state', started.state);
    await refused(complete(started, twoStates.toString()), 'callback_invalid');
    // The code was never spent: the genuine callback still completes.
    assert.equal((await complete(started, callbackUrl)).email, 'alice@example.com');
  });

  test('an ID token with another nonce → refused', async () => {
    op.loginAs('alice@example.com');
    const { started, callbackUrl } = await loginToCallback();
    const err = await refused(
      complete(started, callbackUrl, { expected: { ...started, nonce: 'not-the-nonce-of-this-login' } }),
      'id_token_invalid',
    );
    assert.match(err.message, /nonce/);
  });

  test('a callback from another issuer (RFC 9207 iss) → refused', async () => {
    op.loginAs('alice@example.com');
    const { started, callbackUrl } = await loginToCallback();
    const forged = new URL(callbackUrl);
    forged.searchParams.set('iss', 'https://evil.example');
    await refused(complete(started, forged.toString()), 'callback_invalid');
    const missing = new URL(callbackUrl);
    missing.searchParams.delete('iss');
    await refused(complete(started, missing.toString()), 'callback_invalid'); // discovery promised iss
  });

  test('the user denies → idp_error with the IdP error code', async () => {
    op.denyLogins('access_denied', 'End-User denied the request');
    try {
      const { started, callbackUrl } = await loginToCallback();
      assert.equal(new URL(callbackUrl).searchParams.get('error'), 'access_denied');
      const err = await refused(complete(started, callbackUrl), 'idp_error');
      assert.ok(err instanceof IdpError);
      assert.equal(err.error, 'access_denied');
      assert.equal(err.errorDescription, 'End-User denied the request');
      assert.equal(err.status, 400);
    } finally {
      op.loginAs('alice@example.com');
    }
  });

  test('an error response with a foreign state is a state mismatch, not an IdP error', async () => {
    const started = startLogin({
      metadata,
      clientId: 'x',
      redirectUri: REDIRECT_URI,
      scopes: SCOPES,
      returnTo: '/',
    });
    const url = `${REDIRECT_URI}?error=access_denied&state=attacker&iss=${encodeURIComponent(op.issuer)}`;
    await refused(complete(started, url), 'state_mismatch');
  });

  test('an unverified e-mail address is refused', async () => {
    op.loginAs('carol@example.com');
    const { started, callbackUrl } = await loginToCallback();
    const err = await refused(complete(started, callbackUrl), 'email_not_verified');
    assert.equal(err.status, 403);
  });

  test('no e-mail claim (scope not requested, or a claim name the IdP does not send) → email_missing', async () => {
    op.loginAs('alice@example.com');
    const { started, callbackUrl } = await loginToCallback({ scopes: ['openid'] });
    await refused(complete(started, callbackUrl), 'email_missing');
    const again = await loginToCallback();
    await refused(
      complete(again.started, again.callbackUrl, { claims: { email: 'upn', groups: 'groups' } }),
      'email_missing',
    );
  });

  test('an expired ID token → refused', async () => {
    op.loginAs('alice@example.com');
    const { started, callbackUrl } = await loginToCallback();
    const err = await refused(
      complete(started, callbackUrl, { now: () => Date.now() + 2 * 3600_000 }),
      'id_token_invalid',
    );
    assert.match(err.message, /exp/);
  });

  test('an ID token signed by another key (same kid) → refused', async () => {
    op.loginAs('alice@example.com');
    const { started, callbackUrl } = await loginToCallback();
    const jwks = (await (await fetch(metadata.jwks_uri)).json()) as { keys: { kid: string }[] };
    const kid = jwks.keys[0]?.kid ?? '';
    const { privateKey } = await generateKeyPair('RS256');
    const forged = await new SignJWT({
      nonce: started.nonce,
      email: 'mallory@example.com',
      email_verified: true,
    })
      .setProtectedHeader({ alg: 'RS256', kid })
      .setIssuer(op.issuer)
      .setAudience(CLIENT.client_id)
      .setSubject('mallory')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);
    // A man in the middle of the token response swaps the ID token.
    const swapping: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (String(input) !== metadata.token_endpoint) return res;
      const body = (await res.json()) as Record<string, unknown>;
      return Response.json({ ...body, id_token: forged }, { status: res.status });
    };
    const err = await refused(
      complete(started, callbackUrl, { fetch: swapping, jwks: new JwksCache() }),
      'id_token_invalid',
    );
    assert.match(err.message, /signature/i);
  });

  test('with conformIdTokenClaims off, email and groups come from the ID token alone', async () => {
    const op2 = await startOidcProvider({ clients: [CLIENT], conformIdTokenClaims: false });
    try {
      const md = await discover(op2.issuer, { cache: false });
      op2.loginAs('bob@example.com');
      const started = startLogin({
        metadata: md,
        clientId: CLIENT.client_id,
        redirectUri: REDIRECT_URI,
        scopes: SCOPES,
        returnTo: '/',
      });
      const res = await new Browser().navigate(started.authorizationUrl, {
        stopAt: (url) => url.href.startsWith(REDIRECT_URI),
      });
      const result = await completeLogin({
        metadata: md,
        clientId: CLIENT.client_id,
        clientSecret: CLIENT.client_secret,
        redirectUri: REDIRECT_URI,
        callbackUrl: res.url,
        expected: started,
        claims: CLAIMS,
      });
      assert.equal(result.idTokenClaims.email, 'bob@example.com');
      assert.deepEqual(result.idTokenClaims.groups, ['sales']);
      assert.equal(result.userinfoClaims, undefined, 'no UserInfo call needed');
      assert.deepEqual(result.groups, ['sales']);
    } finally {
      await op2.stop();
    }
  });
});
