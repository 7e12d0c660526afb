// A throwaway TPM 2.0 for tests: swtpm (TCP on 127.0.0.1, random ports, state in a temp dir),
// tpm2-abrmd as resource manager on a private dbus session bus (swtpm alone has 3 object slots),
// and a tpm2-pkcs11 store with one token. Everything runs as the current user; nothing touches
// the system bus or /dev/tpm*.
//
//   const tpm = await startSoftTpm();      // ~1-2 s
//   t.after(() => tpm.stop());             // kills every daemon (process groups), removes the dir
//   process.env.DBUS_SESSION_BUS_ADDRESS = tpm.env.DBUS_SESSION_BUS_ADDRESS;
//   createDeviceKey({ provider: 'tpm2', tpmTcti: tpm.tcti, tpm2PkcsStore: tpm.store,
//                     pkcs11PinFile: tpm.pinFile, … }, 'label');
//
// The token's PINs go on tpm2_ptool's command line: throwaway test values only.

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, openSync, closeSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, connect, createServer, type Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { requireTool, run, runOk } from './tools.js';

export const SOFT_TPM_TOOLS = [
  'swtpm',
  'tpm2-abrmd',
  'dbus-daemon',
  'dbus-send',
  'tpm2_ptool',
  'tpm2_dictionarylockout',
];

export interface SoftTpm {
  dir: string;
  /** TCTI for clients: the resource manager on the private bus (needs env.DBUS_SESSION_BUS_ADDRESS). */
  tcti: string;
  /** swtpm directly (no resource manager): only for tools that need few object slots. */
  swtpmTcti: string;
  /** A swtpm TCTI on a loopback port where nothing listens: "no TPM". */
  deadTcti: string;
  /** tpm2-pkcs11 store dir (TPM2_PKCS11_STORE). */
  store: string;
  /** Absolute path of libtpm2_pkcs11.so.1. */
  module: string;
  token: string;
  userPin: string;
  /** File holding the user PIN (0600). */
  pinFile: string;
  /** DBUS_SESSION_BUS_ADDRESS, TPM2TOOLS_TCTI, TPM2_PKCS11_TCTI, TPM2_PKCS11_STORE. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

export interface SoftTpmOptions {
  token?: string;
  userPin?: string;
  soPin?: string;
  /** Runs on the empty state dir before swtpm starts (e.g. swtpm_setup --create-ek-cert). */
  prepareState?: (stateDir: string) => Promise<void>;
}

/** libtpm2_pkcs11.so.1 in the usual library dirs, or null. */
export function findTpm2Pkcs11Module(): string | null {
  const dirs = [
    '/usr/lib/x86_64-linux-gnu',
    '/usr/lib/aarch64-linux-gnu',
    '/usr/lib64',
    '/usr/lib',
    '/usr/local/lib',
  ];
  for (const d of dirs) if (existsSync(join(d, 'libtpm2_pkcs11.so.1'))) return join(d, 'libtpm2_pkcs11.so.1');
  return null;
}

// --- daemons: own process group each, killed as a group ------------------------------------

interface Daemon {
  name: string;
  child: ChildProcess;
  exited: Promise<void>;
}

const live = new Set<Daemon>();
let exitHookInstalled = false;

function killGroup(d: Daemon, signal: NodeJS.Signals): void {
  if (d.child.pid === undefined) return;
  try {
    process.kill(-d.child.pid, signal);
  } catch {
    // already gone
  }
}

function startDaemon(
  name: string,
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  logFile: string,
): Daemon {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // Last resort when the test process dies without running its after() hooks.
    process.on('exit', () => {
      for (const d of live) killGroup(d, 'SIGKILL');
    });
  }
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', fd, fd], detached: true });
  } finally {
    closeSync(fd);
  }
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  const d: Daemon = { name, child, exited };
  live.add(d);
  void exited.then(() => live.delete(d));
  return d;
}

function isRunning(d: Daemon): boolean {
  return d.child.exitCode === null && d.child.signalCode === null && d.child.pid !== undefined;
}

async function stopDaemon(d: Daemon): Promise<void> {
  if (d.child.pid === undefined) return;
  killGroup(d, 'SIGTERM');
  const ac = new AbortController();
  const timedOut = await Promise.race([
    d.exited.then(() => false),
    sleep(3000, true, { signal: ac.signal }).catch(() => false),
  ]);
  ac.abort(); // no timer left behind to hold the event loop
  if (timedOut) {
    killGroup(d, 'SIGKILL');
    await d.exited;
  } else {
    killGroup(d, 'SIGKILL'); // any leftover of the group
  }
  live.delete(d);
}

// --- ports -------------------------------------------------------------------------------------

function listenOn(port: number): Promise<NetServer | null> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(null));
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => resolve(srv));
  });
}

const closeServer = (srv: NetServer) => new Promise<void>((r) => srv.close(() => r()));

/** Two consecutive free loopback ports (swtpm's TCTI expects the control port at port + 1). */
async function freePortPair(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 40000);
    const a = await listenOn(port);
    if (!a) continue;
    const b = await listenOn(port + 1);
    await closeServer(a);
    if (!b) continue;
    await closeServer(b);
    return port;
  }
  throw new Error('no two consecutive free loopback ports found');
}

