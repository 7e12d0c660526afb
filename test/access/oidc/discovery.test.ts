// Identity-provider configuration and discovery: the schema's defaults and limits, the issuer
// that must match exactly, endpoint checks, the cache.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Fastify from 'fastify';
import {
  discover,
  discoveryUrl,
  IdentityProviderInput,
  MetadataCache,
  parseIdentityProviderInput,
} from '../../../src/access/oidc/index.js';
import { GatehouseError } from '../../../src/errors/index.js';
import { startOidcProvider, type TestOidcProvider } from '../../helpers/oidc-provider.js';

const base = {
  name: 'Corp SSO',
  type: 'oidc',
  issuer: 'https://sso.example.com',
  client_id: 'gatehouse',
  client_secret: 'secret',
};

describe('IdentityProviderInput', () => {
  test('defaults: scopes openid email profile, claims email and groups', () => {
    const parsed = parseIdentityProviderInput({ ...base });
    assert.deepEqual(parsed.scopes, ['openid', 'email', 'profile']);
    assert.deepEqual(parsed.claims, { email: 'email', groups: 'groups' });
    const custom = parseIdentityProviderInput({
      ...base,
      scopes: ['openid', 'email', 'groups'],
      claims: { groups: 'https://example.com/claims/groups' },
    });
    assert.deepEqual(custom.claims, { email: 'email', groups: 'https://example.com/claims/groups' });
  });

  test('the same defaults and checks through Fastify (the API validates bodies with the schema)', async () => {
    // The API's Ajv options (src/api/app.ts).
    const app = Fastify({
      ajv: {
        customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false },
      },
    });
    app.post('/idp', { schema: { body: IdentityProviderInput } }, async (req) => req.body);
    try {
      const post = (payload: Record<string, unknown>) => app.inject({ method: 'POST', url: '/idp', payload });
      const ok = await post(base);
      assert.equal(ok.statusCode, 200, ok.body);
      assert.deepEqual(ok.json().scopes, ['openid', 'email', 'profile']);
      assert.deepEqual(ok.json().claims, { email: 'email', groups: 'groups' });
      assert.equal((await post({ ...base, scopes: ['email'] })).statusCode, 400);
      assert.equal((await post({ ...base, issuer: 'http://sso.example.com' })).statusCode, 400);
      assert.equal((await post({ ...base, issuer: 'http://127.0.0.1:8080' })).statusCode, 200);
      assert.equal((await post({ ...base, extra: 1 })).statusCode, 400);
    } finally {
      await app.close();
    }
  });

  test('issuer: https, or http on loopback only; no query, fragment or credentials', () => {
    for (const ok of [
      'https://sso.example.com',
      'https://sso.example.com/',
      'https://login.example.com/tenant/v2.0',
      'https://sso.example.com:8443/realms/main',
      'http://127.0.0.1:9000',
      'http://localhost:9000/x',
      'http://[::1]:9000',
    ]) {
      assert.equal(parseIdentityProviderInput({ ...base, issuer: ok }).issuer, ok);
    }
    for (const bad of [
      'http://sso.example.com',
      'http://127.0.0.2',
      'http://localhost.evil.example',
      'ftp://sso.example.com',
      'https://sso.example.com?x=1',
      'https://sso.example.com#f',
      'https://user:pw@sso.example.com',
      'https://',
      'sso.example.com',
      '',
    ]) {
      assert.throws(
        () => parseIdentityProviderInput({ ...base, issuer: bad }),
        {
          code: 'invalid_identity_provider',
          status: 400,
        },
        bad,
      );
    }
  });

  test("scopes must include 'openid'; strict object; type must be oidc", () => {
    const fails = (input: unknown, re: RegExp) =>
      assert.throws(
        () => parseIdentityProviderInput(input),
        (err: unknown) => {
          assert.ok(err instanceof GatehouseError);
          assert.equal(err.code, 'invalid_identity_provider');
          assert.match(err.message, re);
          return true;
        },
      );
    fails({ ...base, scopes: ['email', 'profile'] }, /scopes/);
    fails({ ...base, scopes: [] }, /scopes/);
    fails({ ...base, scopes: ['openid', 'openid'] }, /scopes/);
    fails({ ...base, scopes: ['openid', 'bad scope'] }, /scopes/);
    fails({ ...base, extra: true }, /extra|additional/i);
    fails({ ...base, claims: { email: 'email', other: 'x' } }, /claims/);
    fails({ ...base, claims: { email: '' } }, /claims\/email/);
    fails({ ...base, type: 'saml' }, /type/);
    fails({ ...base, client_secret: '' }, /client_secret/);
    fails({ name: 'x' }, /\//);
    fails(null, /object/);
    fails([base], /object/);
  });
});

