// Helpers for tests that call external tools (openssl, curl, certutil, …).
//
//   test('openssl accepts our CSR', async (t) => {
//     const openssl = requireTool('openssl', t);
//     if (!openssl) return; // skipped (never under CI=true: there it throws → the test fails)
//     await withTempDir(async (dir) => {
//       const r = await run(openssl, ['req', '-in', `${dir}/x.csr`, '-noout', '-verify']);
//       assert.equal(r.code, 0, r.stderr);
//     });
//   });
//
// Or for a whole suite: describe('curl interop', { skip: skipUnlessTools('curl') }, …) and then
// requireTool('curl') (no t) inside, which throws when missing.

import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { findCommand, installCommand, packageForCommand } from '../../scripts/system-deps.mjs';

/** CI=true (or 1): nothing may be skipped, a missing tool is a failure. */
export const isCI = ['true', '1'].includes(String(process.env.CI ?? '').toLowerCase());

/** Absolute path of a tool, or null. Also looks in /usr/sbin and PostgreSQL's bin dir. */
export function findTool(name: string): string | null {
  return findCommand(name);
}

function missingMessage(name: string): string {
  const pkg = packageForCommand(name);
  const hint = pkg
    ? `install it: ${installCommand([pkg])} (npm test does this itself)`
    : 'add its package to SYSTEM_DEPS in scripts/system-deps.mjs';
  return `required tool '${name}' not found; ${hint}`;
}

/**
 * Path of a required tool.
 * - found: returns the path
 * - missing, with a test context and not CI: marks the test skipped and returns undefined
 *   (the test must then `return`)
 * - missing otherwise (no context, or CI=true): throws, so the test fails
 */
export function requireTool(name: string): string;
export function requireTool(name: string, t: TestContext): string | undefined;
export function requireTool(name: string, t?: TestContext): string | undefined {
  const path = findCommand(name);
  if (path) return path;
  const msg = missingMessage(name);
  if (t && !isCI) {
    t.skip(msg);
    return undefined;
  }
  throw new Error(isCI ? `${msg} (CI=true: tests may not skip)` : msg);
}

/**
 * For the `skip` option of test()/describe(): a reason when one of the tools is missing, else
 * false. Under CI always false, so the test runs and its requireTool() fails loudly.
 */
export function skipUnlessTools(...names: string[]): string | false {
  if (isCI) return false;
  const missing = names.filter((n) => !findCommand(n));
  return missing.length ? missing.map(missingMessage).join('; ') : false;
}

export interface RunOptions {
  /** written to the child's stdin, which is then closed */
  input?: string | Buffer;
  cwd?: string;
  /** merged over process.env */
  env?: NodeJS.ProcessEnv;
  /** kill after this many ms (default 60 s); the result then has signal 'SIGTERM' */
  timeoutMs?: number;
}

export interface RunResult {
  /** exit code; null when killed by a signal */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Run a program (no shell). Resolves with its exit code and output whatever the exit code;
 * rejects only when it cannot be started (e.g. ENOENT).
 */
export function run(cmd: string, args: readonly string[] = [], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      {
        cwd: opts.cwd,
        env: opts.env ? { ...process.env, ...opts.env } : process.env,
        timeout: opts.timeoutMs ?? 60_000,
        maxBuffer: 64 * 1024 * 1024,
        encoding: 'utf8',
      },
      (err, stdout, stderr) => {
        if (err && typeof err.code === 'string') {
          reject(new Error(`cannot run ${cmd}: ${err.message}`));
          return;
        }
        const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
        const signal = (err?.signal as NodeJS.Signals | undefined) ?? null;
        resolve({ code, signal, stdout, stderr });
      },
    );
    // A child that exits without reading stdin must not crash the test with EPIPE.
    child.stdin?.on('error', () => {});
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

/** Like run(), but throws (with stderr) unless the exit code is 0. */
export async function runOk(
  cmd: string,
  args: readonly string[] = [],
  opts: RunOptions = {},
): Promise<RunResult> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    throw new Error(
      `${cmd} ${args.join(' ')} exited ${r.code ?? r.signal}\n--- stderr ---\n${r.stderr}\n--- stdout ---\n${r.stdout}`,
    );
  }
  return r;
}

/** Create a temp dir, pass it to fn, and delete it afterwards (also when fn throws). */
export async function withTempDir<T>(
  fn: (dir: string) => Promise<T> | T,
  prefix = 'gatehouse-test-',
): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A temp dir deleted when the test (or suite, when given a SuiteContext-like `after`) ends. */
export async function tempDir(t: Pick<TestContext, 'after'>, prefix = 'gatehouse-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
