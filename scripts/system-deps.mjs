// System (Debian/Ubuntu) packages the test suite needs, and how to install them.
//
// To add a dependency, append one entry to SYSTEM_DEPS:
//   { package: 'swtpm', commands: ['swtpm'] }
// `commands` are looked up on PATH (plus the sbin dirs and PostgreSQL's bin dir); when the
// package provides no command, or needs a finer test, give `check: () => boolean` instead.
//
// Usable as a library (ensureSystemDeps / findCommand) and as a CLI:
//   node scripts/system-deps.mjs          install what is missing (root) or print the command
//   node scripts/system-deps.mjs --check  only report, exit 1 when something is missing

import { execFileSync, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** @type {{ package: string, commands: string[], check?: () => boolean, why?: string }[]} */
export const SYSTEM_DEPS = [
  { package: 'openssl', commands: ['openssl'], why: 'certificate fixtures, TLS interop' },
  { package: 'curl', commands: ['curl'], why: 'mTLS client interop' },
  {
    package: 'postgresql',
    commands: ['initdb', 'pg_ctl', 'pg_isready'],
    check: () => findPostgresBinDir() !== null,
    why: 'throwaway PostgreSQL cluster for store tests',
  },
  { package: 'libnss3-tools', commands: ['certutil'], why: 'NSS database interop' },
  // Device key providers (test/agent/keys): a software TPM behind a resource manager on a private
  // dbus session bus, tpm2-pkcs11 over it, SoftHSM2, and libp11's OpenSSL engine for the handshake.
  { package: 'swtpm', commands: ['swtpm'], why: 'TPM 2.0 emulator for device-key tests' },
  {
    package: 'swtpm-tools',
    commands: ['swtpm_setup', 'swtpm_localca'],
    why: 'swtpm with an EK certificate from a local CA (TPM attestation tests)',
  },
  { package: 'tpm2-abrmd', commands: ['tpm2-abrmd'], why: 'TPM resource manager in front of swtpm' },
  {
    package: 'libtss2-tcti-tabrmd0',
    commands: [],
    check: () =>
      ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib'].some((d) =>
        existsSync(`${d}/libtss2-tcti-tabrmd.so.0`),
      ),
    why: 'TCTI to reach tpm2-abrmd',
  },
  {
    package: 'libtss2-tcti-swtpm0',
    commands: [],
    check: () =>
      ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib'].some((d) =>
        existsSync(`${d}/libtss2-tcti-swtpm.so.0`),
      ),
    why: 'TCTI from tpm2-abrmd to swtpm',
  },
  {
    package: 'tpm2-tools',
    commands: ['tpm2_getcap', 'tpm2_dictionarylockout'],
    why: 'TPM lockout state in device-key tests',
  },
  {
    package: 'libtpm2-pkcs11-1',
    commands: [],
    check: () =>
      ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib'].some((d) =>
        existsSync(`${d}/libtpm2_pkcs11.so.1`),
      ),
    why: 'PKCS#11 module over the TPM (tpm2 device keys)',
  },
  { package: 'libtpm2-pkcs11-tools', commands: ['tpm2_ptool'], why: 'tpm2-pkcs11 store and token setup' },
  {
    package: 'libengine-pkcs11-openssl',
    commands: [],
    check: () =>
      ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib'].some((d) =>
        existsSync(`${d}/engines-3/pkcs11.so`),
      ),
    why: "libp11's OpenSSL engine: TLS handshakes signed in the token",
  },
  { package: 'opensc', commands: ['pkcs11-tool'], why: 'independent look at token key attributes' },
  { package: 'softhsm2', commands: ['softhsm2-util'], why: 'software PKCS#11 token for device-key tests' },
  { package: 'dbus', commands: ['dbus-daemon', 'dbus-send'], why: 'private session bus for tpm2-abrmd' },
  // The console's browser tests (test/web) drive Debian's chromium with playwright-core; no
  // browser is ever downloaded.
  { package: 'chromium', commands: ['chromium'], why: 'headless browser for the console tests' },
];

const EXTRA_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

function isExecutable(file) {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Directory holding the PostgreSQL server binaries (initdb, pg_ctl, postgres), or null.
 * Order: $GATEHOUSE_PG_BIN_DIR, the newest /usr/lib/postgresql/<ver>/bin (Debian/Ubuntu),
 * then a directory on PATH that has both initdb and pg_ctl.
 * @returns {string | null}
 */
export function findPostgresBinDir() {
  const hasServer = (dir) => isExecutable(join(dir, 'initdb')) && isExecutable(join(dir, 'pg_ctl'));
  const override = process.env.GATEHOUSE_PG_BIN_DIR;
  if (override) return hasServer(override) ? override : null;
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => /^\d+(\.\d+)?$/.test(v))
      .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a));
    for (const v of versions) {
      const dir = join(root, v, 'bin');
      if (hasServer(dir)) return dir;
    }
  }
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && hasServer(dir)) return dir;
  }
  return null;
}

