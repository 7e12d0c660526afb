// `npm test` — the whole suite, as CI runs it.
//
//   npm test                      system deps, build (if stale), lint, PostgreSQL, all test files
//   npm test -- store pki/pem     only test files whose path contains one of the patterns
//   npm test -- --skip-lint       local iteration (ignored when CI=true)
//   npm test -- --test-name-pattern=foo   options starting with --test- go to node's runner
//
// Env: CI=true (no skips anywhere, lint always runs), GATEHOUSE_TEST_DATABASE_URL (use this
// PostgreSQL instead of starting a throwaway cluster), GATEHOUSE_TEST_TIMEOUT_MS (per test
// file, default 20 min), GATEHOUSE_TEST_CONCURRENCY (files in parallel, default 2).
// See docs/testing.md.

import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { buildIfNeeded, npmRun, REPO_ROOT } from './build-if-needed.mjs';
import { reapStaleClusters, startPostgresCluster } from './postgres-cluster.mjs';
import { ensureRuntime } from './runtime.mjs';
import { ensureSystemDeps, SystemDepsError } from './system-deps.mjs';

const isCI = ['true', '1'].includes(String(process.env.CI ?? '').toLowerCase());
const say = (msg) => console.error(`[npm test] ${msg}`);

function usage() {
  console.log(
    'usage: npm test -- [--skip-lint] [--skip-build] [--test-*=…] [pattern…]\n' +
      '  pattern   run only test/**/*.test.ts whose path contains it (or an exact file path)\n' +
      '  --skip-lint, --skip-build   for local iteration; ignored when CI=true\n' +
      '  --test-*  passed to node --test (e.g. --test-name-pattern=…, --test-only)',
  );
}

const args = process.argv.slice(2);
const patterns = [];
const runnerArgs = [];
let skipLint = false;
let skipBuild = false;
for (const a of args) {
  if (a === '--help' || a === '-h') {
    usage();
    process.exit(0);
  } else if (a === '--skip-lint') skipLint = true;
  else if (a === '--skip-build') skipBuild = true;
  else if (a.startsWith('--test-')) runnerArgs.push(a);
  else if (a.startsWith('-')) {
    console.error(`unknown option ${a}`);
    usage();
    process.exit(2);
  } else patterns.push(a);
}
if (isCI && (skipLint || skipBuild)) {
  say('CI=true: --skip-lint/--skip-build ignored');
  skipLint = false;
  skipBuild = false;
}

function findTestFiles() {
  const testDir = join(REPO_ROOT, 'test');
  const files = [];
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && e.name.endsWith('.test.ts'))
        files.push(relative(REPO_ROOT, p).split(sep).join('/'));
    }
  };
  if (existsSync(testDir)) walk(testDir);
  files.sort();
  if (patterns.length === 0) return files;
  return files.filter((f) => patterns.some((p) => f.includes(p.replace(/^\.\//, ''))));
}

// --- state for cleanup -------------------------------------------------------------------
let cluster = null;
let runner = null;
let interrupted = null;
let startingPostgres = false;

function cleanup() {
  if (cluster) {
    try {
      cluster.stopSync();
    } catch (err) {
      say(`stopping PostgreSQL failed: ${err.message}`);
    }
    cluster = null;
  }
}

process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = sig;
    say(`${sig}: stopping`);
    if (runner?.pid && runner.exitCode === null) {
      try {
        process.kill(-runner.pid, sig); // runner and its per-file processes (own process group)
      } catch {
        // already gone
      }
      // Give the runner a moment to report, then make sure nothing is left.
      setTimeout(() => {
        try {
          process.kill(-runner.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }, 10_000).unref();
    } else if (!startingPostgres) {
      cleanup();
      process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
    }
  });
}

// --- 0. runtime: the pinned Node (node_modules/.bin first on PATH), addons built for it --------
say(`Node ${process.version} (OpenSSL ${process.versions.openssl}) at ${process.execPath}`);
{
  const code = ensureRuntime(say);
  if (code !== 0) process.exit(code);
}

// --- 1. system packages --------------------------------------------------------------------
try {
  ensureSystemDeps({ log: say });
} catch (err) {
  if (err instanceof SystemDepsError) {
    say(err.message);
    process.exit(1);
  }
  throw err;
}

// --- 2. build ------------------------------------------------------------------------------
if (!skipBuild) {
  const code = buildIfNeeded({ log: say });
  if (code !== 0) {
    say(`build failed (exit ${code})`);
    process.exit(code);
  }
}

// --- 3. lint -------------------------------------------------------------------------------
let lintFailed = false;
if (!skipLint) {
  say('npm run lint');
  const code = npmRun('lint');
  if (code !== 0) {
    lintFailed = true;
    say(`LINT FAILED (exit ${code}) — running the tests anyway; npm test will exit non-zero.`);
  }
}

// --- 4. test files -------------------------------------------------------------------------
const files = findTestFiles();
if (files.length === 0) {
  say(patterns.length ? `no test file matches: ${patterns.join(' ')}` : 'no test files under test/');
  process.exit(1);
}

// --- 5. PostgreSQL -------------------------------------------------------------------------
const env = { ...process.env, GATEHOUSE_TEST_HARNESS: '1' };
if (process.env.GATEHOUSE_TEST_DATABASE_URL) {
  say('using GATEHOUSE_TEST_DATABASE_URL from the environment');
} else {
  try {
    reapStaleClusters();
    startingPostgres = true; // a signal now is handled once the cluster is up (then stopped)
    cluster = await startPostgresCluster({ log: say });
    startingPostgres = false;
  } catch (err) {
    say(`could not start PostgreSQL: ${err.message}`);
    cleanup();
    process.exit(1);
  }
  env.GATEHOUSE_TEST_DATABASE_URL = cluster.url;
  say(`GATEHOUSE_TEST_DATABASE_URL=${cluster.url}`);
}
if (interrupted) process.exit(130);

// --- 6. node's test runner -----------------------------------------------------------------
const concurrency = process.env.GATEHOUSE_TEST_CONCURRENCY ?? '2';
const timeout = process.env.GATEHOUSE_TEST_TIMEOUT_MS ?? String(20 * 60_000);
const nodeArgs = [
  '--import',
  'tsx',
  '--test',
  `--test-concurrency=${concurrency}`,
  '--test-reporter=spec',
  `--test-timeout=${timeout}`,
  ...runnerArgs,
  ...files,
];
say(`node ${nodeArgs.slice(0, nodeArgs.length - files.length).join(' ')} <${files.length} test file(s)>`);

// Own process group, so a signal can reach the runner and every per-file process at once.
runner = spawn(process.execPath, nodeArgs, { cwd: REPO_ROOT, env, stdio: 'inherit', detached: true });
const code = await new Promise((resolve) => {
  runner.on('error', (err) => {
    say(`cannot start node: ${err.message}`);
    resolve(1);
  });
  runner.on('exit', (c, sig) => resolve(c ?? (sig ? 1 : 0)));
});
cleanup();
if (interrupted) process.exit(130);
process.exit(code !== 0 ? code : lintFailed ? 1 : 0);
