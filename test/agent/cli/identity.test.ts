// `gatehouse device register --identity` end to end: the real agent polls a real `gatehouse serve`
// while the test's browser (real HTTP, cookies, redirects) opens the verification page the agent
// printed, signs in at a real local OpenID provider and approves, or denies.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Agent } from 'undici';
import { softwareRegisterArgs } from '../../helpers/device-org.js';
import { adminApi, CLI, gatehouse, type RunningServer, startServer } from '../../helpers/gatehouse.js';
import {
  Browser,
  defaultSubject,
  parseForm,
  startOidcProvider,
  type TestOidcProvider,
} from '../../helpers/oidc-provider.js';

const ORG = 'Identity Org';

describe('gatehouse device register --identity', () => {
  let dir: string;
  let server: RunningServer;
  let adminToken: string;
  let rootPem: string;
  let rootPath: string;
  let op: TestOidcProvider;
  let dispatcher: Agent;
  const api = adminApi(
    () => server.url,
    () => adminToken,
    () => rootPem,
  );
  const env = () => ({
    ...process.env,
    GATEHOUSE_MDM_FILE: join(dir, 'no-mdm.xml'),
    GATEHOUSE_LOG_LEVEL: 'warn',
  });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-identity-'));
    const init = await gatehouse(['init', '--data-dir', join(dir, 'data'), '--org', ORG, '--json']);
    assert.equal(init.code, 0, init.stderr);
    const out = JSON.parse(init.stdout) as { admin_token: string; root_ca_pem: string };
    adminToken = out.admin_token;
    rootPem = out.root_ca_pem;
    rootPath = join(dir, 'root.pem');
    writeFileSync(rootPath, rootPem);
    server = await startServer(['--data-dir', join(dir, 'data')]);
    op = await startOidcProvider({
      clients: [
        {
          client_id: 'gatehouse-devices',
          client_secret: 'device-idp-secret',
          redirect_uris: [`${server.url}/device/callback`],
        },
      ],
    });
    const idp = await api('POST', '/api/v1/identity_providers', {
      name: 'Company IdP',
      type: 'oidc',
      issuer: op.issuer,
      client_id: 'gatehouse-devices',
      client_secret: 'device-idp-secret',
      scopes: ['openid', 'email'],
    });
    assert.equal(idp.status, 201, JSON.stringify(idp.json));
    dispatcher = new Agent({ connect: { ca: rootPem } });
  });

  after(async () => {
    await dispatcher?.close();
    await op?.stop();
    if (server) assert.equal(await server.stop(), 0, server.output());
    rmSync(dir, { recursive: true, force: true });
  });

  const registerArgs = (stateDir: string) => [
    'device',
    ...softwareRegisterArgs({ stateDir, serverUrl: server.url, org: ORG, caFile: rootPath }),
    '--identity',
  ];

  /** Starts `register --identity`; resolves the verification URL once the agent has printed it. */
  function startRegister(stateDir: string, serial: string) {
    const child: ChildProcess = spawn(
      process.execPath,
      [CLI, ...registerArgs(stateDir), '--serial-number', serial, '--name', `laptop-${serial}`, '--json'],
      { env: env(), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => (stdout += d));
    // 'close', not 'exit': the output is all read by then.
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    const prompt = new Promise<{ url: string; userCode: string }>((resolve, reject) => {
      child.stderr?.on('data', (d) => {
        stderr += d;
        const url = /^\s+(https:\/\/\S+\/device\?user_code=(\S+))$/m.exec(stderr);
        if (url) resolve({ url: url[1] as string, userCode: url[2] as string });
      });
      void exited.then((code) =>
        reject(new Error(`the agent exited (${code}) before prompting:\n${stderr}`)),
      );
    });
    return { child, exited, prompt, out: () => ({ stdout, stderr }) };
  }

  test('a person signs in and approves: the agent receives its hardware-backed registration, recorded in their name', async () => {
    const stateDir = join(dir, 'approved');
    const agent = startRegister(stateDir, 'ID-1');
    try {
      const { url, userCode } = await agent.prompt;
      assert.match(userCode, /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
      assert.ok(url.startsWith(`${server.url}/device?`), url);
      assert.match(
        agent.out().stderr,
        new RegExp(`open ${server.url}/device and enter the code ${userCode}`),
      );

      const browser = new Browser({ dispatcher });
      const page = await browser.navigate(url);
      assert.equal(page.status, 200, page.body);
      assert.ok(page.body.includes(userCode), 'the page shows the code to compare');
      assert.ok(page.body.includes('laptop-ID-1'), 'and the device that asks');
      op.loginAs('alice@example.com');
      const done = await browser.submitForm(page);
      assert.equal(done.status, 200, done.body);
      assert.ok(
        done.visited.some((u) => u.startsWith(op.issuer)),
        'signed in at the IdP',
      );
      assert.match(done.body, /Signed in as <strong>alice@example\.com<\/strong>/);

      assert.equal(await agent.exited, 0, agent.out().stderr);
    } finally {
      agent.child.kill();
    }
    const s = JSON.parse(agent.out().stdout) as {
      registration_id: string;
      mode: string;
      key_protection: string;
    };
    assert.equal(s.mode, 'hardware_backed');
    assert.equal(s.key_protection, 'software');
    const state = JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8')) as {
      enrolment: Record<string, unknown>;
    };
    assert.deepEqual(state.enrolment, { identity: true });
    assert.ok(existsSync(join(stateDir, 'cert.pem')));

    const list = await api<Record<string, unknown>[]>('GET', '/api/v1/registrations');
    const reg = list.json.result.find((r) => r.id === s.registration_id);
    assert.equal(reg?.enrolled_by, 'identity:alice@example.com');
    assert.deepEqual(reg?.enrolled_identity, {
      issuer: op.issuer,
      subject: defaultSubject('alice@example.com'),
      email: 'alice@example.com',
    });

    // The registration works like any other: check-in over mTLS.
    const run = await gatehouse(['device', 'run', '--once', '--state-dir', stateDir], { env: env() });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`^checked in: registration ${s.registration_id}\\n$`));

    // Once it is revoked, the daemon cannot register again on its own: that needs a person.
    assert.equal((await api('DELETE', `/api/v1/registrations/${s.registration_id}`)).status, 200);
    const again = await gatehouse(['device', 'run', '--once', '--state-dir', stateDir], { env: env() });
    assert.equal(again.code, 1);
    assert.match(again.stderr, /\[identity_login_required\]\n$/);
  });

  test('a person denies: the agent stops with device_login_denied and keeps nothing', async () => {
    const stateDir = join(dir, 'denied');
    const agent = startRegister(stateDir, 'ID-2');
    try {
      const { url } = await agent.prompt;
      const browser = new Browser({ dispatcher });
      const page = await browser.navigate(url);
      assert.equal(page.status, 200, page.body);
      // The second form of the page: deny.
      const deny = parseForm(page.body.slice(page.body.lastIndexOf('<form')));
      assert.equal(deny?.action, '/device/deny');
      const denied = await browser.navigate(`${server.url}/device/deny`, {
        method: 'POST',
        form: deny?.fields ?? {},
        initiator: page.url,
      });
      assert.equal(denied.status, 200, denied.body);
      assert.equal(await agent.exited, 1);
    } finally {
      agent.child.kill();
    }
    // With --json the error envelope goes to stdout.
    const failure = JSON.parse(agent.out().stdout) as { success: boolean; errors: { code: string }[] };
    assert.equal(failure.success, false);
    assert.equal(failure.errors[0]?.code, 'device_login_denied');
    assert.equal(existsSync(stateDir), false, 'no state dir, no key file');
    const list = await api<{ enrolled_by: string }[]>('GET', '/api/v1/registrations');
    assert.equal(list.json.result.length, 1, 'only the approved registration exists');
  });

  test('--identity does not go with a service token', async () => {
    const secret = join(dir, 'secret');
    writeFileSync(secret, 'x', { mode: 0o600 });
    const stateDir = join(dir, 'both');
    const r = await gatehouse(
      [...registerArgs(stateDir), '--service-token-id', 'x.access', '--service-token-secret-file', secret],
      { env: env() },
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: .+ \[invalid_argument\]\n$/);
    assert.equal(existsSync(stateDir), false);
    assert.deepEqual(readdirSync(dir).includes('both'), false);
  });
});
