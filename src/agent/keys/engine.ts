// Loading libp11's PKCS#11 engine into Node's OpenSSL, so TLS handshakes are signed in the token.
//
// Node can only pick up an OpenSSL engine that is declared in the OpenSSL config it reads at
// start-up (`node --openssl-config=FILE`, section `nodejs_conf`); loading the engine by path at run
// time works for the first SecureContext only. So:
//   - engineOpensslConfig(opts) is the config text: the `pkcs11` engine (dynamic_path = libp11's
//     engines-3/pkcs11.so) bound to the same PKCS#11 module the key provider loads, with
//     `init = 0` (nothing touches the token until a handshake needs it). It holds no PIN.
//   - ensureEngineProcess(opts) is what the agent calls first thing: when the process was not
//     started with that config, it writes it to <stateDir>/openssl-pkcs11.cnf (0600) and re-executes
//     `NODE [execArgv…] --openssl-config=FILE <script> <args…>` (NODE: engineRuntime()) with inherited stdio and
//     the marker GATEHOUSE_PKCS11_ENGINE_CONFIG=FILE, forwards signals, and exits with the child's
//     code. The marker plus the flag in execArgv (or NODE_OPTIONS) tell the child it is set up; a
//     child that has the marker but not a working config fails instead of looping.
//   - Software keys need none of this.
// The engine is the documented-deprecated ENGINE API (DEP0183, documentation only) and links the
// system libcrypto next to Node's bundled one: fine on the OpenSSL 3.0 line; re-check on upgrades.
// One process serves one PKCS#11 module through the engine (the config names one MODULE_PATH).
// Never load the tpm2 OpenSSL *provider* into Node: it breaks software-key signatures.

import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { chmod, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { delimiter, join } from 'node:path';
import { errorMessage, keyError } from './errors.js';
import { DEFAULT_TPM_TCTI, pkcs11EnginePath, pkcs11ModulePath } from './paths.js';
import type { KeyProviderOptions } from './types.js';

/** Env marker: path of the engine config this process was (re-)started with. */
export const ENGINE_CONFIG_ENV = 'GATEHOUSE_PKCS11_ENGINE_CONFIG';
export const ENGINE_CONFIG_FILE = 'openssl-pkcs11.cnf';

/** Whether the provider signs handshakes through the OpenSSL engine (all but software). */
export function needsEngine(opts: KeyProviderOptions): boolean {
  return opts.provider !== 'software';
}

function configValue(what: string, value: string): string {
  // OpenSSL config values: keep to characters that need no quoting or escaping.
  if (!/^[A-Za-z0-9._/+@:-]+$/.test(value)) {
    throw keyError(
      'invalid_key_options',
      `${what} ${JSON.stringify(value)} has characters an OpenSSL config cannot hold`,
    );
  }
  return value;
}

/** OpenSSL config text declaring the pkcs11 engine for `opts` (no secrets in it). */
export function engineOpensslConfig(opts: KeyProviderOptions): string {
  if (!needsEngine(opts)) throw keyError('invalid_key_options', 'software keys need no engine');
  const engine = configValue('engine path', pkcs11EnginePath(opts));
  const module = configValue('PKCS#11 module path', pkcs11ModulePath(opts));
  return [
    '# Written by the Gatehouse agent: libp11 PKCS#11 engine for Node (node --openssl-config=THIS).',
    'nodejs_conf = gatehouse_init',
    '',
    '[gatehouse_init]',
    'engines = gatehouse_engines',
    '',
    '[gatehouse_engines]',
    'pkcs11 = gatehouse_pkcs11',
    '',
    '[gatehouse_pkcs11]',
    'engine_id = pkcs11',
    `dynamic_path = ${engine}`,
    `MODULE_PATH = ${module}`,
    'init = 0',
    '',
  ].join('\n');
}

export function engineConfigPath(opts: KeyProviderOptions): string {
  return join(opts.stateDir, ENGINE_CONFIG_FILE);
}

/** Writes the config to <stateDir>/openssl-pkcs11.cnf (0600, atomically) and returns its path. */
export async function writeEngineOpensslConfig(opts: KeyProviderOptions): Promise<string> {
  const text = engineOpensslConfig(opts);
  await mkdir(opts.stateDir, { recursive: true, mode: 0o700 });
  const file = engineConfigPath(opts);
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, text, { mode: 0o600, flag: 'w' });
    await chmod(tmp, 0o600);
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  return file;
}

function startedWithConfig(file: string): boolean {
  const flag = `--openssl-config=${file}`;
  const argv = process.execArgv;
  if (argv.includes(flag)) return true;
  const i = argv.indexOf('--openssl-config');
  if (i >= 0 && argv[i + 1] === file) return true;
  return (process.env.NODE_OPTIONS ?? '').split(/\s+/).includes(flag);
}

/**
 * True when this process can sign handshakes for `opts` through the engine: it was started with
 * `--openssl-config` on the file named by the marker, and that file is the config for `opts`.
 * Always true for software keys.
 */
