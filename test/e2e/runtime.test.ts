// The Node.js runtime: `npm test` (like `npm start`) runs on the runtime pinned in package.json,
// the native addon is built against that runtime's headers, the `gatehouse` binary started by an
// older Node (the system one, through its `#!/usr/bin/env node`) re-executes under the pinned one,
// and the PKCS#11 engine process runs on an OpenSSL 3.0 Node.
import assert from 'node:assert/strict';
import { readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';
import { test } from 'node:test';
import { headersDir, NATIVE_ADDONS, requiredMajor, staleAddons } from '../../scripts/runtime.mjs';
import { engineOpensslConfig, engineRuntime } from '../../src/agent/keys/engine.js';
import { CLI, REPO_ROOT } from '../helpers/gatehouse.js';
import { findSoftHsmModule } from '../helpers/softhsm.js';
import { run, tempDir } from '../helpers/tools.js';

const require = createRequire(join(REPO_ROOT, 'package.json'));
const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  optionalDependencies: Record<string, string>;
};
const major = (version: string) => Number(version.replace(/^v/, '').split('.')[0]);
const runtimePackage = `node-${process.platform}-${process.arch}`;

test('the tests run on the runtime package.json pins, which satisfies engines', () => {
  assert.ok(major(process.version) >= requiredMajor(), `${process.version} is older than engines.node`);
  const pinned = pkg.optionalDependencies[runtimePackage];
  assert.ok(pinned, `package.json pins no ${runtimePackage}`);
  assert.ok(major(pinned) >= requiredMajor(), `the pinned ${pinned} is older than engines.node`);
  assert.equal(process.version, `v${pinned}`);
  const bin = join(require.resolve(`${runtimePackage}/package.json`), '..', 'bin', 'node');
  assert.equal(realpathSync(process.execPath), realpathSync(bin));
});

test('native addons are built against the headers of the runtime that loads them', () => {
  const dir = headersDir();
  assert.ok(dir, 'the pinned runtime carries no include/node');
  assert.deepEqual(staleAddons(), []);
  for (const name of NATIVE_ADDONS) {
    const addonDir = join(require.resolve(`${name}/package.json`), '..');
    const marker = JSON.parse(readFileSync(join(addonDir, 'build', 'gatehouse-runtime.json'), 'utf8')) as {
      node: string;
      nodedir: string;
    };
    assert.equal(marker.node, process.version);
    assert.equal(marker.nodedir, dir);
    assert.doesNotThrow(() => require(name));
  }
});

/** The first `node` on PATH outside node_modules (the system's; on this image Node 20). */
function olderNode(): string | null {
  for (const d of (process.env.PATH ?? '').split(delimiter)) {
    if (!d || d.includes('node_modules')) continue;
    try {
      if (statSync(join(d, 'node')).isFile()) return join(d, 'node');
    } catch {
      // not there
    }
  }
  return null;
}

test('gatehouse started by an older Node re-executes under the pinned runtime', async (t) => {
  const old = olderNode();
  assert.ok(old, 'no node on PATH outside node_modules');
  const oldVersion = (await run(old, ['-p', 'process.version'])).stdout.trim();
  const dir = await tempDir(t);
  // Each process that starts records its version: the older Node first, then the pinned one.
  const log = join(dir, 'versions.log');
  const preload = join(dir, 'record-version.cjs');
  writeFileSync(
    preload,
    `require('node:fs').appendFileSync(${JSON.stringify(log)}, process.version + '\\n');\n`,
  );
  const r = await run(old, [CLI, 'init', '--data-dir', join(dir, 'data'), '--org', 'Runtime', '--json'], {
    env: { NODE_OPTIONS: `--require=${preload}` },
  });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(JSON.parse(r.stdout).admin_token);
  const started = readFileSync(log, 'utf8').trim().split('\n');
  if (major(oldVersion) >= requiredMajor()) {
    // This machine's system Node is new enough itself: nothing to re-execute.
    t.diagnostic(`${old} is ${oldVersion}, not older than engines.node: no re-execution needed`);
    assert.deepEqual(started, [oldVersion]);
  } else {
    assert.deepEqual(started, [oldVersion, process.version]);
  }
});

// Why the engine process runs on another Node (src/agent/keys/engine.ts, engineRuntime): Debian's
// libp11 engine, built for OpenSSL 3.0, breaks creating keys from parameters in an OpenSSL 3.5
// process. If this starts passing on the pinned runtime, the OpenSSL 3.0 detour can go.
test('the PKCS#11 engine process runs on an OpenSSL 3.0 Node: the engine breaks key import on 3.5', async (t) => {
  const module = findSoftHsmModule();
  assert.ok(module, 'libsofthsm2.so not found (softhsm2 is in SYSTEM_DEPS)');
  const dir = await tempDir(t);
  const opts = { provider: 'pkcs11' as const, stateDir: dir, pkcs11Module: module };
  const config = join(dir, 'engine.cnf');
  writeFileSync(config, engineOpensslConfig(opts));
  const importRsaJwk =
    "const c = require('node:crypto'); const { publicKey } = c.generateKeyPairSync('rsa', { modulusLength: 1024 });" +
    "c.createPublicKey({ key: publicKey.export({ format: 'jwk' }), format: 'jwk' }); console.log('imported');";

  const node = engineRuntime();
  const openssl = (await run(node, ['-p', 'process.versions.openssl'])).stdout.trim();
  assert.match(openssl, /^3\.0\./);
  const onEngineRuntime = await run(node, [`--openssl-config=${config}`, '-e', importRsaJwk]);
  assert.equal(onEngineRuntime.stdout.trim(), 'imported', onEngineRuntime.stderr);

  if (process.versions.openssl.startsWith('3.0.')) return; // engineRuntime() is this very Node
  const onPinned = await run(process.execPath, [`--openssl-config=${config}`, '-e', importRsaJwk]);
  assert.notEqual(onPinned.code, 0, 'the engine no longer breaks OpenSSL 3.5: engineRuntime() can go');
  // Without the engine the pinned runtime imports the same key.
  const plain = await run(process.execPath, ['-e', importRsaJwk]);
  assert.equal(plain.stdout.trim(), 'imported', plain.stderr);
});
