// ID token and claim handling against a stubbed IdP (an injected fetch): the cases a real
// provider will not produce on demand — foreign audiences, azp, HMAC or unsigned tokens, odd
// claim shapes, UserInfo for someone else, token endpoints that redirect.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { exportJWK, generateKeyPair, type JWTPayload, SignJWT, UnsecuredJWT } from 'jose';
import {
  type CompleteLoginOptions,
  completeLogin,
  JwksCache,
  type OidcMetadata,
  startLogin,
} from '../../../src/access/oidc/index.js';
import { GatehouseError } from '../../../src/errors/index.js';

const ISSUER = 'https://idp.example';
const CLIENT_ID = 'gatehouse';
const REDIRECT_URI = 'https://app.example/.gatehouse/callback';

const metadata: OidcMetadata = {
  issuer: ISSUER,
  authorization_endpoint: `${ISSUER}/authorize`,
  token_endpoint: `${ISSUER}/token`,
  jwks_uri: `${ISSUER}/jwks`,
  userinfo_endpoint: `${ISSUER}/userinfo`,
  token_endpoint_auth_methods_supported: ['client_secret_basic'],
  authorization_response_iss_parameter_supported: false,
  raw: {},
};

const { privateKey, publicKey } = await generateKeyPair('ES256');
const publicJwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };

interface Stub {
  /** What the token endpoint answers. */
  token: () => Response;
  userinfo?: Record<string, unknown>;
  requests: { url: string; init: RequestInit | undefined }[];
}

function stubFetch(stub: Stub): typeof fetch {
  return async (input, init) => {
    const url = String(input);
    stub.requests.push({ url, init });
    if (url === metadata.jwks_uri) return Response.json({ keys: [publicJwk] });
    if (url === metadata.token_endpoint) return stub.token();
    if (url === metadata.userinfo_endpoint && stub.userinfo) return Response.json(stub.userinfo);
    return new Response('not found', { status: 404 });
  };
}

async function sign(claims: JWTPayload, nonce: string, opts: { aud?: string | string[]; exp?: string } = {}) {
  return new SignJWT({ nonce, ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
    .setIssuer(ISSUER)
    .setAudience(opts.aud ?? CLIENT_ID)
    .setSubject('subject-1')
    .setIssuedAt()
    .setExpirationTime(opts.exp ?? '5m')
    .sign(privateKey);
}

/** Runs completeLogin against the stub, with an ID token made by `idToken(nonce)`. */
async function run(
  idToken: (nonce: string) => Promise<string> | string,
  opts: {
    userinfo?: Record<string, unknown>;
    token?: (idToken: string) => Response;
  } & Partial<CompleteLoginOptions> = {},
) {
  const started = startLogin({
    metadata,
    clientId: CLIENT_ID,
    redirectUri: REDIRECT_URI,
    scopes: ['openid', 'email'],
    returnTo: '/',
  });
  const { userinfo, token: tokenResponse, ...overrides } = opts;
  const token = await idToken(started.nonce);
  const stub: Stub = {
    token: tokenResponse
      ? () => tokenResponse(token)
      : () => Response.json({ id_token: token, access_token: 'at-1', token_type: 'Bearer' }),
    requests: [],
  };
  if (userinfo) stub.userinfo = userinfo;
  const fetchImpl = stubFetch(stub);
  const result = completeLogin({
    metadata,
    clientId: CLIENT_ID,
    clientSecret: 'secret with spaces & symbols',
    redirectUri: REDIRECT_URI,
    callbackUrl: `${REDIRECT_URI}?code=the-code&state=${started.state}`,
    expected: started,
    claims: { email: 'email', groups: 'groups' },
    fetch: fetchImpl,
    jwks: new JwksCache({ fetch: fetchImpl }),
    ...overrides,
  });
  return { result, stub, started };
}

async function refusedWith(p: Promise<unknown>, code: string, message?: RegExp) {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof GatehouseError, String(err));
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    return true;
  });
}