export function isEngineProcess(opts: KeyProviderOptions): boolean {
  if (!needsEngine(opts)) return true;
  const file = process.env[ENGINE_CONFIG_ENV];
  if (!file || !startedWithConfig(file)) return false;
  try {
    return readFileSync(file, 'utf8') === engineOpensslConfig(opts);
  } catch {
    return false;
  }
}

/** Environment the token library needs in the re-executed process (tpm2-pkcs11's TCTI/store). */
function tokenEnv(opts: KeyProviderOptions): NodeJS.ProcessEnv {
  if (opts.provider !== 'tpm2') return {};
  return {
    TPM2_PKCS11_TCTI: opts.tpmTcti ?? DEFAULT_TPM_TCTI,
    ...(opts.tpm2PkcsStore ? { TPM2_PKCS11_STORE: opts.tpm2PkcsStore } : {}),
  };
}

function withoutOpensslConfig(execArgv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const a = execArgv[i] as string;
    if (a === '--openssl-config') i++;
    else if (!a.startsWith('--openssl-config=') && a !== '--openssl-shared-config') out.push(a);
  }
  return out;
}

const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];

/** Env: a Node.js binary on the OpenSSL 3.0 line to run the engine process with. */
export const ENGINE_NODE_ENV = 'GATEHOUSE_ENGINE_NODE';

const opensslOf = (node: string): string =>
  spawnSync(node, ['-p', 'process.versions.openssl'], { encoding: 'utf8', timeout: 10_000 }).stdout?.trim() ??
  '';

let engineNode: string | undefined;

/**
 * The Node.js that runs the engine process. Debian's libp11 engine is built for OpenSSL 3.0; in a
 * process on OpenSSL 3.5 (Node 24 and 26, current Node 22) merely loading it breaks creating RSA
 * and EC keys from parameters — Node's own JWK import, and tss2's salted sessions, so tpm2-pkcs11
 * cannot even log in. Until an OpenSSL 3 PKCS#11 provider is packaged, the engine process runs on
 * a Node whose OpenSSL is 3.0: this one if it is, else $GATEHOUSE_ENGINE_NODE, else the first
 * `node` on PATH outside node_modules (the system's). Nothing found: engine_unavailable.
 */
export function engineRuntime(): string {
  if (process.versions.openssl.startsWith('3.0.')) return process.execPath;
  if (engineNode) return engineNode;
  const candidates = [process.env[ENGINE_NODE_ENV]];
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && !dir.split(/[\\/]/).includes('node_modules')) candidates.push(join(dir, 'node'));
  }
  for (const node of candidates) {
    try {
      if (!node || !statSync(node).isFile()) continue;
    } catch {
      continue;
    }
    if (opensslOf(node).startsWith('3.0.')) return (engineNode = node);
  }
  throw keyError(
    'engine_unavailable',
    `the PKCS#11 engine needs a Node.js on OpenSSL 3.0 (this one has ${process.versions.openssl}); ` +
      `set ${ENGINE_NODE_ENV} to one`,
  );
}

/**
 * Makes sure the process runs with the engine config for `opts`. Returns at once for software
 * keys and in a process already set up; otherwise re-executes the script (argv[1]) with the same
 * Node flags plus `--openssl-config`, stdio inherited, and exits with the child's exit code (or
 * re-raises its signal) — in that case it never returns. Call it before anything else has
 * side effects.
 */
export async function ensureEngineProcess(
  opts: KeyProviderOptions,
  argv: readonly string[] = process.argv,
): Promise<void> {
  if (isEngineProcess(opts)) return;
  if (process.env[ENGINE_CONFIG_ENV]) {
    throw keyError(
      'engine_unavailable',
      `this process has ${ENGINE_CONFIG_ENV} set but was not started with a matching --openssl-config; not re-executing again`,
    );
  }
  const script = argv[1];
  if (!script) throw keyError('engine_unavailable', 'cannot re-execute for the engine: no script in argv');
  const node = engineRuntime();
  const file = await writeEngineOpensslConfig(opts);
  const args = [...withoutOpensslConfig(process.execArgv), `--openssl-config=${file}`, ...argv.slice(1)];
  const child = spawn(node, args, {
    stdio: 'inherit',
    env: { ...process.env, ...tokenEnv(opts), [ENGINE_CONFIG_ENV]: file },
  });
  const forward = (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  for (const s of FORWARDED_SIGNALS) process.on(s, forward);
  const result = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
    (resolve, reject) => {
      child.once('error', (err) =>
        reject(
          keyError(
            'engine_unavailable',
            `cannot re-execute with the engine config: ${errorMessage(err)}`,
            err,
          ),
        ),
      );
      child.once('exit', (code, signal) => resolve({ code, signal }));
    },
  ).finally(() => {
    for (const s of FORWARDED_SIGNALS) process.off(s, forward);
  });
  if (result.signal) {
    process.kill(process.pid, result.signal);
    process.exit(128 + (osConstants.signals[result.signal] ?? 0));
  }
  process.exit(result.code ?? 1);
}
