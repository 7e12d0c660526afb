// The three measurements, and one run of one of them against one stack.

import { setTimeout as sleep } from 'node:timers/promises';
import { machineBusyCores, startCpuMeasurement } from './cpu.mjs';
import { runWrk } from './load.mjs';

/**
 * What each test does. `count` picks the operations from a wrk+shim result; `problems` lists
 * what makes a run invalid (a resumed session would not be a full handshake, a 2xx to an
 * unknown CA would be a security failure, not a performance figure).
 */
export const TESTS = [
  {
    id: 'handshake',
    title: 'Full mTLS handshakes',
    rateUnit: 'handshakes/s',
    cpuLabel: 'server CPU per handshake',
    client: 'legit',
    newConnectionEachRequest: true,
    connections: 32,
    count: (r) => r.handshakes,
    problems: (r) => [
      r.resumed > 0 && `${r.resumed} resumed sessions`,
      r.non2xx > 0 && `${r.non2xx} non-2xx responses`,
      errorCount(r) > r.handshakes * 0.01 && `${errorCount(r)} socket errors`,
    ],
  },
  {
    id: 'keepalive',
    title: 'Keep-alive proxied requests',
    rateUnit: 'req/s',
    cpuLabel: 'server CPU per request',
    client: 'legit',
    newConnectionEachRequest: false,
    connections: 64,
    count: (r) => r.requests,
    problems: (r) => [
      r.non2xx > 0 && `${r.non2xx} non-2xx responses`,
      errorCount(r) > 0 && `${errorCount(r)} socket errors`,
    ],
  },
  {
    id: 'flood',
    title: 'Unknown-CA flood',
    rateUnit: 'attempts/s',
    cpuLabel: 'server CPU per rejected attempt',
    client: 'rogue',
    newConnectionEachRequest: true,
    connections: 32,
    count: (r) => r.attempts,
    problems: (r) => [
      r.requests - r.non2xx > 0 &&
        `SECURITY: ${r.requests - r.non2xx} requests with an unknown CA's certificate succeeded`,
    ],
  },
];

// On a shared machine a neighbour's build or test run would distort the split of the two
// cores. Before each measurement wait (a bounded time) for the machine to be idle, i.e. for
// nothing but our idle servers to be running.
const QUIET_CORES = 0.1;
const QUIET_WAIT_MS = 15000; // per measurement
let quietBudgetMs = 45000; // per benchmark run: never wait more than this in total

async function waitForQuiet() {
  const start = Date.now();
  let busy = await machineBusyCores(400);
  if (busy > QUIET_CORES && quietBudgetMs > 0) {
    console.error(
      `[bench:edge]     something else keeps ${busy.toFixed(2)} cores busy: waiting up to ${QUIET_WAIT_MS / 1000} s for quiet`,
    );
  }
  while (busy > QUIET_CORES && Date.now() - start < QUIET_WAIT_MS && quietBudgetMs > 0) {
    const t = Date.now();
    await sleep(600);
    busy = await machineBusyCores(400);
    quietBudgetMs -= Date.now() - t;
  }
}

/** runWrk's options for one test against one stack (the test's client and connection count). */
export function wrkOptions({ test, stack, certs, shim, tmpDir, threads, connections = test.connections }) {
  const client =
    test.client === 'rogue'
      ? { cert: certs.rogueCert, key: certs.rogueKey }
      : { cert: certs.clientCert, key: certs.clientKey };
  return {
    shim,
    tmpDir,
    port: stack.port,
    client,
    newConnectionEachRequest: test.newConnectionEachRequest,
    connections,
    threads,
  };
}

const errorCount = (r) => r.errors.connect + r.errors.read + r.errors.write + r.errors.timeout;

/**
 * Warm up, then measure one test against one stack (after waiting for a quiet machine unless
 * waitForQuietMachine is false, as for warm-ups).
 * @returns {{ rate, cpuPerOp, serverCores, originCores, loadGenCores, foreignCores, ops, seconds,
 *   problems, wrk }}
 */
export async function measure({
  test,
  stack,
  origin,
  certs,
  shim,
  tmpDir,
  seconds,
  warmup,
  threads,
  waitForQuietMachine = true,
}) {
  const wrkOpts = wrkOptions({ test, stack, certs, shim, tmpDir, threads });
  if (waitForQuietMachine) await waitForQuiet();
  // Warm-up: JIT, connection pools to the origin, page cache; also lets the previous stack's
  // closed connections drain before we start counting.
  if (warmup > 0) await runWrk({ ...wrkOpts, seconds: warmup });
  const stop = startCpuMeasurement({ server: stack.pid, origin: origin.pid });
  const wrk = await runWrk({ ...wrkOpts, seconds });
  const cpu = stop();
  const ops = test.count(wrk);
  // Whatever else ran: other users of this shared machine, kernel threads. A busy neighbour
  // changes how the cores are split and, for event loops, how much work each wake-up batches.
  const foreign = Math.max(0, cpu.machine.processes - cpu.cpu.server - cpu.cpu.origin - wrk.cpuSeconds);
  return {
    ops,
    seconds: wrk.seconds,
    rate: ops / wrk.seconds,
    cpuPerOp: ops > 0 ? cpu.cpu.server / ops : NaN, // seconds
    serverCores: cpu.cpu.server / cpu.seconds,
    originCores: cpu.cpu.origin / cpu.seconds,
    loadGenCores: wrk.cpuSeconds / cpu.seconds,
    foreignCores: foreign / cpu.seconds,
    interruptCores: cpu.machine.interrupts / cpu.seconds, // mostly loopback TCP, charged to no process
    problems: test.problems(wrk).filter(Boolean),
    wrk,
  };
}