/**
 * Absolute path of an executable, or null. Searches PATH, the usual sbin/bin dirs (a non-root
 * PATH often lacks /usr/sbin) and PostgreSQL's server bin dir.
 * @param {string} name
 * @returns {string | null}
 */
export function findCommand(name) {
  if (name.includes('/')) return isExecutable(name) ? name : null;
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...EXTRA_DIRS];
  const pgDir = findPostgresBinDir();
  if (pgDir) dirs.push(pgDir);
  for (const dir of dirs) {
    const file = join(dir, name);
    if (isExecutable(file)) return file;
  }
  return null;
}

/** The Debian package that provides a command, if it is one of ours. */
export function packageForCommand(name) {
  return SYSTEM_DEPS.find((d) => d.commands.includes(name))?.package ?? null;
}

function isPresent(dep) {
  if (dep.check) return dep.check();
  return dep.commands.every((c) => findCommand(c) !== null);
}

/** @returns {string[]} packages whose check fails */
export function missingSystemDeps() {
  return SYSTEM_DEPS.filter((d) => !isPresent(d)).map((d) => d.package);
}

export function installCommand(packages) {
  return `sudo apt-get install -y --no-install-recommends ${packages.join(' ')}`;
}

export class SystemDepsError extends Error {}

let aptUpdated = false;

function apt(args) {
  // Wait for a concurrent apt/dpkg (another engineer, unattended-upgrades) instead of failing.
  const full = ['-o', 'DPkg::Lock::Timeout=600', ...args];
  console.error(`[system-deps] apt-get ${args.join(' ')}`);
  const r = spawnSync('apt-get', full, {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (r.error) throw new SystemDepsError(`could not run apt-get: ${r.error.message}`);
  return r.status === 0;
}

/**
 * Make sure every package in SYSTEM_DEPS is installed. As root, installs the missing ones with
 * apt-get; otherwise prints the exact command to run and throws SystemDepsError.
 * @param {{ log?: (msg: string) => void }} [opts]
 */
export function ensureSystemDeps(opts = {}) {
  const log = opts.log ?? ((m) => console.error(m));
  const missing = missingSystemDeps();
  if (missing.length === 0) return;
  log(`[system-deps] missing system packages: ${missing.join(' ')}`);
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const hasApt = findCommand('apt-get') !== null;
  if (!isRoot || !hasApt) {
    const why = hasApt ? 'not running as root' : 'apt-get not found (not Debian/Ubuntu?)';
    log(`[system-deps] cannot install them (${why}). Run:\n\n    ${installCommand(missing)}\n`);
    throw new SystemDepsError(`missing system packages: ${missing.join(' ')}`);
  }
  if (!aptUpdated) {
    // One retry: the lists lock is not covered by DPkg::Lock::Timeout on every apt version.
    if (!apt(['update']) && !apt(['update'])) throw new SystemDepsError('apt-get update failed');
    aptUpdated = true;
  }
  if (!apt(['install', '-y', '--no-install-recommends', ...missing])) {
    throw new SystemDepsError(`apt-get install failed for: ${missing.join(' ')}`);
  }
  const still = missingSystemDeps();
  if (still.length > 0) {
    throw new SystemDepsError(`still missing after apt-get install: ${still.join(' ')}`);
  }
  log('[system-deps] installed.');
}

/** Uid/gid of a system user (e.g. postgres), or null. */
export function lookupUser(name) {
  try {
    const line = execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).trim();
    const [, , uid, gid] = line.split(':');
    return { uid: Number(uid), gid: Number(gid) };
  } catch {
    return null;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  if (process.argv.includes('--check')) {
    const missing = missingSystemDeps();
    for (const d of SYSTEM_DEPS)
      console.log(`${missing.includes(d.package) ? 'MISSING' : 'ok     '} ${d.package}`);
    if (missing.length > 0) console.log(`\n${installCommand(missing)}`);
    process.exit(missing.length > 0 ? 1 : 0);
  }
  try {
    ensureSystemDeps();
  } catch (err) {
    console.error(`[system-deps] ${err.message}`);
    process.exit(1);
  }
}