export async function freePort(): Promise<number> {
  const srv = await listenOn(0);
  if (!srv) throw new Error('cannot bind a loopback port');
  const port = (srv.address() as AddressInfo).port;
  await closeServer(srv);
  return port;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function waitFor(
  what: string,
  d: Daemon,
  probe: () => Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isRunning(d)) throw new Error(`${what} exited during start-up (code ${d.child.exitCode})`);
    if (await probe()) return;
    await sleep(50);
  }
  throw new Error(`${what} not ready after ${timeoutMs} ms`);
}

// --- the TPM ---------------------------------------------------------------------------------

export async function startSoftTpm(options: SoftTpmOptions = {}): Promise<SoftTpm> {
  const swtpm = requireTool('swtpm');
  const abrmd = requireTool('tpm2-abrmd');
  const dbusDaemon = requireTool('dbus-daemon');
  const dbusSend = requireTool('dbus-send');
  const ptool = requireTool('tpm2_ptool');
  const module = findTpm2Pkcs11Module();
  if (!module) throw new Error('libtpm2_pkcs11.so.1 not found (Debian: libtpm2-pkcs11-1)');

  const token = options.token ?? 'device';
  const userPin = options.userPin ?? '246810';
  const soPin = options.soPin ?? '13579111';
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-tpm-'));
  const daemons: Daemon[] = [];
  const stop = async () => {
    for (const d of daemons.reverse()) await stopDaemon(d);
    daemons.length = 0;
    await rm(dir, { recursive: true, force: true });
  };

  try {
    const state = join(dir, 'state');
    const store = join(dir, 'store');
    await mkdir(state, { mode: 0o700 });
    await mkdir(store, { mode: 0o700 });
    await options.prepareState?.(state);
    const busAddress = `unix:path=${join(dir, 'bus.sock')}`;
    const tcti = 'tabrmd:bus_type=session';

    const bus = startDaemon(
      'dbus-daemon',
      dbusDaemon,
      ['--session', '--nofork', '--nopidfile', `--address=${busAddress}`],
      {},
      join(dir, 'dbus.log'),
    );
    daemons.push(bus);

    // swtpm, retried when its ports were taken between the check and the bind.
    let port = 0;
    for (let attempt = 0; ; attempt++) {
      port = await freePortPair();
      const tpm = startDaemon(
        'swtpm',
        swtpm,
        [
          'socket',
          '--tpm2',
          '--tpmstate',
          `dir=${state}`,
          '--server',
          `type=tcp,port=${port},bindaddr=127.0.0.1`,
          '--ctrl',
          `type=tcp,port=${port + 1},bindaddr=127.0.0.1`,
          '--flags',
          'not-need-init,startup-clear',
        ],
        {},
        join(dir, 'swtpm.log'),
      );
      try {
        await waitFor(
          'swtpm',
          tpm,
          async () => (await canConnect(port)) && (await canConnect(port + 1)),
          5000,
        );
        daemons.push(tpm);
        break;
      } catch (err) {
        await stopDaemon(tpm);
        if (attempt >= 4) throw err;
      }
    }
    const swtpmTcti = `swtpm:host=127.0.0.1,port=${port}`;

    const env = {
      DBUS_SESSION_BUS_ADDRESS: busAddress,
      TPM2TOOLS_TCTI: tcti,
      TPM2_PKCS11_TCTI: tcti,
      TPM2_PKCS11_STORE: store,
    };
    await waitFor('dbus-daemon', bus, async () => existsSync(join(dir, 'bus.sock')));

    const rm_ = startDaemon(
      'tpm2-abrmd',
      abrmd,
      ['--session', '--allow-root', `--tcti=${swtpmTcti}`],
      { DBUS_SESSION_BUS_ADDRESS: busAddress },
      join(dir, 'abrmd.log'),
    );
    daemons.push(rm_);
    await waitFor('tpm2-abrmd', rm_, async () => {
      const r = await run(
        dbusSend,
        [
          '--session',
          '--print-reply',
          '--dest=org.freedesktop.DBus',
          '/org/freedesktop/DBus',
          'org.freedesktop.DBus.NameHasOwner',
          'string:com.intel.tss2.Tabrmd',
        ],
        { env: { DBUS_SESSION_BUS_ADDRESS: busAddress }, timeoutMs: 5000 },
      );
      return r.code === 0 && r.stdout.includes('boolean true');
    });

    await runOk(ptool, ['init', `--path=${store}`], { env });
    await runOk(
      ptool,
      [
        'addtoken',
        '--pid=1',
        `--label=${token}`,
        `--userpin=${userPin}`,
        `--sopin=${soPin}`,
        `--path=${store}`,
      ],
      { env },
    );
    const pinFile = join(dir, 'user.pin');
    await writeFile(pinFile, `${userPin}\n`, { mode: 0o600 });

    const deadTcti = `swtpm:host=127.0.0.1,port=${await freePort()}`;
    return { dir, tcti, swtpmTcti, deadTcti, store, module, token, userPin, pinFile, env, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
