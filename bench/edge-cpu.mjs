// `node bench/edge-cpu.mjs` — server CPU per operation of Gatehouse vs the bare Node proxy, A/B,
// for finding and checking Gatehouse's own overhead on a busy machine.
//
//   node bench/edge-cpu.mjs                                  keepalive + flood, bare vs gatehouse
//   node bench/edge-cpu.mjs --tests flood --rounds 5 --seconds 4
//   node bench/edge-cpu.mjs --stacks gatehouse --tests keepalive --perf   + a flat perf profile
//
// Options: --stacks LIST (bare, bare403: the bare proxy answering refused clients with a node:http
// 403 instead of closing, baresni: the bare proxy choosing its context in an SNICallback,
// gatehouse, nginx), --tests LIST (handshake, keepalive, flood),
// --workers N (server processes, default 1), --threads N (wrk, default 1), --connections N (wrk;
// default: the test's; 1 makes every request its own event-loop turn, the least load-dependent), --seconds S per run,
// --rounds N (stacks alternate within each round), --warmup S (per stack and test, once),
// --perf (perf record -e cpu-clock on the server's processes during the last round; Node runs
// with --perf-basic-prof so JS frames have names), --cpu-prof (V8 profiles of the Node stacks
// over the whole run, warm-ups included, summarised per function with inclusive time when the
// stacks stop), --top N (profile lines).
//
// Unlike `npm run bench:edge` this does not compare throughput and does not wait for a quiet
// machine: it reports only server CPU time per operation (utime+stime of the server's process
// tree over the run, from /proc), which moves much less with other load, and it alternates the
// stacks so that both see the same conditions. One worker by default, so that wrk, the origin
// and the server each get a core most of the time. Figures: min and median over the rounds.

import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { generateCertificates } from './lib/certs.mjs';
import { processTree, startCpuMeasurement } from './lib/cpu.mjs';
import { categorizeProfiles, summarizeProfiles } from './lib/cpuprofile.mjs';
import { buildShim, runWrk } from './lib/load.mjs';
import { TESTS, wrkOptions } from './lib/measure.mjs';
import { writeNoTicketsConf } from './lib/openssl-conf.mjs';
import { checkStack } from './lib/probe.mjs';
import { freePort, installCleanup, makeTempDir, stopAll } from './lib/procs.mjs';
import { median } from './lib/report.mjs';
import { startBareNode } from './stacks/bare-node.mjs';
import { gatehouseAvailability, startGatehouse } from './stacks/gatehouse.mjs';
import { startNginxEdge, startOrigin } from './stacks/nginx.mjs';

const say = (msg) => console.error(`[edge-cpu] ${msg}`);

const { values: o } = parseArgs({
  options: {
    stacks: { type: 'string', default: 'bare,gatehouse' },
    tests: { type: 'string', default: 'keepalive,flood' },
    workers: { type: 'string', default: '1' },
    threads: { type: 'string', default: '1' },
    connections: { type: 'string' },
    seconds: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '6' },
    perf: { type: 'boolean', default: false },
    'cpu-prof': { type: 'boolean', default: false },
    top: { type: 'string', default: '40' },
  },
});
const stackNames = o.stacks.split(',');
const tests = TESTS.filter((t) => o.tests.split(',').includes(t.id));
const workers = Number(o.workers);

