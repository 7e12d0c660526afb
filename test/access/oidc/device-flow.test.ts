// The test provider's device authorization grant (RFC 8628), for device registration: a device
// asks for a code, a user approves it through the provider's own pages, the device's poll gets
// tokens; the ID token verifies with the same JWKS the login uses.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { discover } from '../../../src/access/oidc/index.js';
import {
  DEVICE_CODE_GRANT,
  defaultSubject,
  startOidcProvider,
  type TestOidcProvider,
} from '../../helpers/oidc-provider.js';

const CLIENT = {
  client_id: 'gatehouse-device',
  client_secret: 'device-secret',
  redirect_uris: [] as string[],
};

describe('test provider: device flow', () => {
  let op: TestOidcProvider;
  const basic = `Basic ${Buffer.from(`${CLIENT.client_id}:${CLIENT.client_secret}`).toString('base64')}`;

  before(async () => {
    op = await startOidcProvider({
      clients: [{ ...CLIENT, response_types: [], grant_types: [DEVICE_CODE_GRANT] }],
    });
  });
  after(() => op.stop());

  async function post(url: string, form: Record<string, string>) {
    const res = await fetch(url, {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  test('start, approve as alice, poll: tokens for alice', async () => {
    const md = await discover(op.issuer, { cache: false });
    assert.ok(md.device_authorization_endpoint);
    const start = await post(md.device_authorization_endpoint, { scope: 'openid email profile' });
    assert.equal(start.status, 200, JSON.stringify(start.body));
    const { device_code, user_code, verification_uri, verification_uri_complete } = start.body as Record<
      string,
      string
    >;
    assert.ok(device_code && user_code);
    assert.equal(verification_uri, `${op.issuer}/device`);
    assert.ok(verification_uri_complete?.includes(encodeURIComponent(user_code).replace(/%2D/g, '-')));

    const poll = () =>
      post(md.token_endpoint, { grant_type: DEVICE_CODE_GRANT, device_code: device_code ?? '' });
    const pending = await poll();
    assert.equal(pending.status, 400);
    assert.equal(pending.body.error, 'authorization_pending');

    await op.approveDeviceCode(user_code ?? '', 'alice@example.com');

    const granted = await poll();
    assert.equal(granted.status, 200, JSON.stringify(granted.body));
    assert.equal(granted.body.token_type, 'Bearer');
    assert.ok(granted.body.access_token);
    const { payload } = await jwtVerify(
      String(granted.body.id_token),
      createRemoteJWKSet(new URL(md.jwks_uri)),
      {
        issuer: op.issuer,
        audience: CLIENT.client_id,
      },
    );
    assert.equal(payload.sub, defaultSubject('alice@example.com'));

    const userinfo = await fetch(md.userinfo_endpoint ?? '', {
      headers: { authorization: `Bearer ${String(granted.body.access_token)}` },
    });
    const claims = (await userinfo.json()) as Record<string, unknown>;
    assert.equal(claims.email, 'alice@example.com');
    assert.deepEqual(claims.groups, ['engineering']);

    const again = await poll();
    assert.equal(again.body.error, 'invalid_grant', 'a device code is good once');
    await assert.rejects(op.approveDeviceCode(user_code ?? '', 'alice@example.com'), /no confirmation form/);
  });

  test('a user who aborts: the poll gets access_denied', async () => {
    const start = await post(`${op.issuer}/device/auth`, { scope: 'openid' });
    const { device_code, user_code } = start.body as Record<string, string>;
    await op.denyDeviceCode(user_code ?? '');
    const res = await post(`${op.issuer}/token`, {
      grant_type: DEVICE_CODE_GRANT,
      device_code: device_code ?? '',
    });
    assert.equal(res.body.error, 'access_denied');
  });

  test('unknown codes and users are reported', async () => {
    await assert.rejects(op.approveDeviceCode('BCDF-GHJK', 'alice@example.com'), /no confirmation form/);
    await assert.rejects(op.approveDeviceCode('BCDF-GHJK', 'nobody@example.com'), /unknown user/);
  });
});
