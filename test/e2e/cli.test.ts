// The `gatehouse` command line against real stores: SQLite in the data dir and PostgreSQL via
// GATEHOUSE_DATABASE_URL; key protection at rest; fleet issuance and its interruption.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLI, gatehouse, startServer } from '../helpers/gatehouse.js';
import { makeCsr, makeRootCa } from '../helpers/openssl.js';
import { createTestDatabase, postgresSkipReason } from '../helpers/postgres.js';
import { requireTool, runOk } from '../helpers/tools.js';

let root: string;
before(() => {
  root = mkdtempSync(join(tmpdir(), 'gatehouse-cli-'));
});
after(() => rmSync(root, { recursive: true, force: true }));

const init = async (name: string, env: NodeJS.ProcessEnv = {}) => {
  const dataDir = join(root, name);
  const r = await gatehouse(['init', '--data-dir', dataDir, '--org', `Org ${name}`, '--json'], { env });
  assert.equal(r.code, 0, r.stderr);
  return { dataDir, out: JSON.parse(r.stdout) as { admin_token: string; root_ca_pem: string } };
};

describe('embedded SQLite store', () => {
  test('CA keys are sealed: the database holds no usable private key and the master key file is 0600', async () => {
    const { dataDir } = await init('sealed');
    const keyFile = join(dataDir, 'master.key');
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    const db = readFileSync(join(dataDir, 'gatehouse.db'));
    assert.equal(db.includes('PRIVATE KEY'), false, 'no PEM private key in the database file');

    // With another master key the sealed keys do not open and the server refuses to start.
    const wrongKey = randomBytes(32).toString('hex');
    const r = await gatehouse(['cert', 'list', '--data-dir', dataDir], {
      env: { GATEHOUSE_MASTER_KEY: wrongKey },
    });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /key_unwrap_failed/);
  });

  test('a malformed config file is a clear error, not a stack trace', async () => {
    const { dataDir } = await init('badconfig');
    writeFileSync(join(dataDir, 'gatehouse.json'), '{"version": 2}');
    const r = await gatehouse(['cert', 'list', '--data-dir', dataDir]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: .*gatehouse\.json: .*\[invalid_config\]\n$/);
    const missing = await gatehouse(['cert', 'list', '--data-dir', join(root, 'nope')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /not an initialised Gatehouse data directory.*\[not_initialized\]/);
  });

  test('cert issue, list, revoke and ca upload/delete from the command line', async () => {
    const openssl = requireTool('openssl');
    const { dataDir } = await init('cli');
    const csr = await makeCsr(root, 'cli-device');
    const issued = await gatehouse([
      'cert',
      'issue',
      '--data-dir',
      dataDir,
      '--csr',
      csr.csrPath,
      '--days',
      '10',
      '--cn',
      'kiosk-1',
      '--json',
    ]);
    assert.equal(issued.code, 0, issued.stderr);
    const cert = JSON.parse(issued.stdout) as { id: string; serial_number: string; certificate: string };
    const certPath = join(root, 'cli-device.pem');
    writeFileSync(certPath, cert.certificate);
    const subject = await runOk(openssl, ['x509', '-in', certPath, '-noout', '-subject', '-enddate']);
    assert.match(subject.stdout, /CN ?= ?kiosk-1/);

    const weak = await makeCsr(root, 'cli-weak', 'rsa:1024');
    const refused = await gatehouse(['cert', 'issue', '--data-dir', dataDir, '--csr', weak.csrPath]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /\[weak_key\]/);

    const badDays = await gatehouse([
      'cert',
      'issue',
      '--data-dir',
      dataDir,
      '--csr',
      csr.csrPath,
      '--days',
      'ninety',
    ]);
    assert.equal(badDays.code, 1);
    assert.match(badDays.stderr, /--days must be an integer/);

    const listed = await gatehouse(['cert', 'list', '--data-dir', dataDir, '--status', 'active', '--json']);
    assert.deepEqual(
      (JSON.parse(listed.stdout) as { id: string }[]).map((c) => c.id),
      [cert.id],
    );
    const revoked = await gatehouse([
      'cert',
      'revoke',
      cert.id,
      '--data-dir',
      dataDir,
      '--reason',
      'superseded',
    ]);
    assert.equal(revoked.code, 0, revoked.stderr);
    const again = await gatehouse(['cert', 'revoke', cert.id, '--data-dir', dataDir]);
    assert.match(again.stderr, /already revoked \[already_revoked\]/);

    const ca = await makeRootCa(root, 'cli-uploaded-root');
    const uploaded = await gatehouse([
      'ca',
      'upload',
      '--data-dir',
      dataDir,
      '--name',
      'Ops',
      '--file',
      ca.certPath,
    ]);
    assert.equal(uploaded.code, 0, uploaded.stderr);
    const caId = uploaded.stdout.trim();
    assert.match((await gatehouse(['ca', 'list', '--data-dir', dataDir])).stdout, new RegExp(caId));
    assert.equal((await gatehouse(['ca', 'delete', caId, '--data-dir', dataDir])).code, 0);
    assert.doesNotMatch((await gatehouse(['ca', 'list', '--data-dir', dataDir])).stdout, new RegExp(caId));
  });

  test('issue-batch writes complete key/certificate pairs whose keys match', async () => {
    const openssl = requireTool('openssl');
    const { dataDir } = await init('batch');
    const out = join(root, 'batch-out');
    const r = await gatehouse([
      'cert',
      'issue-batch',
      '--data-dir',
      dataDir,
      '--count',
      '5',
      '--out',
      out,
      '--cn-prefix',
      'sensor',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /issued 5 of 5 certificates in [\d.]+s/);
    const dirs = readdirSync(out);
    assert.equal(dirs.length, 5);
    const cns = new Set<string>();
    for (const d of dirs) {
      assert.deepEqual(readdirSync(join(out, d)).sort(), ['cert.pem', 'chain.pem', 'key.pem']);
      assert.equal(statSync(join(out, d, 'key.pem')).mode & 0o777, 0o600);
      const fromKey = await runOk(openssl, ['pkey', '-in', join(out, d, 'key.pem'), '-pubout']);
      const fromCert = await runOk(openssl, [
        'x509',
        '-in',
        join(out, d, 'cert.pem'),
        '-noout',
        '-pubkey',
        '-subject',
      ]);
      assert.ok(fromCert.stdout.startsWith(fromKey.stdout), `key and certificate in ${d} belong together`);
      cns.add(/CN ?= ?(sensor-\d)/.exec(fromCert.stdout)?.[1] ?? '');
    }
    assert.deepEqual([...cns].sort(), ['sensor-1', 'sensor-2', 'sensor-3', 'sensor-4', 'sensor-5']);
  });

  test('an interrupted issue-batch leaves only complete pairs', async () => {
    const { dataDir } = await init('interrupt');
    const out = join(root, 'interrupt-out');
    const child = spawn(
      process.execPath,
      [CLI, 'cert', 'issue-batch', '--data-dir', dataDir, '--count', '5000', '--out', out],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    // Interrupt once a few pairs exist, i.e. in the middle of the run.
    await new Promise<void>((resolve, reject) => {
      const started = Date.now();
      const poll = setInterval(() => {
        if (existsSync(out) && readdirSync(out).filter((d) => !d.startsWith('.')).length >= 3) {
          clearInterval(poll);
          resolve();
        } else if (Date.now() - started > 30_000) {
          clearInterval(poll);
          reject(new Error('batch made no progress'));
        }
      }, 20);
    });
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(code, 130);
    assert.match(stdout, /^Interrupted: issued (\d+) of 5000/);
    const entries = readdirSync(out);
    assert.ok(entries.length >= 3 && entries.length < 5000);
    assert.equal(entries.filter((e) => e.startsWith('.')).length, 0, 'no partial pair left behind');
    for (const e of entries)
      assert.deepEqual(readdirSync(join(out, e)).sort(), ['cert.pem', 'chain.pem', 'key.pem']);
    assert.equal(Number(/issued (\d+)/.exec(stdout)?.[1]), entries.length);
  });
});

describe('PostgreSQL store (GATEHOUSE_DATABASE_URL)', { skip: postgresSkipReason() }, () => {
  test('init and serve run on PostgreSQL with the master key from the environment', async (t) => {
    const db = await createTestDatabase(t);
    if (!db) return;
    const env = { GATEHOUSE_DATABASE_URL: db.url, GATEHOUSE_MASTER_KEY: randomBytes(32).toString('base64') };
    const { dataDir, out } = await init('pg', env);
    assert.equal(
      existsSync(join(dataDir, 'gatehouse.db')),
      false,
      'no SQLite file when PostgreSQL is configured',
    );
    assert.equal(
      existsSync(join(dataDir, 'master.key')),
      false,
      'no key file when GATEHOUSE_MASTER_KEY is set',
    );

    // The organization lives in the database: a second data dir pointed at it is refused too.
    const second = await gatehouse(['init', '--data-dir', join(root, 'pg-2'), '--org', 'Twice'], { env });
    assert.equal(second.code, 1);
    assert.match(second.stderr, /already holds an organization/);
    assert.equal(existsSync(join(root, 'pg-2', 'gatehouse.json')), false);

    const server = await startServer(['--data-dir', dataDir], { env });
    try {
      const caFile = join(root, 'pg-root.pem');
      writeFileSync(caFile, out.root_ca_pem);
      const r = await runOk(requireTool('curl'), [
        '-sS',
        '--cacert',
        caFile,
        '-H',
        `authorization: Bearer ${out.admin_token}`,
        `${server.url}/api/v1/organization`,
      ]);
      assert.equal(JSON.parse(r.stdout).result.name, 'Org pg');
      const ready = await runOk(requireTool('curl'), ['-sS', '--cacert', caFile, `${server.url}/readyz`]);
      assert.deepEqual(JSON.parse(ready.stdout), {
        status: 'ready',
        database: 'up',
        edge_workers: { expected: 1, ready: 1 },
      });
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });
});
