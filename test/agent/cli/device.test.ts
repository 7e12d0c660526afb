// `gatehouse device …` end to end: the real binary against a real `gatehouse serve`, real TLS.
// Keys are the software provider's (--insecure-software-key); device calls made here directly
// (node:https with the state dir's key and cert.pem) prove what the agent's own calls rely on.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { adminApi, CLI, gatehouse, type RunningServer, startServer } from '../../helpers/gatehouse.js';
import { softwareRegisterArgs } from '../../helpers/device-org.js';
import { makeCsr, makeRootCa } from '../../helpers/openssl.js';
import { startSoftHsm } from '../../helpers/softhsm.js';
import { requireTool, run, runOk, skipUnlessTools } from '../../helpers/tools.js';
import { SOFT_TPM_TOOLS, startSoftTpm } from '../../helpers/tpm.js';

const ORG = 'Agent Org';
/** A software key's file in the state dir (the provider's naming). */
const keyFile = (name: string) => /^device-key-[0-9a-f]+\.pem$/.test(name);

interface Status {
  registration_id: string;
  device_id: string;
  mode: string;
  key_protection: string;
  certificate_expires_on: string | null;
  public_key_sha256: string | null;
  last_successful_call: string | null;
}

describe('gatehouse device', () => {
  let dir: string;
  let server: RunningServer;
  let adminToken: string;
  let rootPem: string;
  let rootPath: string;
  let st: { client_id: string; client_secret: string };
  let secretPath: string;
  const api = adminApi(
    () => server.url,
    () => adminToken,
    () => rootPem,
  );

  /** `gatehouse device ARGS…`, with no MDM file unless one is named. */
  const device = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    gatehouse(['device', ...args], {
      env: { GATEHOUSE_MDM_FILE: join(dir, 'no-mdm.xml'), GATEHOUSE_LOG_LEVEL: 'warn', ...env },
    });

  const registerArgs = (stateDir: string, serial: string) =>
    softwareRegisterArgs({
      stateDir,
      serverUrl: server.url,
      org: ORG,
      caFile: rootPath,
      serviceToken: { clientId: st.client_id, secretFile: secretPath },
      serialNumber: serial,
    });

  async function register(stateDir: string, serial: string, extra: string[] = []): Promise<Status> {
    const r = await device([...registerArgs(stateDir, serial), ...extra, '--json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Status;
  }

  async function status(stateDir: string): Promise<Status> {
    const r = await device(['status', '--state-dir', stateDir, '--json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Status;
  }

  /** Fails with `error: … [code]` and exit 1. */
  async function fails(args: string[], code: string, env: NodeJS.ProcessEnv = {}) {
    const r = await device(args, env);
    assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
    // tpm2-pkcs11 logs its own "ERROR: …" lines (always, whatever its log level) before ours.
    const ours = r.stderr.replace(/^ERROR: .*\n/gm, '');
    assert.match(ours, new RegExp(`^error: .+ \\[${code}\\]\\n$`), r.stderr);
    return ours;
  }

  /** A device call made here: the state dir's token, and its key + cert.pem when it has them. */
  function deviceCall(
    method: string,
    path: string,
    creds: { token: string; key?: string; cert?: string },
  ): Promise<{ status: number; json: { result: Record<string, unknown>; errors: { code: string }[] } }> {
    return new Promise((resolve, reject) => {
      const req = https.request(
        `${server.url}/api/v1${path}`,
        {
          method,
          ca: rootPem,
          ...(creds.key && creds.cert ? { key: creds.key, cert: creds.cert } : {}),
          headers: { authorization: `Bearer ${creds.token}` },
          agent: false,
        },
        (res) => {
          let data = '';
          res.on('data', (d) => (data += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(data) }));
        },
      );
      req.on('error', reject);
      req.end();
    });
  }

  /** The credentials a state dir holds (read now: copies stay valid after the dir changes). */
  function creds(stateDir: string): { token: string; key?: string; cert?: string } {
    const state = JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8')) as {
      key_reference: { file?: string } | null;
    };
    const keyFile = state.key_reference?.file;
    const certPath = join(stateDir, 'cert.pem');
    return {
      token: readFileSync(join(stateDir, 'token'), 'utf8').trim(),
      ...(keyFile ? { key: readFileSync(join(stateDir, keyFile), 'utf8') } : {}),
      ...(existsSync(certPath) ? { cert: readFileSync(certPath, 'utf8') } : {}),
    };
  }

  const selfCall = (c: ReturnType<typeof creds>) => deviceCall('GET', '/devices/self', c);

  async function registrationStatus(id: string): Promise<string | undefined> {
    const list = await api<{ id: string; status: string }[]>('GET', '/api/v1/registrations');
    return list.json.result.find((r) => r.id === id)?.status;
  }

  async function setSettings(settings: Record<string, unknown>): Promise<void> {
    const r = await api('PATCH', '/api/v1/organization/settings', settings);
    assert.equal(r.status, 200, JSON.stringify(r.json));
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-agent-'));
    const init = await gatehouse(['init', '--data-dir', join(dir, 'data'), '--org', ORG, '--json']);
    assert.equal(init.code, 0, init.stderr);
    const out = JSON.parse(init.stdout) as { admin_token: string; root_ca_pem: string };
    adminToken = out.admin_token;
    rootPem = out.root_ca_pem;
    rootPath = join(dir, 'root.pem');
    writeFileSync(rootPath, rootPem);
    server = await startServer(['--data-dir', join(dir, 'data')]);
    const created = await api<{ client_id: string; client_secret: string }>(
      'POST',
      '/api/v1/access/service_tokens',
      { name: 'device enrolment' },
    );
    assert.equal(created.status, 201, JSON.stringify(created.json));
    st = created.json.result;
    secretPath = join(dir, 'enrolment.secret');
    writeFileSync(secretPath, `${st.client_secret}\n`, { mode: 0o600 });
  });

  after(async () => {
    if (server) assert.equal(await server.stop(), 0, server.output());
    rmSync(dir, { recursive: true, force: true });
  });

  // Everything but the settings-changing test below runs concurrently: separate state dirs and
  // serial numbers, and the two cores stay busy while a CLI process starts.
  describe('with the organization settings as they are', { concurrency: true }, () => {
    test('register (service token, software key): 0700/0600 state, status, device calls over mTLS', async () => {
      const stateDir = join(dir, 'laptop');
      const reg = await register(stateDir, 'LAPTOP-1');
      assert.equal(reg.mode, 'hardware_backed');
      assert.equal(reg.key_protection, 'software');

      assert.equal(statSync(stateDir).mode & 0o777, 0o700);
      const files = readdirSync(stateDir).sort();
      assert.deepEqual(
        files.filter((f) => !keyFile(f)),
        ['cert.pem', 'state.json', 'token'],
      );
      assert.equal(files.filter(keyFile).length, 1);
      for (const f of files) assert.equal(statSync(join(stateDir, f)).mode & 0o777, 0o600, f);
      const stateJson = readFileSync(join(stateDir, 'state.json'), 'utf8');
      const c = creds(stateDir);
      assert.ok(!stateJson.includes(st.client_secret), 'no service token secret in state.json');
      assert.ok(!stateJson.includes(c.token), 'no device token in state.json');
      assert.ok(!stateJson.includes('PRIVATE KEY'), 'no key in state.json');

      const s = await status(stateDir);
      assert.equal(s.registration_id, reg.registration_id);
      assert.equal(s.mode, 'hardware_backed');
      assert.equal(s.key_protection, 'software');
      const days = (Date.parse(s.certificate_expires_on ?? '') - Date.now()) / 86_400_000;
      assert.ok(days > 89 && days <= 90.01, `${days} days`);
      assert.ok(s.last_successful_call);

      // The certificate is bound to the state dir's key; the device API answers over mTLS.
      const leaf = new X509Certificate(c.cert ?? '');
      assert.ok(leaf.checkPrivateKey(createPrivateKey(c.key ?? '')));
      assert.match(leaf.subject, new RegExp(`O=${ORG}`));
      const self = await selfCall(c);
      assert.equal(self.status, 200, JSON.stringify(self.json));
      const registration = self.json.result.registration as Record<string, unknown>;
      assert.equal(registration.id, reg.registration_id);
      assert.equal(registration.key_protection, 'software');

      // The agent's own check-in works too, and is recorded.
      await new Promise((r) => setTimeout(r, 20));
      const run = await device(['run', '--once', '--state-dir', stateDir]);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, new RegExp(`^checked in: registration ${reg.registration_id}\\n$`));
      const after = await status(stateDir);
      assert.ok((after.last_successful_call ?? '') > (s.last_successful_call ?? ''));

      // Registering again into the same state dir is refused.
      await fails(registerArgs(stateDir, 'LAPTOP-1'), 'already_registered');
    });

    test("a copied token is useless without the key: no certificate, or another device's, gets 401; only the org root is trusted", async () => {
      const a = join(dir, 'victim');
      const b = join(dir, 'thief');
      await register(a, 'VICTIM-1');
      await register(b, 'THIEF-1');
      const stolen = creds(a).token;

      // The token alone (as a standard registration would use it).
      const bare = await selfCall({ token: stolen });
      assert.equal(bare.status, 401);
      assert.equal(bare.json.errors[0]?.code, 'certificate_required');
      const noKey = join(dir, 'thief-no-key');
      mkdirSync(noKey, { mode: 0o700 });
      const state = JSON.parse(readFileSync(join(a, 'state.json'), 'utf8')) as Record<string, unknown>;
      writeFileSync(
        join(noKey, 'state.json'),
        JSON.stringify({ ...state, mode: 'standard', key_reference: null }),
        { mode: 0o600 },
      );
      writeFileSync(join(noKey, 'token'), stolen, { mode: 0o600 });
      await fails(['run', '--once', '--state-dir', noKey], 'certificate_required');

      // The mTLS client trusts only the org root the state dir names.
      const untrusting = join(dir, 'thief-other-root');
      cpSync(b, untrusting, { recursive: true });
      const otherRoot = await makeRootCa(dir, 'other-root');
      const statePath = join(untrusting, 'state.json');
      const bState = JSON.parse(readFileSync(statePath, 'utf8')) as Record<string, unknown>;
      writeFileSync(statePath, JSON.stringify({ ...bState, ca_pem: otherRoot.pem }));
      await fails(['run', '--once', '--state-dir', untrusting], 'server_untrusted');

      // The token in another device's state dir: its key and certificate are not the registration's.
      writeFileSync(join(b, 'token'), stolen);
      await fails(['run', '--once', '--state-dir', b], 'certificate_mismatch');
      await fails(['renew', '--state-dir', b], 'certificate_mismatch');
      assert.equal((await selfCall(creds(a))).status, 200, 'the victim is unaffected');
    });

    test('renew: a new certificate for the same key and the same registration; the old one stops working', async () => {
      const stateDir = join(dir, 'renewer');
      const before = await register(stateDir, 'RENEW-1');
      const old = creds(stateDir);
      const r = await device(['renew', '--state-dir', stateDir]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^renewed: the certificate now expires on \S+\n$/);
      const after = await status(stateDir);
      assert.equal(after.registration_id, before.registration_id);
      assert.equal(after.public_key_sha256, before.public_key_sha256);
      const renewed = creds(stateDir);
      assert.equal(renewed.key, old.key);
      assert.notEqual(
        new X509Certificate(renewed.cert ?? '').serialNumber,
        new X509Certificate(old.cert ?? '').serialNumber,
      );
      assert.equal((await selfCall(renewed)).status, 200);
      const stale = await selfCall(old);
      assert.equal(stale.status, 401);
      assert.equal(stale.json.errors[0]?.code, 'certificate_mismatch');
    });

    /** Writes an MDM file for the org: server, CA, service token and hardware_backed_registration. */
    function writeMdm(file: string, hbr: boolean | undefined) {
      const orgConfig =
        hbr === undefined ? '<dict/>' : `<dict><key>hardware_backed_registration</key><${hbr}/></dict>`;
      writeFileSync(
        file,
        `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>organization_configs</key>
  <dict>
    <key>${ORG}</key>
    ${orgConfig}
  </dict>
  <key>configs</key>
  <array>
    <dict>
      <key>organization</key>
      <string>${ORG}</string>
      <key>server_url</key>
      <string>${server.url}</string>
      <key>ca_file</key>
      <string>${rootPath}</string>
      <key>auth_client_id</key>
      <string>${st.client_id}</string>
      <key>auth_client_secret</key>
      <string>${st.client_secret}</string>
    </dict>
  </array>
</dict>
</plist>
`,
        { mode: 0o600 },
      );
    }

    test('MDM: registers from the file alone; hardware_backed_registration switches the mode at the next run', async () => {
      const mdm = join(dir, 'mdm.xml');
      const stateDir = join(dir, 'managed');
      const base = ['--state-dir', stateDir, '--key-provider', 'software', '--insecure-software-key'];
      writeMdm(mdm, true);
      const refused = await fails(
        ['register', ...base, '--mdm', mdm, '--serial-number', 'MDM-1'],
        'hardware_backed_required',
      );
      assert.match(refused, /MDM file/);
      assert.equal(existsSync(stateDir), false);

      writeMdm(mdm, false);
      // The default MDM file (GATEHOUSE_MDM_FILE) is used when present.
      const r = await device(['register', ...base, '--serial-number', 'MDM-1', '--json'], {
        GATEHOUSE_MDM_FILE: mdm,
      });
      assert.equal(r.code, 0, r.stderr);
      const standard = JSON.parse(r.stdout) as Status;
      assert.equal(standard.mode, 'standard');
      assert.equal(standard.key_protection, 'software');
      assert.equal(standard.certificate_expires_on, null);
      assert.deepEqual(readdirSync(stateDir).sort(), ['state.json', 'token']);
      const standardCreds = creds(stateDir);
      assert.equal((await selfCall(standardCreds)).status, 200, 'a standard registration: the token alone');
      assert.match((await device(['run', '--once', '--state-dir', stateDir])).stdout, /^checked in/);

      // true: a software key does not qualify; the current registration stays as it is.
      writeMdm(mdm, true);
      await fails(['run', '--once', '--state-dir', stateDir], 'hardware_backed_required');
      assert.equal((await status(stateDir)).registration_id, standard.registration_id);
      assert.equal((await selfCall(standardCreds)).status, 200);

      // No longer false: hardware-backed with the configured key.
      writeMdm(mdm, undefined);
      const up = await device(['run', '--once', '--state-dir', stateDir]);
      assert.equal(up.code, 0, up.stderr);
      assert.match(up.stdout, /^registered again \(mode_hardware_backed\)/);
      const hardware = await status(stateDir);
      assert.equal(hardware.mode, 'hardware_backed');
      assert.notEqual(hardware.registration_id, standard.registration_id);
      assert.equal((await selfCall(standardCreds)).status, 401, 'the standard registration is dead');
      assert.equal(await registrationStatus(standard.registration_id), 'replaced');
      const hardwareCreds = creds(stateDir);
      assert.equal((await selfCall(hardwareCreds)).status, 200);

      // false again: back to standard; the hardware-backed registration and its key are gone.
      writeMdm(mdm, false);
      const down = await device(['run', '--once', '--state-dir', stateDir]);
      assert.equal(down.code, 0, down.stderr);
      assert.match(down.stdout, /^registered again \(mode_standard\)/);
      assert.equal((await status(stateDir)).mode, 'standard');
      assert.deepEqual(readdirSync(stateDir).sort(), ['state.json', 'token']);
      const dead = await selfCall(hardwareCreds);
      assert.equal(dead.status, 401);
      assert.equal(dead.json.errors[0]?.code, 'registration_ended');
    });

    test('MDM hardware_backed_registration false: standard registration needs no --key-provider', async () => {
      const mdm = join(dir, 'mdm-standard.xml');
      const stateDir = join(dir, 'keyless');
      writeMdm(mdm, false);
      const r = await device([
        'register',
        '--state-dir',
        stateDir,
        '--mdm',
        mdm,
        '--serial-number',
        'MDM-2',
        '--json',
      ]);
      assert.equal(r.code, 0, r.stderr);
      const standard = JSON.parse(r.stdout) as Status & { key_provider: string | null };
      assert.equal(standard.mode, 'standard');
      assert.equal(standard.key_provider, null);
      assert.deepEqual(readdirSync(stateDir).sort(), ['state.json', 'token']);
      assert.equal((await selfCall(creds(stateDir))).status, 200);
      assert.match((await device(['run', '--once', '--state-dir', stateDir])).stdout, /^checked in/);
      // Without a key provider, no MDM requirement stays standard; a requirement names the flag.
      writeMdm(mdm, undefined);
      assert.match((await device(['run', '--once', '--state-dir', stateDir])).stdout, /^checked in/);
      writeMdm(mdm, true);
      assert.match(
        await fails(['run', '--once', '--state-dir', stateDir], 'key_provider_required'),
        /--key-provider/,
      );
      assert.equal((await status(stateDir)).registration_id, standard.registration_id);

      // Registering where hardware is required, without a key provider: refused, nothing kept.
      const other = join(dir, 'keyless-refused');
      await fails(
        ['register', '--state-dir', other, '--mdm', mdm, '--serial-number', 'MDM-3'],
        'key_provider_required',
      );
      assert.equal(existsSync(other), false);
      // Key provider details without a key provider are a mistake, not silently dropped.
      await fails(
        [
          'register',
          '--state-dir',
          other,
          '--mdm',
          mdm,
          '--pkcs11-module',
          '/x.so',
          '--serial-number',
          'MDM-3',
        ],
        'invalid_argument',
      );
    });

    test('clear errors and no local state: malformed MDM, no service token, unreachable server, bad CA, wrong org', async () => {
      const stateDir = join(dir, 'never');
      const bad = join(dir, 'bad-mdm.xml');
      writeFileSync(
        bad,
        '<plist version="1.0">\n<dict>\n  <key>configs</key>\n  <array>\n</dict>\n</plist>\n',
      );
      const base = [
        'register',
        '--state-dir',
        stateDir,
        '--key-provider',
        'software',
        '--insecure-software-key',
      ];
      const mdmError = await fails([...base, '--mdm', bad], 'mdm_invalid');
      assert.match(
        mdmError,
        /bad-mdm\.xml: not a valid plist: line 5, column 3: <\/dict> does not close <array>/,
      );
      await fails([...base, '--org', ORG], 'mdm_invalid', { GATEHOUSE_MDM_FILE: bad });
      await fails([...base, '--mdm', join(dir, 'missing.xml')], 'mdm_unreadable');

      const target = [...base, '--server', server.url, '--org', ORG, '--ca-file', rootPath];
      await fails(target, 'service_token_required');
      const missingSecret = await fails(
        [...target, '--service-token-id', st.client_id, '--service-token-secret-file', join(dir, 'nope')],
        'service_token_unavailable',
      );
      assert.match(missingSecret, /nope: ENOENT/);
      const wrongSecret = join(dir, 'wrong.secret');
      writeFileSync(wrongSecret, 'not-the-secret');
      await fails(
        [...target, '--service-token-id', st.client_id, '--service-token-secret-file', wrongSecret],
        'invalid_service_token',
      );

      const withToken = registerArgs(stateDir, 'NEVER-1');
      const at = (flag: string, value: string) =>
        withToken.map((v, i) => (withToken[i - 1] === flag ? value : v));
      await fails(at('--server', 'https://127.0.0.1:1'), 'server_unreachable');
      await fails(at('--server', server.url.replace('https:', 'http:')), 'invalid_server_url');
      await fails(at('--ca-file', secretPath), 'invalid_ca_file');
      await fails(at('--org', 'Other Org'), 'org_mismatch');
      const noCa = withToken.filter((v, i) => v !== '--ca-file' && withToken[i - 1] !== '--ca-file');
      assert.match(await fails(noCa, 'server_untrusted'), /--ca-file/);
      const insecure = withToken.filter((v) => v !== '--insecure-software-key');
      await fails(insecure, 'insecure_key_refused');
      // Key provider errors carry the provider's code.
      await fails(
        insecure.map((v) => (v === 'software' ? 'tpm2' : v)),
        'pin_unavailable',
      );

      assert.equal(existsSync(stateDir), false, 'no state dir was left behind');
    });

    test('when saving the state fails, the new registration is unregistered again and nothing is kept', async () => {
      const stateDir = join(dir, 'unsavable');
      mkdirSync(join(stateDir, 'cert.pem'), { recursive: true }); // a directory where the file must go
      const err = await fails(registerArgs(stateDir, 'UNSAVABLE-1'), 'state_write_failed');
      const id = /registration (\S+) was unregistered again/.exec(err)?.[1];
      assert.ok(id, err);
      assert.equal(await registrationStatus(id), 'revoked');
      assert.deepEqual(readdirSync(stateDir), ['cert.pem']);
    });

    test('unregister: the server first, then the local state; a registration ended elsewhere re-registers only with credentials', async () => {
      const stateDir = join(dir, 'leaver');
      const secret = join(dir, 'leaver.secret');
      writeFileSync(secret, st.client_secret, { mode: 0o600 });
      const args = registerArgs(stateDir, 'LEAVER-1').map((v) => (v === secretPath ? secret : v));
      const r = await device([...args, '--json']);
      assert.equal(r.code, 0, r.stderr);
      const reg = JSON.parse(r.stdout) as Status;
      const copy = join(dir, 'leaver-copy');
      cpSync(stateDir, copy, { recursive: true });
      const c = creds(stateDir);

      const out = await device(['unregister', '--state-dir', stateDir]);
      assert.equal(out.code, 0, out.stderr);
      assert.match(out.stdout, new RegExp(`^unregistered ${reg.registration_id}; local state removed\\n$`));
      assert.equal(existsSync(stateDir), false);
      const dead = await selfCall(c);
      assert.equal(dead.status, 401);
      assert.equal(dead.json.errors[0]?.code, 'registration_ended');
      assert.equal(await registrationStatus(reg.registration_id), 'revoked');

      // The copy's registration is gone; without its service token secret it cannot register again.
      rmSync(secret);
      assert.match(
        await fails(['run', '--once', '--state-dir', copy], 'service_token_unavailable'),
        /leaver\.secret: ENOENT/,
      );
      assert.equal((await status(copy)).registration_id, reg.registration_id, 'the state is left as it was');
      // unregister of an ended registration still clears the local state.
      const gone = await device(['unregister', '--state-dir', copy]);
      assert.equal(gone.code, 0, gone.stderr);
      assert.match(gone.stdout, /already ended on the server/);
      assert.equal(existsSync(copy), false);
    });

    describe('the daemon', () => {
      /** Starts `gatehouse device run`; resolves lines of its JSON log as they come. */
      function startAgent(stateDir: string, intervalMs: number) {
        const child: ChildProcess = spawn(process.execPath, [CLI, 'device', 'run', '--state-dir', stateDir], {
          env: {
            ...process.env,
            GATEHOUSE_AGENT_INTERVAL_MS: String(intervalMs),
            GATEHOUSE_LOG_LEVEL: 'info',
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        const lines: Record<string, unknown>[] = [];
        let buffer = '';
        child.stderr?.on('data', (d: Buffer) => {
          buffer += d.toString();
          let nl: number;
          while ((nl = buffer.indexOf('\n')) >= 0) {
            const line = buffer.slice(0, nl);
            buffer = buffer.slice(nl + 1);
            try {
              lines.push(JSON.parse(line) as Record<string, unknown>);
            } catch {
              lines.push({ msg: line });
            }
          }
        });
        const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
        const waitFor = async (pred: (ls: Record<string, unknown>[]) => boolean, ms = 45_000) => {
          const end = Date.now() + ms;
          while (!pred(lines)) {
            if (Date.now() > end || child.exitCode !== null)
              assert.fail(`agent log never matched:\n${lines.map((l) => JSON.stringify(l)).join('\n')}`);
            await new Promise((r) => setTimeout(r, 50));
          }
        };
        return { child, lines, exited, waitFor };
      }

      test('checks in every interval and stops cleanly on SIGTERM', async () => {
        const stateDir = join(dir, 'daemon');
        const reg = await register(stateDir, 'DAEMON-1');
        const agent = startAgent(stateDir, 200);
        try {
          await agent.waitFor((ls) => ls.filter((l) => l.msg === 'checked in').length >= 3);
        } finally {
          agent.child.kill('SIGTERM');
        }
        assert.equal(await agent.exited, 0);
        assert.ok(agent.lines.some((l) => l.msg === 'stopped'));
        const checks = agent.lines.filter((l) => l.msg === 'checked in');
        assert.ok(checks.every((l) => l.registration_id === reg.registration_id));
      });

      test('retries with exponential backoff while the server is unreachable; SIGTERM stops the wait', async () => {
        const stateDir = join(dir, 'offline');
        await register(stateDir, 'OFFLINE-1');
        const statePath = join(stateDir, 'state.json');
        const state = JSON.parse(readFileSync(statePath, 'utf8')) as Record<string, unknown>;
        writeFileSync(statePath, JSON.stringify({ ...state, server_url: 'https://127.0.0.1:1' }));
        const agent = startAgent(stateDir, 4000);
        const retries = () => agent.lines.filter((l) => l.msg === 'check-in failed, retrying');
        try {
          await agent.waitFor(() => retries().length >= 4);
        } finally {
          agent.child.kill('SIGTERM');
        }
        const started = Date.now();
        assert.equal(await agent.exited, 0);
        assert.ok(Date.now() - started < 2000, 'SIGTERM ends the backoff wait');
        const waits = retries().map((l) => l.retry_in_ms as number);
        assert.ok(retries().every((l) => l.code === 'server_unreachable'));
        // base 400 ms (interval / 10), doubling, jittered within the upper half: 200-400, 400-800, 800-1600, 1600-3200
        waits.slice(0, 4).forEach((ms, i) => {
          const ceiling = 400 * 2 ** i;
          assert.ok(ms >= ceiling / 2 - 1 && ms <= ceiling + 1, `retry ${i + 1}: ${ms} ms`);
        });
      });
    });
  });

  // The token scenarios, one after the other and after the concurrent tests: the TPM is slow
  // enough without the other agents competing for the two cores.
  describe('hardware keys', () => {
    /** A token the agent keeps its key in, for the scenario below. */
    interface TokenUnderTest {
      provider: 'pkcs11' | 'tpm2';
      /** register flags naming the token and its PIN file */
      flags: string[];
      /** env of every agent process (token config, dbus address) */
      env: Record<string, string>;
      module: string;
      label: string;
      userPin: string;
    }

    /**
     * The hardware-backed path through the CLI, the same for every token: a failed registration
     * leaves nothing (no state, no key); register; the key is never extractable and the
     * certificate chains to the org CA (openssl); check in and renew over mTLS signed in the
     * token; the token copied without the key, or beside another certificate of the same CA, gets
     * 401; a registration revoked by an admin is registered again by `run` and its key deleted;
     * unregister deletes the key.
     */
    async function tokenScenario(name: string, serial: string, token: TokenUnderTest): Promise<void> {
      const { env } = token;
      const stateDir = join(dir, name);
      const args = [
        ...registerArgs(stateDir, serial)
          .filter((v) => v !== '--insecure-software-key')
          .map((v) => (v === 'software' ? token.provider : v)),
        ...token.flags,
      ];
      const keyId = () =>
        (JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8')) as { key_reference: { id: string } })
          .key_reference.id;
      const allObjects = () =>
        run(
          requireTool('pkcs11-tool'),
          [
            '--module',
            token.module,
            '--token-label',
            token.label,
            '--login',
            '--pin',
            'env:GATEHOUSE_TEST_PIN',
            '--list-objects',
          ],
          { env: { ...env, GATEHOUSE_TEST_PIN: token.userPin } },
        ).then((r) => {
          assert.equal(r.code, 0, r.stderr);
          return r.stdout.split(/\n(?=\S)/).filter((b) => / Object;/.test(b));
        });

      // Failures leave nothing: a wrong PIN (tried once), a server that refuses the registration.
      const wrongPin = join(dir, `${name}-wrong.pin`);
      writeFileSync(wrongPin, '000000\n', { mode: 0o600 });
      const withPin = (pin: string) => args.map((v, i) => (args[i - 1] === '--pkcs11-pin-file' ? pin : v));
      await fails(withPin(wrongPin), 'wrong_pin', env);
      const wrongSecret = join(dir, `${name}-wrong.secret`);
      writeFileSync(wrongSecret, 'not-the-secret', { mode: 0o600 });
      const refused = args.map((v) => (v === secretPath ? wrongSecret : v));
      await fails(refused, 'invalid_service_token', env);
      assert.equal(existsSync(stateDir), false, 'no state, not even the engine config');
      assert.deepEqual(await allObjects(), [], 'the key made for the refused registration was deleted');

      const r = await device([...args, '--json'], env);
      assert.equal(r.code, 0, r.stderr);
      const reg = JSON.parse(r.stdout) as Status;
      assert.equal(reg.mode, 'hardware_backed');
      assert.equal(reg.key_protection, token.provider);
      assert.deepEqual(
        readdirSync(stateDir).sort(),
        ['cert.pem', 'openssl-pkcs11.cnf', 'state.json', 'token'],
        'no key material',
      );
      assert.ok(!readFileSync(join(stateDir, 'state.json'), 'utf8').includes(token.userPin));
      const firstKey = keyId();
      const [privateKey] = (await allObjects()).filter(
        (b) => b.startsWith('Private Key Object') && b.includes(firstKey),
      );
      assert.ok(privateKey, 'the key is in the token');
      const access = /Access:\s*(.*)/.exec(privateKey)?.[1] ?? '';
      assert.match(access, /\bsensitive\b/);
      assert.match(access, /never extractable/);
      assert.doesNotMatch(access, /(^|, )extractable/);

      // openssl: the certificate chains to the org root, and certifies the token's key.
      const certPem = readFileSync(join(stateDir, 'cert.pem'), 'utf8');
      const [leafPem, ...chainPems] = certPem.split(/(?<=-----END CERTIFICATE-----\n)/).filter(Boolean);
      const leafPath = join(dir, `${name}-leaf.pem`);
      const chainPath = join(dir, `${name}-chain.pem`);
      writeFileSync(leafPath, leafPem ?? '');
      writeFileSync(chainPath, chainPems.join(''));
      const verified = await runOk(requireTool('openssl'), [
        'verify',
        '-CAfile',
        rootPath,
        '-untrusted',
        chainPath,
        leafPath,
      ]);
      assert.match(verified.stdout, /: OK\n$/);
      const tokenPublic = /EC_POINT:\s*([0-9a-f]+)/.exec(
        (await allObjects()).find((b) => b.startsWith('Public Key Object') && b.includes(firstKey)) ?? '',
      )?.[1];
      const leafPoint = new X509Certificate(leafPem ?? '').publicKey
        .export({ type: 'spki', format: 'der' })
        .subarray(-65)
        .toString('hex');
      assert.equal(tokenPublic?.slice(-130), leafPoint, "the certificate is the token key's");

      // The device API over mTLS signed in the token: status, check-in, renewal.
      const s = await status(stateDir);
      assert.equal(s.registration_id, reg.registration_id);
      assert.equal(s.key_protection, token.provider);
      const checkedIn = await device(['run', '--once', '--state-dir', stateDir], env);
      assert.equal(checkedIn.code, 0, checkedIn.stderr);
      assert.match(checkedIn.stdout, new RegExp(`^checked in: registration ${reg.registration_id}\\n$`));
      const renewed = await device(['renew', '--state-dir', stateDir, '--json'], env);
      assert.equal(renewed.code, 0, renewed.stderr);
      const after = await status(stateDir);
      assert.equal(after.registration_id, reg.registration_id, 'renewal keeps the registration');
      assert.equal(after.public_key_sha256, reg.public_key_sha256, 'renewal keeps the key');
      assert.equal(keyId(), firstKey);
      assert.notEqual(
        new X509Certificate(readFileSync(join(stateDir, 'cert.pem'))).serialNumber,
        new X509Certificate(leafPem ?? '').serialNumber,
      );
      assert.ok((after.last_successful_call ?? '') > (s.last_successful_call ?? ''));

      // The token copied to another state dir: without the key (a standard-looking state), and
      // presenting another certificate of the same org CA. Both 401.
      const stolen = creds(stateDir).token;
      const noKey = join(dir, `${name}-thief`);
      mkdirSync(noKey, { mode: 0o700 });
      const state = JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8')) as Record<string, unknown>;
      writeFileSync(
        join(noKey, 'state.json'),
        JSON.stringify({
          ...state,
          mode: 'standard',
          key_protection: 'software',
          key_provider: { provider: 'software' },
          key_reference: null,
        }),
        { mode: 0o600 },
      );
      writeFileSync(join(noKey, 'token'), stolen, { mode: 0o600 });
      await fails(['run', '--once', '--state-dir', noKey], 'certificate_required');
      const other = await makeCsr(dir, `${name}-other`);
      const issued = await api<{ certificate: string }>('POST', '/api/v1/client_certificates', {
        csr: other.pem,
      });
      assert.equal(issued.status, 201, JSON.stringify(issued.json));
      const mismatch = await selfCall({
        token: stolen,
        key: readFileSync(other.keyPath, 'utf8'),
        cert: issued.json.result.certificate,
      });
      assert.equal(mismatch.status, 401);
      assert.equal(mismatch.json.errors[0]?.code, 'certificate_mismatch');
      assert.equal((await selfCall({ token: stolen })).status, 401);

      // Revoked by an admin: `run` registers again with the service token; the old key is deleted.
      const revoked = await api('DELETE', `/api/v1/registrations/${reg.registration_id}`);
      assert.equal(revoked.status, 200, JSON.stringify(revoked.json));
      const again = await device(['run', '--once', '--state-dir', stateDir], env);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /^registered again \(registration_ended\)/);
      const next = await status(stateDir);
      assert.notEqual(next.registration_id, reg.registration_id);
      assert.notEqual(keyId(), firstKey);
      const secondKey = keyId();
      const remaining = await allObjects();
      assert.ok(!remaining.some((b) => b.includes(firstKey)), 'the old key is gone from the token');
      assert.equal(remaining.filter((b) => b.includes(secondKey)).length, 2, 'the new key pair is there');

      const gone = await device(['unregister', '--state-dir', stateDir, '--json'], env);
      assert.equal(gone.code, 0, gone.stderr);
      assert.deepEqual(JSON.parse(gone.stdout), {
        registration_id: next.registration_id,
        server: 'unregistered',
        key: 'deleted',
      });
      assert.equal(existsSync(stateDir), false);
      assert.equal(await registrationStatus(next.registration_id), 'revoked');
      assert.deepEqual(await allObjects(), [], 'unregister deleted the key');
    }

    test(
      'a PKCS#11 key (SoftHSM2): the hardware-backed path through the CLI',
      { skip: skipUnlessTools('softhsm2-util', 'pkcs11-tool') },
      async () => {
        const hsm = await startSoftHsm();
        try {
          await tokenScenario('hsm', 'HSM-1', {
            provider: 'pkcs11',
            flags: [
              '--pkcs11-module',
              hsm.module,
              '--pkcs11-token',
              hsm.token,
              '--pkcs11-pin-file',
              hsm.pinFile,
            ],
            env: hsm.env,
            module: hsm.module,
            label: hsm.token,
            userPin: hsm.userPin,
          });
        } finally {
          await hsm.stop();
        }
      },
    );

    test(
      'a TPM 2.0 key (swtpm + tpm2-abrmd + tpm2-pkcs11): the hardware-backed path through the CLI',
      { skip: skipUnlessTools(...SOFT_TPM_TOOLS, 'pkcs11-tool') },
      async () => {
        const tpm = await startSoftTpm();
        try {
          await tokenScenario('tpm', 'TPM-1', {
            provider: 'tpm2',
            // The token label is left to its default ('device').
            flags: [
              '--tpm-tcti',
              tpm.tcti,
              '--tpm2-pkcs11-store',
              tpm.store,
              '--pkcs11-pin-file',
              tpm.pinFile,
            ],
            // tss2 logs a refused PIN on stderr too (tpm2-pkcs11 as well: see fails()).
            env: { ...tpm.env, TSS2_LOG: 'all+NONE' },
            module: tpm.module,
            label: tpm.token,
            userPin: tpm.userPin,
          });
        } finally {
          await tpm.stop();
        }
      },
    );
  });

  // Changes the organization's certificate validity: alone, after the others.
  test('short certificates: run --once renews one that is due, and registers again once one has expired', async () => {
    await setSettings({ device_certificate_validity: '6s' });
    try {
      const stateDir = join(dir, 'short');
      const first = await register(stateDir, 'SHORT-1');
      // Issued for 6 s (and backdated a minute): more than two thirds of its life are gone.
      const renewed = await device(['run', '--once', '--state-dir', stateDir]);
      assert.equal(renewed.code, 0, renewed.stderr);
      assert.match(renewed.stdout, new RegExp(`^renewed: registration ${first.registration_id}\\n$`));

      const old = creds(stateDir);
      const expiry = Date.parse((await status(stateDir)).certificate_expires_on ?? '');
      await new Promise((r) => setTimeout(r, Math.max(0, expiry - Date.now()) + 1100));
      const expired = await selfCall(old);
      assert.equal(expired.json.errors[0]?.code, 'certificate_expired');

      const again = await device(['run', '--once', '--state-dir', stateDir]);
      assert.equal(again.code, 0, again.stderr);
      assert.match(
        again.stdout,
        /^registered again \(certificate_expired\): registration \S+ replaces \S+\n$/,
      );
      const next = await status(stateDir);
      assert.notEqual(next.registration_id, first.registration_id);
      assert.notEqual(next.public_key_sha256, first.public_key_sha256, 'a new key');
      assert.equal(readdirSync(stateDir).filter(keyFile).length, 1, 'the old key file is gone');
      // Same serial number, same device: the old registration was replaced, its token is dead.
      assert.equal(next.device_id, first.device_id);
      assert.equal(await registrationStatus(first.registration_id), 'replaced');
      const dead = await selfCall(old);
      assert.equal(dead.status, 401);
      assert.equal(dead.json.errors[0]?.code, 'registration_ended');
    } finally {
      await setSettings({ device_certificate_validity: '90d' });
    }
  });
});
