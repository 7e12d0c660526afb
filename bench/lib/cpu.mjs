// CPU time of process trees, from /proc.
//
// Throughput on a 2-core box shared with the load generator depends on how the scheduler splits
// the cores; CPU seconds the server itself spent per operation do not, so they are the figure to
// compare (shared notes). utime+stime in /proc/PID/stat cover all of a process's threads
// (libuv's pool, V8's helpers), at clock-tick resolution (10 ms: ~0.2% of a 5 s run on 1 core).

import { readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100; // USER_HZ; fixed at 100 on Linux/x86-64 and arm64

function readStat(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) is in parentheses and may contain spaces: split after the last ')'.
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) }; // fields 4, 14, 15
  } catch {
    return null; // exited
  }
}

/** rootPid and all its descendants, alive now. */
export function processTree(rootPid) {
  const children = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = readStat(name);
    if (!st) continue;
    if (!children.has(st.ppid)) children.set(st.ppid, []);
    children.get(st.ppid).push(Number(name));
  }
  const out = [];
  const stack = [rootPid];
  while (stack.length) {
    const pid = stack.pop();
    out.push(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return out;
}

function ticksOf(pids) {
  let sum = 0;
  for (const pid of pids) sum += readStat(pid)?.ticks ?? 0;
  return sum;
}

/**
 * Busy ticks of the whole machine, all cores, split into time charged to processes
 * (user+nice+system) and interrupt time (irq+softirq: on loopback, much of the TCP receive path
 * runs in softirq context and is charged to no process), plus steal.
 */
function machineTicks() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = f;
  return { processes: user + nice + system, interrupts: irq + softirq, steal: steal ?? 0 };
}

/** Cores kept busy by processes over the next `ms` milliseconds (an idle machine: ~0). */
export async function machineBusyCores(ms = 500) {
  const a = machineTicks();
  const t0 = process.hrtime.bigint();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return (machineTicks().processes - a.processes) / TICKS_PER_SECOND / seconds;
}

/**
 * Start a CPU measurement of some process trees (by name) and of the machine.
 * The trees' members are fixed at the start: servers keep their workers for the whole run. A
 * process that exits mid-measurement loses its ticks (the sanity check catches dead workers).
 * @param {Record<string, number>} roots name -> root pid
 * @returns {() => { seconds: number, cpu: Record<string, number>,
 *   machine: { processes: number, interrupts: number, steal: number } }} stop (CPU in seconds)
 */
export function startCpuMeasurement(roots) {
  const trees = Object.fromEntries(Object.entries(roots).map(([name, pid]) => [name, processTree(pid)]));
  const before = Object.fromEntries(Object.entries(trees).map(([name, pids]) => [name, ticksOf(pids)]));
  const machineBefore = machineTicks();
  const t0 = process.hrtime.bigint();
  return () => {
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = {};
    for (const [name, pids] of Object.entries(trees))
      cpu[name] = (ticksOf(pids) - before[name]) / TICKS_PER_SECOND;
    const m = machineTicks();
    const machine = Object.fromEntries(
      Object.keys(m).map((k) => [k, (m[k] - machineBefore[k]) / TICKS_PER_SECOND]),
    );
    return { seconds, cpu, machine };
  };
}