function startPerf(pids, file) {
  const child = spawn('perf', ['record', '-e', 'cpu-clock', '-F', '1999', '-o', file, '-p', pids.join(',')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return () =>
    new Promise((resolve) => {
      child.on('exit', resolve);
      child.kill('SIGINT');
    });
}

function perfReport(file, top) {
  const out = execFileSync(
    'perf',
    ['report', '-i', file, '--stdio', '--no-children', '--sort', 'dso,sym', '--percent-limit', '0.4'],
    { encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'ignore'] },
  );
  return out
    .split('\n')
    .filter((l) => /^\s+\d/.test(l))
    .slice(0, top)
    .join('\n');
}

async function main() {
  installCleanup();
  const dir = makeTempDir('gatehouse-edge-cpu-');
  const certs = generateCertificates(dir);
  const shim = buildShim(dir);
  const opensslConf = writeNoTicketsConf(dir);
  const originPort = await freePort();
  const origin = await startOrigin(dir, originPort);
  const stacks = [];
  const profDirs = new Map();
  for (const name of stackNames) {
    const port = await freePort();
    const profDir = join(dir, `cpuprof-${name}`);
    if (o['cpu-prof']) profDirs.set(name, profDir);
    const nodeArgs = [
      ...(o.perf ? ['--perf-basic-prof'] : []),
      ...(o['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-interval', '250', '--cpu-prof-dir', profDir] : []),
    ];
    if (name === 'bare' || name === 'bare403' || name === 'baresni')
      stacks.push(
        await startBareNode(dir, {
          port,
          originUrl: origin.url,
          certs,
          opensslConf,
          workers,
          nodeArgs,
          refuse: name === 'bare403' ? '403' : 'close',
          sniCallback: name === 'baresni',
        }),
      );
    else if (name === 'nginx')
      stacks.push(await startNginxEdge(dir, { port, originPort, certs, opensslConf }));
    else if (name === 'gatehouse') {
      const avail = gatehouseAvailability(say);
      if (!avail.ok) throw new Error(avail.reason);
      stacks.push(
        await startGatehouse(dir, {
          port,
          apiPort: await freePort(),
          originUrl: origin.url,
          certs,
          workers,
          noAccessLog: avail.hasNoAccessLog,
          nodeArgs,
        }),
      );
    } else throw new Error(`unknown stack ${name}`);
  }
  for (const st of stacks) await checkStack(st, certs);

  const run = async (test, stack, seconds, measureIt, perfFile) => {
    const wrkOpts = {
      ...wrkOptions({
        test,
        stack,
        certs,
        shim,
        tmpDir: dir,
        threads: Number(o.threads),
        connections: o.connections ? Number(o.connections) : test.connections,
      }),
      seconds,
    };
    if (!measureIt) return runWrk(wrkOpts);
    const stopPerf = perfFile ? startPerf(processTree(stack.pid), perfFile) : undefined;
    const pids = processTree(stack.pid);
    const stop = startCpuMeasurement({ server: stack.pid, ...Object.fromEntries(pids.map((p) => [p, p])) });
    const wrk = await runWrk(wrkOpts);
    const cpu = stop();
    // Per process of the tree (a primary that should be idle, each worker).
    const perPid = pids.map((p) => `${p}: ${((cpu.cpu[p] / test.count(wrk)) * 1e6).toFixed(1)}`).join(', ');
    say(`  per process (µs/op): ${perPid}`);
    await stopPerf?.();
    const problems = test.problems(wrk).filter(Boolean);
    if (problems.length) say(`  PROBLEMS: ${problems.join('; ')}`);
    return { cpuPerOpUs: (cpu.cpu.server / test.count(wrk)) * 1e6, rate: test.count(wrk) / wrk.seconds };
  };

  for (const test of tests) {
    for (const st of stacks) {
      say(`warm-up ${test.id} · ${st.label}`);
      await run(test, st, Number(o.warmup), false);
    }
    const results = Object.fromEntries(stacks.map((s) => [s.name, []]));
    const rounds = Number(o.rounds);
    for (let r = 1; r <= rounds; r++) {
      const order = r % 2 ? stacks : [...stacks].reverse();
      for (const st of order) {
        const perfFile = o.perf && r === rounds ? join(dir, `perf-${test.id}-${st.name}.data`) : undefined;
        const m = await run(test, st, Number(o.seconds), true, perfFile);
        results[st.name].push(m.cpuPerOpUs);
        say(
          `${test.id} · ${st.label} · round ${r}: ${m.cpuPerOpUs.toFixed(1)} µs/op (${Math.round(m.rate)}/s)`,
        );
        if (perfFile)
          console.log(`\n## perf: ${test.id} · ${st.label}\n${perfReport(perfFile, Number(o.top))}\n`);
      }
    }
    console.log(`\n${test.id} (server CPU per op, µs; min / median of ${rounds})`);
    for (const st of stacks) {
      const xs = results[st.name];
      console.log(
        `  ${st.label.padEnd(10)} ${Math.min(...xs)
          .toFixed(1)
          .padStart(8)} ${median(xs).toFixed(1).padStart(8)}`,
      );
    }
    if (results.bare && results.gatehouse) {
      const ratio = (f) => f(results.gatehouse) / f(results.bare);
      console.log(
        `  Gatehouse overhead over bare Node: ${((ratio((x) => Math.min(...x)) - 1) * 100).toFixed(1)}% (min), ${((ratio(median) - 1) * 100).toFixed(1)}% (median)`,
      );
    }
  }
  for (const st of stacks) {
    if (!profDirs.has(st.name)) continue;
    // Profiles are written when the processes exit: stop the workers first and give them time
    // (stopping the group would SIGKILL workers still writing theirs once the primary is gone).
    const workersOf = processTree(st.pid).filter((p) => p !== st.pid);
    for (const pid of workersOf) process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 100 && workersOf.some((p) => existsSync(`/proc/${p}`)); i++) await sleep(100);
    await st.stop();
    console.log(`\n## V8 profile: ${st.label} (% of non-idle samples: inclusive, self)`);
    for (const r of summarizeProfiles(profDirs.get(st.name)).slice(0, Number(o.top)))
      console.log(`${r.totalPct.toFixed(1).padStart(6)} ${r.selfPct.toFixed(1).padStart(6)}  ${r.fn}`);
    console.log(`\n## By category: ${st.label} (% of non-idle samples, start-up left out)`);
    for (const c of categorizeProfiles(profDirs.get(st.name)))
      console.log(`${c.pct.toFixed(1).padStart(6)}  ${c.category}`);
  }
  await stopAll();
}

main().catch(async (err) => {
  console.error(`[edge-cpu] ${err.stack ?? err.message}`);
  await stopAll();
  process.exit(1);
});
