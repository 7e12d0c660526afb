// The Node.js runtime: `npm test` (like `npm start`) runs on the runtime pinned in package.json,
// the native addon is built against that runtime's headers, and the `gatehouse` binary started by
// an older Node (the system one, through its `#!/usr/bin/env node`) re-executes under the pinned one.
import assert from 'node:assert/strict';
import { readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';
import { test } from 'node:test';
import { headersDir, NATIVE_ADDONS, requiredMajor, staleAddons } from '../../scripts/runtime.mjs';
import { CLI, REPO_ROOT } from '../helpers/gatehouse.js';
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
