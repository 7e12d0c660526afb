// Child processes and temp dirs of a benchmark run, and their cleanup.
//
// Every server is spawned detached, i.e. as the leader of its own process group, so that one
// kill(-pgid) reaches nginx's workers or a Node cluster's workers too, and so that a Ctrl-C in
// the terminal reaches only us: we then stop the groups ourselves, in order, and remove the
// temp dirs. A synchronous SIGKILL sweep on 'exit' catches whatever is left (e.g. after an
// uncaught exception).

import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const groups = new Set(); // live children, each the leader of its process group
const tempDirs = new Set();

export function makeTempDir(prefix = 'gatehouse-bench-') {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

/**
 * Spawn a long-running server in its own process group, stdout+stderr appended to logFile
 * (a file, not a pipe: a chatty server must never block on us, nor cost us CPU).
 * @returns the ChildProcess, with .logFile and .exited (a promise of the exit code/signal)
 */
export function spawnServer(command, args, { logFile, env, cwd } = {}) {
  const fd = openSync(logFile, 'a');
  const child = spawn(command, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', fd, fd],
    detached: true,
  });
  closeSync(fd);
  groups.add(child);
  child.logFile = logFile;
  child.exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      groups.delete(child);
      resolve(signal ?? code);
    });
    child.on('error', (err) => {
      groups.delete(child);
      resolve(err.message);
    });
  });
  return child;
}

function killGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // group already gone
  }
}

/** SIGTERM a server's group, SIGKILL it if it has not exited after graceMs. */
export async function stopServer(child, graceMs = 3000) {
  if (!groups.has(child)) return;
  killGroup(child, 'SIGTERM');
  const timedOut = await Promise.race([child.exited.then(() => false), sleep(graceMs).then(() => true)]);
  if (timedOut) killGroup(child, 'SIGKILL');
  // The leader may exit before its workers: make sure the rest of the group is gone too.
  killGroup(child, 'SIGKILL');
}

export async function stopAll() {
  await Promise.all([...groups].map((c) => stopServer(c)));
}

function removeTempDirs() {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

/** Install once: Ctrl-C / SIGTERM / exit stop every server and remove the temp dirs. */
export function installCleanup({ keepTemp = false } = {}) {
  let stopping = false;
  const onSignal = async (sig) => {
    if (stopping) return;
    stopping = true;
    console.error(`\n[bench] ${sig}: stopping servers…`);
    await stopAll();
    if (!keepTemp) removeTempDirs();
    process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGHUP' ? 1 : 15));
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, onSignal);
  process.on('exit', () => {
    for (const child of groups) killGroup(child, 'SIGKILL');
    if (!keepTemp) removeTempDirs();
  });
}

export function readLog(child) {
  try {
    return readFileSync(child.logFile, 'utf8');
  } catch {
    return '';
  }
}

export function logTail(child, lines = 20) {
  return readLog(child).trimEnd().split('\n').slice(-lines).join('\n');
}

/**
 * Wait until the server's log matches re; returns the match. Fails early if the server exits.
 */
export async function waitForLog(child, re, { timeoutMs = 20000, what = String(re) } = {}) {
  const deadline = Date.now() + timeoutMs;
  let exited = null;
  child.exited.then((how) => (exited = how ?? 'exit'));
  for (;;) {
    const m = readLog(child).match(re);
    if (m) return m;
    if (exited !== null)
      throw new Error(`${what}: process exited (${exited}) before ready:\n${logTail(child)}`);
    if (Date.now() > deadline)
      throw new Error(`${what}: not ready after ${timeoutMs} ms:\n${logTail(child)}`);
    await sleep(100);
  }
}

function tryConnect(port, host) {
  return new Promise((resolve) => {
    const s = connect({ port, host }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

/** Wait until something accepts TCP connections on host:port. */
export async function waitForPort(
  port,
  { host = '127.0.0.1', child, timeoutMs = 20000, what = `port ${port}` } = {},
) {
  const deadline = Date.now() + timeoutMs;
  let exited = null;
  child?.exited.then((how) => (exited = how ?? 'exit'));
  while (!(await tryConnect(port, host))) {
    if (exited !== null) throw new Error(`${what}: process exited (${exited}):\n${logTail(child)}`);
    if (Date.now() > deadline) throw new Error(`${what}: nothing listening after ${timeoutMs} ms`);
    await sleep(100);
  }
}

/** A loopback TCP port that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}