describe('discovery', () => {
  let op: TestOidcProvider;
  before(async () => {
    op = await startOidcProvider();
  });
  after(() => op.stop());

  const fails = async (p: Promise<unknown>, re: RegExp) =>
    assert.rejects(p, (err: unknown) => {
      assert.ok(err instanceof GatehouseError, String(err));
      assert.equal(err.code, 'oidc_discovery_failed');
      assert.equal(err.status, 502);
      assert.match(err.message, re);
      return true;
    });

  test('the well-known URL keeps the issuer path', () => {
    assert.equal(discoveryUrl('https://a.example'), 'https://a.example/.well-known/openid-configuration');
    assert.equal(discoveryUrl('https://a.example/'), 'https://a.example/.well-known/openid-configuration');
    assert.equal(
      discoveryUrl('https://a.example/t/v2'),
      'https://a.example/t/v2/.well-known/openid-configuration',
    );
  });

  test('a real provider: the issuer must match exactly (a trailing slash is another issuer)', async () => {
    const md = await discover(op.issuer, { cache: false });
    assert.equal(md.issuer, op.issuer);
    await fails(discover(`${op.issuer}/`, { cache: false }), /is not the configured issuer/);
  });

  test('a document naming another issuer is refused', async () => {
    const doc = (await (await fetch(discoveryUrl(op.issuer))).json()) as Record<string, unknown>;
    const liar: typeof fetch = async () => Response.json({ ...doc, issuer: 'https://evil.example' });
    await fails(
      discover(op.issuer, { fetch: liar, cache: false }),
      /"https:\/\/evil\.example" is not the configured issuer/,
    );
  });

  test('missing or insecure endpoints, no S256, no code flow, HTTP errors, redirects, non-JSON', async () => {
    const issuer = 'https://idp.example';
    const good = {
      issuer,
      authorization_endpoint: `${issuer}/auth`,
      token_endpoint: `${issuer}/token`,
      jwks_uri: `${issuer}/jwks`,
    };
    const serve =
      (body: unknown, init?: ResponseInit): typeof fetch =>
      async () =>
        Response.json(body, init);
    const md = await discover(issuer, { fetch: serve(good), cache: false });
    assert.deepEqual(md.token_endpoint_auth_methods_supported, ['client_secret_basic'], 'the spec default');
    assert.equal(md.authorization_response_iss_parameter_supported, false);

    await fails(
      discover(issuer, { fetch: serve({ ...good, token_endpoint: undefined }), cache: false }),
      /token_endpoint is missing/,
    );
    await fails(
      discover(issuer, { fetch: serve({ ...good, jwks_uri: 'http://idp.example/jwks' }), cache: false }),
      /jwks_uri/,
    );
    await fails(
      discover(issuer, { fetch: serve({ ...good, authorization_endpoint: 42 }), cache: false }),
      /authorization_endpoint/,
    );
    await fails(
      discover(issuer, {
        fetch: serve({ ...good, code_challenge_methods_supported: ['plain'] }),
        cache: false,
      }),
      /S256/,
    );
    await fails(
      discover(issuer, { fetch: serve({ ...good, response_types_supported: ['id_token'] }), cache: false }),
      /code/,
    );
    await fails(
      discover(issuer, {
        fetch: serve({ ...good, token_endpoint_auth_methods_supported: 'client_secret_basic' }),
        cache: false,
      }),
      /array of strings/,
    );
    await fails(discover(issuer, { fetch: serve(good, { status: 500 }), cache: false }), /HTTP 500/);
    await fails(discover(issuer, { fetch: serve([good]), cache: false }), /JSON object/);
    await fails(
      discover(issuer, {
        fetch: async () => new Response('<html>', { headers: { 'content-type': 'text/html' } }),
        cache: false,
      }),
      /JSON object/,
    );
    await fails(
      discover(issuer, {
        fetch: async () =>
          new Response(null, { status: 301, headers: { location: 'https://evil.example/' } }),
        cache: false,
      }),
      /redirect/,
    );
    await fails(
      discover(issuer, {
        fetch: async () => {
          throw new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED') });
        },
        cache: false,
      }),
      /ECONNREFUSED/,
    );
    // More than 1 MiB: refused by its declared length, or while reading when it declares none.
    const big = `{"issuer":"${'x'.repeat(1024 * 1024)}"}`;
    await fails(
      discover(issuer, {
        fetch: async () => new Response(big, { headers: { 'content-length': String(big.length) } }),
        cache: false,
      }),
      /response too large \(\d+ bytes\)/,
    );
    await fails(
      discover(issuer, { fetch: async () => new Response(big), cache: false }),
      /response larger than 1048576 bytes/,
    );
    await fails(discover('http://idp.example', { fetch: serve(good), cache: false }), /https/);
  });

  test('a real provider that is gone, and one that never answers', async () => {
    const gone = await startOidcProvider();
    const issuer = gone.issuer;
    await gone.stop();
    await fails(discover(issuer, { cache: false, timeoutMs: 2000 }), /cannot reach/);
    const hanging: typeof fetch = (_input, init) =>
      new Promise((_resolve, reject) => {
        const alive = setTimeout(() => undefined, 10_000); // a real socket would keep the loop alive
        init?.signal?.addEventListener('abort', () => {
          clearTimeout(alive);
          reject(init.signal?.reason);
        });
      });
    await fails(
      discover('https://slow.example', { fetch: hanging, cache: false, timeoutMs: 50 }),
      /within 50 ms/,
    );
  });

  test('the cache: one fetch per TTL, concurrent look-ups shared, failures not kept', async () => {
    let calls = 0;
    let fail = false;
    const counting: typeof fetch = async (input, init) => {
      calls += 1;
      if (fail) return new Response('down', { status: 503 });
      return fetch(input, init);
    };
    let now = 1_000_000;
    const cache = new MetadataCache();
    const opts = { fetch: counting, cache, ttlMs: 60_000, now: () => now };
    const [a, b] = await Promise.all([discover(op.issuer, opts), discover(op.issuer, opts)]);
    assert.equal(calls, 1);
    assert.equal(a, b);
    await discover(op.issuer, opts);
    assert.equal(calls, 1);
    now += 60_000;
    fail = true;
    await assert.rejects(discover(op.issuer, opts), { code: 'oidc_discovery_failed' });
    assert.equal(calls, 2);
    fail = false;
    await discover(op.issuer, opts);
    assert.equal(calls, 3, 'the failure was not cached');
    cache.delete(op.issuer);
    await discover(op.issuer, opts);
    assert.equal(calls, 4);
  });
});