describe('completeLogin: ID token and claims', () => {
  test('the token request: code, redirect_uri, PKCE verifier, client_secret_basic form-encoded', async () => {
    const { result, stub, started } = await run((n) =>
      sign({ email: 'Alice@Example.COM', email_verified: true, groups: 'engineering' }, n),
    );
    const r = await result;
    assert.equal(r.email, 'alice@example.com', 'lower-cased');
    assert.deepEqual(r.groups, ['engineering'], 'a single string becomes a one-element list');
    const tokenReq = stub.requests.find((q) => q.url === metadata.token_endpoint);
    assert.ok(tokenReq?.init);
    const body = new URLSearchParams(String(tokenReq.init.body));
    assert.equal(body.get('grant_type'), 'authorization_code');
    assert.equal(body.get('code'), 'the-code');
    assert.equal(body.get('redirect_uri'), REDIRECT_URI);
    assert.equal(body.get('code_verifier'), started.codeVerifier);
    assert.equal(body.get('client_secret'), null, 'the secret is not in the body with client_secret_basic');
    const headers = tokenReq.init.headers as Record<string, string>;
    const basic = Buffer.from(headers.authorization?.replace(/^Basic /, '') ?? '', 'base64').toString();
    assert.equal(basic, 'gatehouse:secret+with+spaces+%26+symbols');
    assert.equal(tokenReq.init.redirect, 'manual');
    assert.equal(
      stub.requests.some((q) => q.url === metadata.userinfo_endpoint),
      false,
      'no UserInfo when the ID token has both claims',
    );
  });

  test('claims missing from the ID token come from UserInfo, whose sub must match', async () => {
    const ok = await run((n) => sign({}, n), {
      userinfo: { sub: 'subject-1', email: 'a@example.com', email_verified: true, groups: ['x', 3, 'y'] },
    });
    const r = await ok.result;
    assert.equal(r.email, 'a@example.com');
    assert.deepEqual(r.groups, ['x', 'y'], 'non-string entries dropped');
    const userinfoReq = ok.stub.requests.find((q) => q.url === metadata.userinfo_endpoint);
    assert.equal((userinfoReq?.init?.headers as Record<string, string>).authorization, 'Bearer at-1');

    const other = await run((n) => sign({}, n), {
      userinfo: { sub: 'someone-else', email: 'm@example.com' },
    });
    await refusedWith(other.result, 'userinfo_failed', /sub/);
  });

  test('no groups claim anywhere is an empty list', async () => {
    const { result } = await run((n) => sign({ email: 'a@example.com' }, n), {
      userinfo: { sub: 'subject-1' },
    });
    assert.deepEqual((await result).groups, []);
  });

  test('email_verified false (or "false") is refused; absent is accepted', async () => {
    await refusedWith(
      (await run((n) => sign({ email: 'a@example.com', email_verified: false, groups: [] }, n))).result,
      'email_not_verified',
    );
    await refusedWith(
      (await run((n) => sign({ email: 'a@example.com', email_verified: 'false', groups: [] }, n))).result,
      'email_not_verified',
    );
    const r = await (await run((n) => sign({ email: 'a@example.com', groups: [] }, n))).result;
    assert.equal(r.emailVerified, undefined);
  });

  test('a custom e-mail claim name is read; a value that is not an address is refused', async () => {
    const r = await (
      await run((n) => sign({ upn: 'a@corp.example', groups: [] }, n), {
        claims: { email: 'upn', groups: 'groups' },
      })
    ).result;
    assert.equal(r.email, 'a@corp.example');
    await refusedWith(
      (await run((n) => sign({ email: 'not an address', groups: [] }, n))).result,
      'email_missing',
    );
  });

  test('aud must include the client; several audiences need azp = client; a foreign azp is refused', async () => {
    await refusedWith(
      (await run((n) => sign({ email: 'a@example.com' }, n, { aud: 'other-client' }))).result,
      'id_token_invalid',
      /aud/,
    );
    await refusedWith(
      (await run((n) => sign({ email: 'a@example.com' }, n, { aud: [CLIENT_ID, 'other'] }))).result,
      'id_token_invalid',
      /azp/,
    );
    const withAzp = await run((n) =>
      sign({ email: 'a@example.com', azp: CLIENT_ID, groups: [] }, n, { aud: [CLIENT_ID, 'other'] }),
    );
    assert.equal((await withAzp.result).email, 'a@example.com');
    await refusedWith(
      (await run((n) => sign({ email: 'a@example.com', azp: 'other' }, n))).result,
      'id_token_invalid',
      /azp/,
    );
  });

  test('unsigned and HMAC-signed ID tokens are refused', async () => {
    const unsecured = (n: string) =>
      new UnsecuredJWT({ nonce: n, email: 'a@example.com' })
        .setIssuer(ISSUER)
        .setAudience(CLIENT_ID)
        .setSubject('subject-1')
        .setIssuedAt()
        .setExpirationTime('5m')
        .encode();
    await refusedWith((await run(unsecured)).result, 'id_token_invalid');
    // HS256 keyed with the client secret (OIDC allows it; Gatehouse does not).
    const hmac = (n: string) =>
      new SignJWT({ nonce: n, email: 'a@example.com' })
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuer(ISSUER)
        .setAudience(CLIENT_ID)
        .setSubject('subject-1')
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(new TextEncoder().encode('secret with spaces & symbols'));
    await refusedWith((await run(hmac)).result, 'id_token_invalid', /alg/i);
  });

  test('a missing nonce, or a token from another issuer, is refused', async () => {
    const noNonce = await run(() =>
      new SignJWT({ email: 'a@example.com' })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setIssuer(ISSUER)
        .setAudience(CLIENT_ID)
        .setSubject('subject-1')
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(privateKey),
    );
    await refusedWith(noNonce.result, 'id_token_invalid', /nonce/);
    const foreign = await run((n) =>
      new SignJWT({ nonce: n, email: 'a@example.com' })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setIssuer('https://other-idp.example')
        .setAudience(CLIENT_ID)
        .setSubject('subject-1')
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(privateKey),
    );
    await refusedWith(foreign.result, 'id_token_invalid', /iss/);
  });

  test('token endpoint failures: an error body, a redirect, no id_token', async () => {
    const errBody = await run((n) => sign({}, n), {
      token: () =>
        Response.json({ error: 'invalid_grant', error_description: 'code expired' }, { status: 400 }),
    });
    await refusedWith(errBody.result, 'token_exchange_failed', /invalid_grant \(code expired\)/);
    const redirect = await run((n) => sign({}, n), {
      token: () => new Response(null, { status: 302, headers: { location: 'https://evil.example/token' } }),
    });
    await refusedWith(redirect.result, 'token_exchange_failed', /redirect/);
    const noIdToken = await run((n) => sign({}, n), { token: () => Response.json({ access_token: 'at' }) });
    await refusedWith(noIdToken.result, 'token_exchange_failed', /id_token/);
  });

  test('an unreachable JWKS is a 502, not an invalid token', async () => {
    const { result } = await run((n) => sign({ email: 'a@example.com' }, n), {
      jwks: new JwksCache({ fetch: async () => new Response('down', { status: 503 }) }),
    });
    await assert.rejects(result, (err: unknown) => {
      assert.ok(err instanceof GatehouseError);
      assert.equal(err.status, 502, err.message);
      return true;
    });
  });

  test('a token endpoint that never answers times out', async () => {
    const hanging: typeof fetch = (_input, init) =>
      new Promise((_resolve, reject) => {
        // AbortSignal.timeout's timer does not keep the process alive; a real socket would.
        const alive = setTimeout(() => undefined, 10_000);
        init?.signal?.addEventListener('abort', () => {
          clearTimeout(alive);
          reject(init.signal?.reason);
        });
      });
    const started = startLogin({
      metadata,
      clientId: CLIENT_ID,
      redirectUri: REDIRECT_URI,
      scopes: ['openid'],
      returnTo: '/',
    });
    await refusedWith(
      completeLogin({
        metadata,
        clientId: CLIENT_ID,
        clientSecret: 's',
        redirectUri: REDIRECT_URI,
        callbackUrl: `${REDIRECT_URI}?code=c&state=${started.state}`,
        expected: started,
        claims: { email: 'email', groups: 'groups' },
        fetch: hanging,
        timeoutMs: 50,
      }),
      'token_exchange_failed',
      /within 50 ms/,
    );
  });

  test('a callback without code or error is refused', async () => {
    const started = startLogin({
      metadata,
      clientId: CLIENT_ID,
      redirectUri: REDIRECT_URI,
      scopes: ['openid'],
      returnTo: '/',
    });
    await refusedWith(
      completeLogin({
        metadata,
        clientId: CLIENT_ID,
        clientSecret: 's',
        redirectUri: REDIRECT_URI,
        callbackUrl: `${REDIRECT_URI}?state=${started.state}`,
        expected: started,
        claims: { email: 'email', groups: 'groups' },
      }),
      'callback_invalid',
    );
  });
});
