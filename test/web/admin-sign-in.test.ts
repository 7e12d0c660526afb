// Admin sign-in to the console with the org's OIDC provider: a real OpenID Provider
// (test/helpers/oidc-provider.ts), the real `gatehouse serve` started with --admin-idp and an
// allow-list, and Debian's chromium following the redirects.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import https from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { launchChromium, screenshotDir, type TestBrowser } from '../helpers/browser.js';
import { adminApi, gatehouse, type RunningServer, startServer } from '../helpers/gatehouse.js';
import { startOidcProvider, type TestOidcProvider } from '../helpers/oidc-provider.js';
import { skipUnlessTools } from '../helpers/tools.js';

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const address = s.address();
      s.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });

describe('admin sign-in with the organization OIDC provider', { skip: skipUnlessTools('chromium') }, () => {
  let dir: string;
  let op: TestOidcProvider;
  let server: RunningServer;
  let token: string;
  let rootPem: string;
  let idpId: string;
  let chromium: TestBrowser;
  let context: BrowserContext;
  let page: Page;
  const api = adminApi(
    () => server.url,
    () => token,
    () => rootPem,
  );

  /** GET with exactly these headers (a cookie, the CSRF header), no bearer token. */
  const getWith = (path: string, headers: Record<string, string>) =>
    new Promise<{ status: number; body: { errors: { code: string }[]; result: { actor?: string } } }>(
      (resolve, reject) =>
        https
          .get(`${server.url}${path}`, { ca: rootPem, headers }, (res) => {
            let data = '';
            res.on('data', (d) => (data += d));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(data) }));
          })
          .on('error', reject),
    );

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-admin-oidc-'));
    op = await startOidcProvider({
      users: [
        { email: 'alice@example.com', groups: ['engineering'] },
        { email: 'bob@example.com', groups: ['sales'] },
        { email: 'olga@example.com', groups: ['gatehouse-admins'] },
      ],
    });
    const init = await gatehouse(['init', '--data-dir', join(dir, 'data'), '--org', 'Acme Corp', '--json']);
    assert.equal(init.code, 0, init.stderr);
    const out = JSON.parse(init.stdout) as { admin_token: string; root_ca_pem: string };
    token = out.admin_token;
    rootPem = out.root_ca_pem;
    // The redirect URI registered at the IdP names the control plane's port, so fix it first.
    const port = await freePort();
    const listen = ['--api-listen', `127.0.0.1:${port}`];
    server = await startServer(['--data-dir', join(dir, 'data'), ...listen]);
    const idp = await api<{ id: string }>('POST', '/api/v1/identity_providers', {
      name: 'Acme SSO',
      type: 'oidc',
      issuer: op.issuer,
      client_id: 'gatehouse-console',
      client_secret: 'console-secret',
      scopes: ['openid', 'email', 'profile'],
      claims: { email: 'email', groups: 'groups' },
    });
    assert.equal(idp.status, 201, JSON.stringify(idp.json));
    idpId = idp.json.result.id;
    await op.addClient({
      client_id: 'gatehouse-console',
      client_secret: 'console-secret',
      redirect_uris: [`https://127.0.0.1:${port}/api/v1/admin/oidc/callback`],
    });
    // The allow-list is the operator's: serve flags (or GATEHOUSE_ADMIN_* env), read at start.
    assert.equal(await server.stop(), 0, server.output());
    server = await startServer([
      '--data-dir',
      join(dir, 'data'),
      ...listen,
      '--admin-idp',
      idpId,
      '--admin-email',
      'Alice@Example.com',
      '--admin-group',
      'gatehouse-admins',
    ]);
    chromium = await launchChromium();
    await freshBrowserSession();
  });

  /** A new context: no cookies at Gatehouse or at the IdP (whose own session would skip the login). */
  async function freshBrowserSession() {
    await context?.close();
    ({ context, page } = await chromium.newPage());
  }

  after(async () => {
    await chromium?.close();
    assert.deepEqual(chromium?.pageErrors ?? [], []);
    if (server) assert.equal(await server.stop(), 0, server.output());
    await op?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('someone the IdP knows but the allow-list does not is sent back with the reason, and gets no session', async () => {
    op.loginAs('bob@example.com');
    await page.goto(server.url);
    const sso = page.getByRole('link', { name: 'Sign in with Acme SSO' });
    await sso.waitFor();
    await page.screenshot({ path: join(screenshotDir(), 'sign-in-sso.png') });
    await sso.click();
    await page.getByText('That account is not on the list of Gatehouse admins.').waitFor();
    assert.match(page.url(), /\/sign-in\?error=admin_not_allowed$/);
    assert.equal((await context.cookies()).filter((c) => c.name === 'Gatehouse_Admin').length, 0);
  });

  test('an allowed admin signs in through the IdP; the session is an HttpOnly, Secure, SameSite=Strict cookie', async () => {
    op.loginAs('alice@example.com');
    await freshBrowserSession();
    await page.goto(server.url);
    await page.getByRole('link', { name: 'Sign in with Acme SSO' }).click();
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    await page.getByText('oidc:alice@example.com').waitFor();
    const cookie = (await context.cookies()).find((c) => c.name === 'Gatehouse_Admin');
    assert.ok(cookie);
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.secure, true);
    assert.equal(cookie.sameSite, 'Strict');
    assert.equal(await page.evaluate("sessionStorage.getItem('gatehouse.adminToken')"), null);

    // Changes made in the console are audited as the person, and so is the sign-in.
    await page.getByRole('navigation').getByRole('link', { name: 'Access', exact: true }).click();
    await page.locator('input[name=token-name]').fill('made-by-alice');
    await page.getByRole('button', { name: 'Create service token' }).click();
    await page.getByTestId('token-secret').waitFor();
    const audit = await api<{ actor: string; action: string }[]>('GET', '/api/v1/audit');
    const actions = audit.json.result
      .filter((e) => e.actor === 'oidc:alice@example.com')
      .map((e) => e.action);
    assert.ok(actions.includes('admin.sign_in'), actions.join());
    assert.ok(actions.includes('service_token.create'), actions.join());
  });

  test('the cookie alone is not enough: the CSRF header is required, and a forged cookie is refused', async () => {
    const cookie = (await context.cookies()).find((c) => c.name === 'Gatehouse_Admin');
    assert.ok(cookie);
    const jar = `Gatehouse_Admin=${cookie.value}`;
    const noHeader = await getWith('/api/v1/admin/session', { cookie: jar });
    assert.equal(noHeader.status, 403);
    assert.equal(noHeader.body.errors[0]?.code, 'csrf_header_missing');
    const ok = await getWith('/api/v1/admin/session', { cookie: jar, 'gatehouse-csrf': '1' });
    assert.equal(ok.status, 200);
    assert.equal(ok.body.result.actor, 'oidc:alice@example.com');
    // Same claims, other signature: someone who cannot read the master key cannot mint a session.
    const [h, p] = cookie.value.split('.');
    const forged = await getWith('/api/v1/admin/session', {
      cookie: `Gatehouse_Admin=${h}.${p}.${Buffer.alloc(32).toString('base64url')}`,
      'gatehouse-csrf': '1',
    });
    assert.equal(forged.status, 401);
    assert.equal(forged.body.errors[0]?.code, 'session_invalid');
  });

  test('membership of an allowed group is enough; signing out ends the session', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('link', { name: 'Sign in with Acme SSO' }).waitFor();
    assert.equal((await context.cookies()).filter((c) => c.name === 'Gatehouse_Admin' && c.value).length, 0);
    const gone = await getWith('/api/v1/admin/session', { 'gatehouse-csrf': '1' });
    assert.equal(gone.status, 401);
    op.loginAs('olga@example.com');
    await freshBrowserSession();
    await page.goto(server.url);
    await page.getByRole('link', { name: 'Sign in with Acme SSO' }).click();
    await page.getByText('oidc:olga@example.com').waitFor();
  });
});
