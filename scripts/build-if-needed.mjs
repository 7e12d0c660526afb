// Build dist/ with `npm run build` unless it is already up to date.
// Up to date = every src/**/*.ts has its dist/**/*.js, newer than the source and newer than the
// tsconfig files, and the console's dist/web/index.html is newer than every file under web/.
// (`npm ci` runs `prepare` → build, so in CI this is usually a no-op.)

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

function* walk(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else if (e.isFile()) yield p;
  }
}

function mtime(file) {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return -1;
  }
}

/** @returns {string | null} why a build is needed, or null when dist is up to date */
export function buildNeeded(root = REPO_ROOT) {
  const src = join(root, 'src');
  const dist = join(root, 'dist');
  if (!existsSync(dist)) return 'dist/ is missing';
  if (!existsSync(src)) return null;
  const configTime = Math.max(mtime(join(root, 'tsconfig.json')), mtime(join(root, 'tsconfig.build.json')));
  for (const file of walk(src)) {
    if (!/\.(c|m)?ts$/.test(file) || /\.d\.(c|m)?ts$/.test(file)) continue;
    const rel = relative(src, file)
      .replace(/\.ts$/, '.js')
      .replace(/\.mts$/, '.mjs')
      .replace(/\.cts$/, '.cjs');
    const out = join(dist, rel);
    const outTime = mtime(out);
    if (outTime < 0) return `dist/${rel} is missing`;
    if (outTime < mtime(file)) return `src/${relative(src, file)} changed`;
    if (outTime < configTime) return 'tsconfig changed';
  }
  // The console: dist/web/index.html must be newer than everything under web/.
  const web = join(root, 'web');
  if (existsSync(web)) {
    const index = mtime(join(dist, 'web', 'index.html'));
    if (index < 0) return 'dist/web/index.html is missing';
    for (const file of walk(web)) {
      if (mtime(file) > index) return `web/${relative(web, file)} changed`;
    }
  }
  return null;
}

function npmCommand() {
  // Inside `npm run`/`npm test`, npm_execpath points at npm's CLI script; use the same npm.
  const execPath = process.env.npm_execpath;
  if (execPath && /npm-cli\.(c|m)?js$/.test(execPath)) return [process.execPath, [execPath]];
  return ['npm', []];
}

/** Run `npm run <script>` in the repo root with inherited stdio; returns the exit code. */
export function npmRun(script, extraArgs = [], root = REPO_ROOT) {
  const [cmd, pre] = npmCommand();
  const r = spawnSync(cmd, [...pre, 'run', '--silent', script, ...extraArgs], {
    cwd: root,
    stdio: 'inherit',
  });
  if (r.error) throw r.error;
  return r.status ?? 1;
}

/**
 * Builds when needed. Returns the exit code of the build (0 when skipped).
 * @param {{ force?: boolean, log?: (msg: string) => void }} [opts]
 */
export function buildIfNeeded(opts = {}) {
  const log = opts.log ?? ((m) => console.error(m));
  const why = opts.force ? 'forced' : buildNeeded();
  if (!why) {
    log('[build] dist/ is up to date');
    return 0;
  }
  log(`[build] ${why}: npm run build`);
  return npmRun('build');
}
