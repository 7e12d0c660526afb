// The admin console end to end: the real `gatehouse serve` (dist/, with the built console in
// dist/web) driven by Debian's chromium through playwright-core. One browser for the whole file.
// Each main page is saved as a screenshot under docs/screenshots/ (the README shows them).
import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { BrowserContext, Locator, Page } from 'playwright-core';
import { launchChromium, screenshotDir, type TestBrowser } from '../helpers/browser.js';
import { adminApi, gatehouse, type RunningServer, startServer } from '../helpers/gatehouse.js';
import { type CaFiles, makeCsr, makeRootCa, makeSignedCert } from '../helpers/openssl.js';
import { signKeyProof } from '../../src/posture/index.js';
import { requireTool, runOk, skipUnlessTools } from '../helpers/tools.js';

// The README's pictures: written to docs/screenshots in CI and with GATEHOUSE_UPDATE_SCREENSHOTS=1;
// otherwise to a temp dir, so that a local test run does not leave the working tree modified.
const SCREENSHOTS = screenshotDir();

describe('admin console in chromium', { skip: skipUnlessTools('chromium', 'openssl', 'curl') }, () => {
  let dir: string;
  let server: RunningServer;
  let token: string;
  let rootPem: string;
  let chromium: TestBrowser;
  let context: BrowserContext;
  let page: Page;
  let deviceToken: string;
  let partnerCa: CaFiles;
  const api = adminApi(
    () => server.url,
    () => token,
    () => rootPem,
  );

  /** A request with arbitrary headers (service-token registration), trusting the org root. */
  const raw = (method: string, path: string, headers: Record<string, string>, body?: unknown) =>
    new Promise<{ status: number; json: { result: Record<string, unknown> } }>((resolve, reject) => {
      const req = https.request(
        `${server.url}${path}`,
        {
          method,
          ca: rootPem,
          headers: { ...headers, ...(body ? { 'content-type': 'application/json' } : {}) },
        },
        (res) => {
          let data = '';
          res.on('data', (d) => (data += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(data) }));
        },
      );
      req.on('error', reject);
      req.end(body ? JSON.stringify(body) : undefined);
    });

  const goto = async (label: string, heading: string) => {
    await page.getByRole('navigation').getByRole('link', { name: label, exact: true }).click();
    await page.getByRole('heading', { level: 1, name: heading }).waitFor();
  };
  /** Polls until the locator matches `n` elements (more than `n` with `more`); the page's CSP forbids eval. */
  const waitForCount = async (locator: Locator, n: number, more = false) => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const count = await locator.count();
      if (more ? count > n : count === n) return;
      if (Date.now() > deadline)
        assert.fail(`expected ${more ? 'more than ' : ''}${n} elements, found ${count}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const shot = (name: string) => page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-console-'));
    const init = await gatehouse(['init', '--data-dir', join(dir, 'data'), '--org', 'Acme Corp', '--json']);
    assert.equal(init.code, 0, init.stderr);
    const out = JSON.parse(init.stdout) as { admin_token: string; root_ca_pem: string };
    token = out.admin_token;
    rootPem = out.root_ca_pem;
    server = await startServer(['--data-dir', join(dir, 'data')]);
    chromium = await launchChromium();
    ({ context, page } = await chromium.newPage());
  });

  after(async () => {
    await chromium?.close();
    assert.deepEqual(chromium?.pageErrors ?? [], []);
    if (server) assert.equal(await server.stop(), 0, server.output());
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('the control plane serves the console: SPA fallback, cache headers, CSP; the API keeps its 404s', async () => {
    const get = (path: string) =>
      new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>(
        (resolve, reject) =>
          https
            .get(`${server.url}${path}`, { ca: rootPem }, (res) => {
              let body = '';
              res.on('data', (d) => (body += d));
              res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
            })
            .on('error', reject),
      );
    const index = await get('/');
    assert.equal(index.status, 200);
    assert.match(index.body, /<div id="root">/);
    assert.equal(index.headers['cache-control'], 'no-cache');
    assert.match(String(index.headers['content-security-policy']), /script-src 'self';/);
    assert.equal(index.headers['x-frame-options'], 'DENY');
    const deep = await get('/logs/posture?device=x');
    assert.equal(deep.status, 200);
    assert.equal(deep.body, index.body);
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(index.body)?.[1];
    assert.ok(script, index.body);
    const asset = await get(script);
    assert.equal(asset.status, 200);
    assert.match(String(asset.headers['content-type']), /^text\/javascript/);
    assert.equal(asset.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.equal((await get('/assets/missing.js')).status, 404);
    assert.equal((await get('/assets/%2e%2e/%2e%2e/package.json')).status, 404);
    const apiMiss = await get('/api/v1/nothing-here');
    assert.equal(apiMiss.status, 404);
    assert.equal(JSON.parse(apiMiss.body).errors[0].code, 'not_found');
  });

  test('sign in with the admin token: a wrong one is refused next to the field; the token stays out of URLs and cookies', async () => {
    await page.goto(server.url);
    await page.getByRole('heading', { name: 'Gatehouse' }).waitFor();
    await shot('sign-in');
    await page.locator('input[name=token]').fill('gha_wrong');
    await page.getByRole('button', { name: 'Sign in with token' }).click();
    await page.getByRole('alert').filter({ hasText: 'That admin token is not valid.' }).waitFor();
    await page.locator('input[name=token]').fill(token);
    await page.getByRole('button', { name: 'Sign in with token' }).click();
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    assert.ok(!page.url().includes(token));
    assert.equal(await page.evaluate("sessionStorage.getItem('gatehouse.adminToken')"), token);
    assert.equal(await page.evaluate('localStorage.length'), 0);
    assert.deepEqual(
      (await context.cookies()).filter((c) => c.value.includes(token)),
      [],
      'the token is never put in a cookie',
    );
    // A reload keeps the session (sessionStorage), a new tab's context does not share it.
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
  });

  test('every page works on a freshly initialised Gatehouse: empty states, no load errors', async () => {
    const pages: [string, string, string][] = [
      ['Certificates', 'Certificates', 'No CA uploaded yet.'],
      ['Hostnames', 'Hostnames', 'No hostname behind the edge yet.'],
      ['Access', 'Access', 'No service tokens.'],
      ['Devices', 'Devices', 'No device has registered yet.'],
      ['Posture', 'Posture', 'No posture rule.'],
      ['Logs › Posture', 'Logs › Posture', 'No posture results yet.'],
      ['Audit log', 'Audit log', ''],
      ['Overview', 'Overview', 'Nothing expires in the next 90 days.'],
    ];
    for (const [link, heading, text] of pages) {
      await goto(link, heading);
      // The audit log of a new install may hold init's entries, or none.
      if (text) await page.getByText(text, { exact: false }).first().waitFor();
      else await page.locator('main table, main .empty').first().waitFor();
      assert.equal(
        await page.locator('.form-error').count(),
        0,
        `${heading}: ${await page.locator('main').innerText()}`,
      );
    }
    await page.getByText('No posture results yet.').waitFor();
  });

  test('upload a CA: a bad PEM is shown next to the field and nothing typed is lost; then issuer, expiry, fingerprint', async () => {
    const ca = await makeRootCa(dir, 'Partner Root CA');
    partnerCa = ca;
    await goto('Certificates', 'Certificates');
    await page.getByRole('button', { name: 'Add a new certificate' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.locator('input[name=name]').fill('Partner root');
    await dialog.locator('textarea[name=certificates]').fill('-----BEGIN CERTIFICATE-----\nnot base64!\n');
    await dialog.getByRole('button', { name: 'Upload' }).click();
    const fieldError = dialog.locator('.field.has-error .field-error');
    await fieldError.waitFor();
    assert.match(await fieldError.innerText(), /PEM|base64|certificate/i);
    assert.equal(await dialog.locator('input[name=name]').inputValue(), 'Partner root', 'the name survives');
    assert.equal((await api('GET', '/api/v1/mtls_certificates')).json.result.length, 1, 'nothing stored');

    await dialog.locator('textarea[name=certificates]').fill(ca.pem);
    await dialog.getByRole('button', { name: 'Upload' }).click();
    const row = page.getByTestId('ca-Partner root');
    await row.waitFor();
    const fingerprint = new X509Certificate(ca.pem).fingerprint256.replaceAll(':', '').toLowerCase();
    assert.match(await row.innerText(), /CN=Partner Root CA/);
    assert.equal(await row.locator('td.mono').getAttribute('title'), fingerprint);
    assert.match(await row.innerText(), /\d+ d/, 'days left until expiry');
    assert.match(await row.innerText(), /not used/);
  });

  test('create a hostname in enforce mode with the uploaded CA and a custom JSON/HTML block response', async () => {
    await goto('Hostnames', 'Hostnames');
    await page.getByRole('button', { name: 'Add hostname' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.locator('input[name=hostname]').fill('App.Example.Test');
    await dialog.locator('input[name=origin]').fill('ftp://nope');
    await dialog.locator('input[name=mode][value=enforce]').check();
    await dialog.locator('input[name="ca-Partner root"]').check();
    await dialog
      .locator('textarea[name=block_json]')
      .fill('{ "error": "certificate required", "help": "it@acme.test" }');
    await dialog
      .locator('textarea[name=block_html]')
      .fill('<h1 style="color:#c0392b">Access denied</h1><p>Ask IT.</p>');
    const preview = dialog.frameLocator('iframe[title="HTML block response preview"]');
    await preview.getByRole('heading', { name: 'Access denied' }).waitFor();
    await dialog.getByRole('button', { name: 'Save' }).click();
    // The bad origin is reported next to the origin field; everything else is kept.
    const originError = dialog
      .locator('.field.has-error')
      .filter({ has: page.locator('input[name=origin]') });
    await originError.locator('.field-error').waitFor();
    assert.ok(await dialog.locator('input[name="ca-Partner root"]').isChecked());
    await dialog.locator('input[name=origin]').fill('http://127.0.0.1:9');
    await shot('hostname-editor');
    await dialog.getByRole('button', { name: 'Save' }).click();
    const row = page.getByTestId('host-app.example.test');
    await row.waitFor();
    assert.match(await row.innerText(), /enforce/);
    assert.match(await row.innerText(), /Partner root/);

    // A custom server certificate needs its key: the console says so instead of saving without it.
    await row.getByRole('button', { name: 'Edit' }).click();
    await dialog.locator('input[name=tls-source]').nth(1).check();
    await dialog.getByRole('button', { name: 'Save' }).click();
    await dialog.getByText('paste the certificate chain and its private key').waitFor();
    await dialog.getByRole('button', { name: 'Cancel' }).click();

    const hosts = await api<
      { hostname: string; client_auth: { mode: string; mtls_certificate_ids: string[] } }[]
    >('GET', '/api/v1/hostnames');
    const cas = await api<{ id: string; name: string }[]>('GET', '/api/v1/mtls_certificates');
    const partner = cas.json.result.find((c) => c.name === 'Partner root');
    assert.equal(hosts.json.result[0]?.client_auth.mode, 'enforce');
    assert.deepEqual(hosts.json.result[0]?.client_auth.mtls_certificate_ids, [partner?.id]);

    // The edge enforces it: no client certificate → 403 with the JSON written in the console.
    const edge = new URL(server.edgeUrl);
    const r = await runOk(requireTool('curl'), [
      '-sk',
      '-H',
      'accept: application/json',
      '--resolve',
      `app.example.test:${edge.port}:127.0.0.1`,
      '-w',
      '\n%{http_code}',
      `https://app.example.test:${edge.port}/`,
    ]);
    const nl = r.stdout.lastIndexOf('\n');
    assert.equal(r.stdout.slice(nl + 1), '403');
    assert.deepEqual(JSON.parse(r.stdout.slice(0, nl)), {
      error: 'certificate required',
      help: 'it@acme.test',
    });

    await page.goto(`${server.url}/certificates`);
    await page.getByTestId('ca-Partner root').filter({ hasText: 'hostname app.example.test' }).waitFor();
  });

  test('issue a client certificate from a CSR, then revoke it with a reason; filter by status', async () => {
    const csr = await makeCsr(dir, 'laptop-7');
    await goto('Certificates', 'Certificates');
    await page.getByRole('button', { name: 'Issue from CSR' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.locator('textarea[name=csr]').fill(csr.pem);
    await dialog.locator('input[name=common_name]').fill('laptop-7');
    await dialog.locator('input[name=validity_days]').fill('20');
    await dialog.getByRole('button', { name: 'Issue' }).click();
    await dialog.getByText('-----BEGIN CERTIFICATE-----', { exact: false }).waitFor();
    await dialog.getByRole('button', { name: 'Done' }).click();

    const row = page.getByTestId('cert-laptop-7');
    await row.waitFor();
    assert.match(await row.innerText(), /active/);
    await row.getByRole('button', { name: 'Revoke' }).click();
    const revoke = page.getByRole('dialog');
    await revoke.locator('select[name=reason]').selectOption('keyCompromise');
    await revoke.getByRole('button', { name: 'Revoke certificate' }).click();
    await row.filter({ hasText: 'revoked' }).waitFor();
    assert.match(await row.innerText(), /keyCompromise/);

    const list = await api<{ common_name: string; status: string; revocation_reason: string }[]>(
      'GET',
      '/api/v1/client_certificates',
    );
    const cert = list.json.result.find((c) => c.common_name === 'laptop-7');
    assert.equal(cert?.status, 'revoked');
    assert.equal(cert?.revocation_reason, 'keyCompromise');

    await page.locator('select[name=status-filter]').selectOption('active');
    await page.getByText('No client certificates with status active.').waitFor();
    await page.locator('select[name=status-filter]').selectOption('revoked');
    await row.waitFor();
    await page.locator('select[name=status-filter]').selectOption('');
    // Another active certificate, so the overview's expiry chart has something to show.
    const other = await makeCsr(dir, 'build-agent');
    await api('POST', '/api/v1/client_certificates', {
      csr: other.pem,
      common_name: 'build-agent',
      validity_days: 45,
    });
    await page.reload();
    await page.getByTestId('cert-build-agent').waitFor();
    await shot('certificates');
  });

  test('access: a service token whose secret is shown once, and an application built with the rule builder', async () => {
    await goto('Access', 'Access');
    await page.locator('input[name=token-name]').fill('ci-runner');
    await page.getByRole('button', { name: 'Create service token' }).click();
    const secretBox = page.getByTestId('token-secret');
    await secretBox.waitFor();
    const secret = (await secretBox.locator('code').nth(1).innerText()).trim();
    assert.match(secret, /\S{20,}/);
    await page.getByRole('button', { name: 'I have saved it' }).click();
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'Access' }).waitFor();
    assert.equal(await page.getByText(secret).count(), 0, 'the secret is not shown again');

    await page.getByRole('button', { name: 'Add application' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.locator('input[name=app-name]').fill('Intranet');
    await dialog.locator('input[name=domain]').fill('app.example.test/intranet');
    // The default policy (valid certificate) gets a second include rule: the service token.
    const include = dialog.locator('.rules').first();
    await include.getByRole('button', { name: 'Add rule' }).click();
    await include.getByLabel('Rule type').nth(1).selectOption('service_token');
    await include.getByLabel('Service token').selectOption({ label: 'ci-runner' });
    const requireList = dialog.locator('.rules').nth(2);
    await requireList.getByRole('button', { name: 'Add rule' }).click();
    await requireList.getByLabel('Rule type').selectOption('ip');
    await requireList.getByLabel('IP range').fill('10.0.0.0/33');
    await dialog.getByRole('button', { name: 'Save application' }).click();
    await dialog.locator('.field-error').first().waitFor();
    assert.equal(await dialog.locator('input[name=app-name]').inputValue(), 'Intranet');
    await requireList.getByLabel('IP range').fill('10.0.0.0/8');
    await dialog.getByRole('button', { name: 'Save application' }).click();
    await page.getByTestId('apps').getByRole('cell', { name: 'Intranet', exact: true }).waitFor();

    const apps = await api<{ policies: { include: unknown[]; require: unknown[] }[] }[]>(
      'GET',
      '/api/v1/access/apps',
    );
    const tokens = await api<{ id: string }[]>('GET', '/api/v1/access/service_tokens');
    assert.deepEqual(apps.json.result[0]?.policies[0]?.include, [
      { certificate: {} },
      { service_token: { token_id: tokens.json.result[0]?.id } },
    ]);
    assert.deepEqual(apps.json.result[0]?.policies[0]?.require, [{ ip: { ip: '10.0.0.0/8' } }]);
    await shot('access');

    // Revoke the application's sessions (after a confirmation): stored for that application.
    const intranet = page.getByTestId('apps').getByRole('row').filter({ hasText: 'Intranet' });
    page.once('dialog', (d) => void d.accept());
    await intranet.getByRole('button', { name: 'Revoke sessions' }).click();
    await page.getByRole('status').filter({ hasText: 'Sessions of Intranet revoked.' }).waitFor();
    const revocations = await api<{ app_id: string }[]>('GET', '/api/v1/access/sessions/revocations');
    assert.deepEqual(
      revocations.json.result.map((r) => r.app_id),
      [(apps.json.result[0] as unknown as { id: string }).id],
    );
  });

  test('devices: a registered device is listed; requiring hardware-backed registration names it first', async () => {
    const created = await api<{ client_id: string; client_secret: string }>(
      'POST',
      '/api/v1/access/service_tokens',
      {
        name: 'enrolment',
      },
    );
    const reg = await raw(
      'POST',
      '/api/v1/registrations',
      {
        'gatehouse-access-client-id': created.json.result.client_id,
        'gatehouse-access-client-secret': created.json.result.client_secret,
      },
      { name: 'kiosk-3', serial_number: 'KIOSK-3', os: 'linux', key_protection: 'software' },
    );
    assert.equal(reg.status, 201, JSON.stringify(reg.json));
    deviceToken = String(reg.json.result.token);
    await goto('Devices', 'Devices');
    const row = page.getByTestId('device-kiosk-3');
    await row.waitFor();
    assert.match(await row.innerText(), /standard/);
    assert.match(await row.innerText(), /software/);
    // Registered with the "enrolment" service token, named once the token list has loaded.
    await row.filter({ hasText: 'token enrolment' }).waitFor();
    // The assurance filter: a software registration is not among the TPM-attested ones.
    await page.locator('select[name=assurance]').selectOption('tpm_attested');
    await row.waitFor({ state: 'detached' });
    await page.locator('select[name=assurance]').selectOption('software');
    await row.waitFor();
    await page.locator('select[name=assurance]').selectOption('');

    await page.locator('input[name=require_hardware_backed_registration]').check();
    await page.getByRole('button', { name: 'Save settings' }).click();
    const affected = page.getByTestId('affected-devices');
    await affected.waitFor();
    assert.equal((await affected.innerText()).trim(), 'kiosk-3');
    await page.getByRole('button', { name: 'Cancel' }).click();
    const settings = await api<{ require_hardware_backed_registration: boolean }>(
      'GET',
      '/api/v1/organization/settings',
    );
    assert.equal(
      settings.json.result.require_hardware_backed_registration,
      false,
      'nothing saved before confirming',
    );

    await page.locator('input[name=device_certificate_validity]').fill('90 days');
    await page.locator('input[name=require_hardware_backed_registration]').uncheck();
    await page.getByRole('button', { name: 'Save settings' }).click();
    const validityError = page
      .locator('.field.has-error')
      .filter({ has: page.locator('input[name=device_certificate_validity]') });
    await validityError.locator('.field-error').waitFor();
    await page.locator('input[name=device_certificate_validity]').fill('30d');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByText('Saved.').waitFor();
    const after = await api<{ device_certificate_validity: string }>('GET', '/api/v1/organization/settings');
    assert.equal(after.json.result.device_certificate_validity, '30d');
    await shot('devices');
  });

  test('posture: a client-certificate rule made in the console, and the results a device reports in Logs › Posture', async () => {
    await goto('Posture', 'Posture');
    await page.getByRole('button', { name: 'Add client certificate rule' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.locator('input[name=rule-name]').fill('Managed laptop certificate');
    await dialog.locator('input[name=cn]').fill('${serial_number}.acme.test');
    await dialog.getByLabel('Client authentication').check();
    // No CA chosen yet: the API's error lands next to the certificate field, the rest stays.
    await dialog.getByRole('button', { name: 'Save rule' }).click();
    const caField = dialog
      .locator('.field.has-error')
      .filter({ has: page.locator('select[name=certificate_id]') });
    await caField.locator('.field-error').waitFor();
    assert.equal(await dialog.locator('input[name=cn]').inputValue(), '${serial_number}.acme.test');
    await dialog.locator('select[name=certificate_id]').selectOption({ label: 'Partner root' });
    await dialog.getByRole('button', { name: 'Save rule' }).click();
    const row = page.getByTestId('rule-Managed laptop certificate');
    await row.waitFor();
    assert.match(await row.innerText(), /Partner root/);
    assert.match(await row.innerText(), /private key/);
    await shot('posture');

    const rules = await api<{ id: string; input: Record<string, unknown> }[]>(
      'GET',
      '/api/v1/devices/posture',
    );
    const rule = rules.json.result[0];
    assert.ok(rule);
    assert.equal(rule.input.cn, '${serial_number}.acme.test');
    assert.equal(rule.input.check_private_key, true);
    assert.deepEqual(rule.input.extended_key_usage, ['clientAuth']);

    // The device (kiosk-3, serial KIOSK-3) reports through the device API with its token: first a
    // pass with a certificate from the Partner CA and a key proof over a server nonce, then a
    // failure (the certificate is gone).
    const device = { authorization: `Bearer ${deviceToken}` };
    const cert = await makeSignedCert(dir, 'KIOSK-3.acme.test', partnerCa, { ca: false });
    const nonce = await raw('POST', '/api/v1/devices/self/posture/nonce', device);
    assert.equal(nonce.status, 201, JSON.stringify(nonce.json));
    const sha256 = new X509Certificate(cert.pem).fingerprint256.replaceAll(':', '').toLowerCase();
    const n = String(nonce.json.result.nonce);
    const signature = signKeyProof(createPrivateKey(readFileSync(cert.keyPath)), n, sha256);
    const pass = await raw('POST', '/api/v1/devices/self/posture', device, {
      results: [
        {
          rule_id: rule.id,
          success: true,
          reasons: [],
          // The rule names no location: the system trust store is the only one a pass may come from.
          certificate: { pem: cert.pem, location: { trust_store: 'system' } },
          key_proof: { nonce: n, signature },
        },
      ],
    });
    assert.equal(pass.status, 201, JSON.stringify(pass.json));
    const fail = await raw('POST', '/api/v1/devices/self/posture', device, {
      results: [{ rule_id: rule.id, success: false, reasons: ['not_found'] }],
    });
    assert.equal(fail.status, 201, JSON.stringify(fail.json));

    await goto('Logs › Posture', 'Logs › Posture');
    const results = page.getByTestId('posture-result');
    await waitForCount(page.locator('[data-testid=posture-result]'), 2);
    const [newest, oldest] = await results.allInnerTexts();
    assert.match(
      newest ?? '',
      /kiosk-3[\s\S]*Managed laptop certificate[\s\S]*fail[\s\S]*not_found[\s\S]*no certificate found/,
    );
    assert.match(oldest ?? '', /pass[\s\S]*key proved[\s\S]*CN=KIOSK-3\.acme\.test/);
    await page.locator('select[name=result]').selectOption('fail');
    await waitForCount(page.locator('[data-testid=posture-result]'), 1);
    assert.match(await results.first().innerText(), /not_found/);
    await page.locator('select[name=result]').selectOption('');
    await page.locator('select[name=device]').selectOption({ label: 'kiosk-3' });
    await waitForCount(page.locator('[data-testid=posture-result]'), 2);
    await shot('posture-logs');
  });

  test('the audit log lists the changes made in the console, filterable by action', async () => {
    await goto('Audit log', 'Audit log');
    await page.locator('input[name=action]').fill('client_certificate.revoke');
    const rows = page.locator('tbody tr');
    await waitForCount(page.locator('tbody tr'), 1);
    assert.match(await rows.first().innerText(), /client_certificate\.revoke/);
    await rows.first().getByRole('button', { name: 'Details' }).click();
    await page.getByText('keyCompromise').first().waitFor();
    await page.locator('input[name=action]').fill('');
    await waitForCount(page.locator('tbody tr'), 3, true);
    await shot('audit');
  });

  test('the overview charts certificates expiring within 90 days and edge requests by certificate status', async () => {
    await goto('Overview', 'Overview');
    const expiring = page.getByTestId('chart-expiring');
    // build-agent (45 days) is active; laptop-7 was revoked, so only one client certificate bar.
    await expiring.locator('rect title').first().waitFor({ state: 'attached' });
    const titles = await expiring.locator('rect title').allTextContents();
    const certBars = titles.filter((t) => / 1 client certificates$/.test(t));
    assert.equal(certBars.length, 1, titles.join('\n'));
    const edge = page.getByTestId('chart-edge');
    await edge.getByText('invalid').or(edge.getByText('none')).first().waitFor();
    // Today: one pass and one failure.
    await page
      .getByTestId('chart-posture')
      .locator('circle title')
      .filter({ hasText: '50%' })
      .waitFor({ state: 'attached' });
    await shot('overview');
    const overview = await api<{ edge_requests: { cert_status: string; count: number }[] }>(
      'GET',
      '/api/v1/overview',
    );
    assert.ok(
      overview.json.result.edge_requests.some((r) => r.count >= 1),
      JSON.stringify(overview.json.result.edge_requests),
    );
  });

  test('signing out forgets the token', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in with token' }).waitFor();
    assert.equal(await page.evaluate("sessionStorage.getItem('gatehouse.adminToken')"), null);
  });
});
