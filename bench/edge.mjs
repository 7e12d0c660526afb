// `npm run bench:edge` — Gatehouse's mTLS edge vs nginx vs a bare Node proxy, side by side.
//
//   npm run bench:edge                       all stacks, median of 3 × 5 s (3–4 minutes)
//   npm run bench:edge -- --quick            1 × 3 s, for trying things out
//   npm run bench:edge -- --stacks nginx,bare --tests handshake --reps 5 --no-docs
//
// Options: --duration S, --warmup S (before each measurement), --initial-warmup S (per stack,
// before the first measurement), --reps N, --threads N (wrk), --stacks LIST, --tests LIST,
// --no-docs (do not rewrite docs/benchmarks.md), --json FILE (raw results), --keep-temp.
// Loopback only; everything it starts (nginx ×2, Node, Gatehouse) is stopped at the end or on
// Ctrl-C, and its temp dir removed. See docs/benchmarks.md for the method and what bounds what.

import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT } from '../scripts/build-if-needed.mjs';
import { findCommand } from '../scripts/system-deps.mjs';
import { generateCertificates } from './lib/certs.mjs';
import { ensureBenchDeps } from './lib/deps.mjs';
import { buildShim } from './lib/load.mjs';
import { measure, TESTS } from './lib/measure.mjs';
import { writeNoTicketsConf } from './lib/openssl-conf.mjs';
import { checkStack } from './lib/probe.mjs';
import { freePort, installCleanup, makeTempDir, stopAll } from './lib/procs.mjs';
import {
  DISTURBED_CORES,
  markdownSection,
  printTable,
  printTargets,
  summarize,
  updateDocs,
} from './lib/report.mjs';
import { startBareNode } from './stacks/bare-node.mjs';
import { gatehouseAvailability, startGatehouse } from './stacks/gatehouse.mjs';
import { startNginxEdge, startOrigin } from './stacks/nginx.mjs';

const say = (msg) => console.error(`[bench:edge] ${msg}`);
const DOCS_FILE = join(REPO_ROOT, 'docs', 'benchmarks.md');
const ALL_STACKS = ['nginx', 'bare', 'gatehouse'];

function parseOptions() {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '1' },
      'initial-warmup': { type: 'string', default: '9' },
      reps: { type: 'string', default: '3' },
      threads: { type: 'string', default: '2' },
      stacks: { type: 'string', default: ALL_STACKS.join(',') },
      tests: { type: 'string', default: TESTS.map((t) => t.id).join(',') },
      quick: { type: 'boolean', default: false },
      'no-docs': { type: 'boolean', default: false },
      json: { type: 'string' },
      'keep-temp': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(
      readFileSync(new URL(import.meta.url), 'utf8')
        .split('\n\n')[0]
        .replace(/^\/\/ ?/gm, ''),
    );
    process.exit(0);
  }
  const num = (name) => {
    const n = Number(values[name]);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a number`);
    return n;
  };
  const list = (name, known) => {
    const items = values[name]
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const bad = items.filter((i) => !known.includes(i));
    if (bad.length) throw new Error(`--${name}: unknown ${bad.join(', ')} (known: ${known.join(', ')})`);
    return items;
  };
  return {
    duration: values.quick ? 3 : num('duration'),
    warmup: values.quick ? 1 : num('warmup'),
    initialWarmup: values.quick ? 3 : num('initial-warmup'),
    reps: values.quick ? 1 : Math.max(1, Math.round(num('reps'))),
    threads: Math.max(1, Math.round(num('threads'))),
    stacks: list('stacks', ALL_STACKS),
    tests: list(
      'tests',
      TESTS.map((t) => t.id),
    ),
    docs: !values['no-docs'],
    json: values.json,
    keepTemp: values['keep-temp'],
    quick: values.quick,
  };
}

function firstLine(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0];
}

function environment() {
  const debian = (() => {
    try {
      return `Debian ${readFileSync('/etc/debian_version', 'utf8').trim()}`;
    } catch {
      return 'Linux';
    }
  })();
  const undici = JSON.parse(
    readFileSync(join(REPO_ROOT, 'node_modules', 'undici', 'package.json'), 'utf8'),
  ).version;
  return {
    date: new Date()
      .toISOString()
      .replace(/:\d\d\.\d+Z$/, ' UTC')
      .replace('T', ' '),
    machine:
      `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} vCPUs, ${Math.round(totalmem() / 2 ** 30)} GiB, ` +
      `${debian}, Linux ${release()}; load generator, origin and stacks share the same cores`,
    versions: [
      `Node ${process.version} (OpenSSL ${process.versions.openssl})`,
      `system ${firstLine('openssl', ['version']).match(/OpenSSL \S+/)?.[0] ?? 'OpenSSL ?'} (nginx, wrk)`,
      firstLine(findCommand('nginx') ?? 'nginx', ['-v']).replace('nginx version: ', ''),
      firstLine('wrk', ['-v']).replace(/\s+\[.*/, ''),
      `undici ${undici}`,
    ],
  };
}

/** Start the requested stacks; a Gatehouse that cannot run is reported, not fatal. */
async function startStacks(dir, opts, { certs, origin, originPort, opensslConf }) {
  const stacks = [];
  const skipped = [];
  if (opts.stacks.includes('nginx')) {
    say('starting nginx edge');
    stacks.push(await startNginxEdge(dir, { port: await freePort(), originPort, certs, opensslConf }));
  }
  if (opts.stacks.includes('bare')) {
    say('starting bare Node proxy');
    stacks.push(
      await startBareNode(dir, { port: await freePort(), originUrl: origin.url, certs, opensslConf }),
    );
  }
  if (opts.stacks.includes('gatehouse')) {
    const avail = gatehouseAvailability(say);
    if (!avail.ok) {
      say(`Gatehouse stack skipped: ${avail.reason}`);
      skipped.push({ name: 'gatehouse', label: 'Gatehouse', reason: avail.reason });
    } else {
      say('starting Gatehouse (init, serve, configure through the API)');
      try {
        if (avail.buildWarning) say(`WARNING: ${avail.buildWarning}`);
        const { hasNoAccessLog: noAccessLog, buildWarning } = avail;
        const ports = { port: await freePort(), apiPort: await freePort() };
        stacks.push(
          await startGatehouse(dir, { ...ports, originUrl: origin.url, certs, noAccessLog, buildWarning }),
        );
      } catch (err) {
        say(`Gatehouse stack skipped: ${err.message}`);
        skipped.push({
          name: 'gatehouse',
          label: 'Gatehouse',
          reason: `could not start: ${err.message.split('\n')[0]}`,
        });
      }
    }
  }
  return { stacks, skipped };
}

/**
 * V8 keeps optimising for well over the 1 s warm-up before each measurement: in a profile of
 * the bare Node proxy, TurboFan took 12% of the CPU 2–6 s into the load and 3% after 20 s. Give
 * every stack (nginx too, for symmetry) a longer drive through all tests once, up front.
 */
async function initialWarmup({ opts, tests, stacks, origin, certs, shim, dir }) {
  if (opts.initialWarmup <= 0) return;
  const each = opts.initialWarmup / tests.length;
  for (const stack of stacks) {
    say(`warming up ${stack.label} (${opts.initialWarmup} s)`);
    for (const test of tests) {
      await measure({
        test,
        stack,
        origin,
        certs,
        shim,
        tmpDir: dir,
        seconds: each,
        warmup: 0,
        threads: opts.threads,
        waitForQuietMachine: false,
      });
    }
  }
}

const fmtCpuPerOp = (s) => (s >= 1e-3 ? `${(s * 1e3).toFixed(2)} ms` : `${(s * 1e6).toFixed(0)} µs`);

/** One measurement, logged; a failure becomes a run with an error instead of ending the benchmark. */
async function measureOnce(ctx, test, stack, rep, label) {
  const { opts, origin, certs, shim, dir } = ctx;
  const base = { test: test.id, stack: stack.name, stackLabel: stack.label, rep };
  say(`${label} ${test.id} · ${stack.label} · run ${rep}`);
  try {
    const r = await measure({
      test,
      stack,
      origin,
      certs,
      shim,
      tmpDir: dir,
      seconds: opts.duration,
      warmup: opts.warmup,
      threads: opts.threads,
    });
    const cores = `server ${r.serverCores.toFixed(2)}, wrk ${r.loadGenCores.toFixed(2)}, other ${r.foreignCores.toFixed(2)}`;
    const problems = r.problems.length ? `; PROBLEMS: ${r.problems.join('; ')}` : '';
    say(
      `    ${Math.round(r.rate)} ${test.rateUnit}, ${fmtCpuPerOp(r.cpuPerOp)} server CPU/op (cores: ${cores})${problems}`,
    );
    return { ...base, ...r };
  } catch (err) {
    say(`    failed: ${err.message}`);
    return { ...base, error: err.message.split('\n')[0] };
  }
}

// Extra time the benchmark may spend re-measuring cells whose every run was disturbed by
// other load on the machine.
const RETRY_BUDGET_MS = 45000;

/**
 * Interleave: each repetition runs every test on every stack, rotating the stack order. Then
 * give cells that have no undisturbed run one more chance each, within RETRY_BUDGET_MS.
 */
async function runAll(ctx) {
  const { opts, tests, stacks } = ctx;
  await initialWarmup(ctx);
  const runs = [];
  const total = opts.reps * tests.length * stacks.length;
  for (let rep = 1; rep <= opts.reps; rep++) {
    const order = stacks.map((_, i) => stacks[(i + rep - 1) % stacks.length]);
    for (const test of tests) {
      for (const stack of order)
        runs.push(await measureOnce(ctx, test, stack, rep, `[${runs.length + 1}/${total}]`));
    }
  }
  const retryUntil = Date.now() + RETRY_BUDGET_MS;
  for (const test of tests) {
    for (const stack of stacks) {
      const cell = runs.filter((r) => r.test === test.id && r.stack === stack.name && !r.error);
      if (cell.length === 0 || cell.some((r) => r.foreignCores <= DISTURBED_CORES)) continue;
      if (Date.now() > retryUntil) continue;
      runs.push(await measureOnce(ctx, test, stack, opts.reps + 1, '[retry, all runs were disturbed]'));
    }
  }
  return runs;
}

/** Check every stack end to end before measuring anything; returns what the probes saw. */
async function checkStacks(stacks, certs) {
  const checks = {};
  for (const st of stacks) {
    const c = await checkStack(st, certs);
    checks[st.name] = c;
    say(`${st.label}: OK (tickets per handshake: ${c.tickets}, unknown CA: ${c.rogue})`);
  }
  return checks;
}

function summarizeAll(tests, stacks, runs) {
  const summary = {};
  for (const t of tests) {
    summary[t.id] = {};
    for (const st of stacks) {
      summary[t.id][st.name] = summarize(runs.filter((r) => r.test === t.id && r.stack === st.name));
    }
  }
  return summary;
}

async function report(ctx, opts) {
  printTable(ctx);
  if (ctx.stacks.some((s) => s.name === 'gatehouse')) printTargets(ctx);
  for (const s of ctx.skipped) console.log(`\n${s.label} not measured: ${s.reason}`);
  const ok = ctx.runs.filter((r) => !r.error);
  const disturbed = ok.filter((r) => r.foreignCores > DISTURBED_CORES).length;
  if (disturbed > 0) {
    console.log(
      `\n${disturbed} of ${ok.length} runs had other load on the machine (> ${DISTURBED_CORES} cores); ` +
        'they are left out of the medians where a figure has undisturbed runs.',
    );
  }
  const unreliable = ctx.tests.flatMap((t) =>
    ctx.stacks.filter((st) => ctx.summary[t.id][st.name].allDisturbed).map((st) => `${t.id}/${st.label}`),
  );
  if (unreliable.length > 0) {
    console.log(`WARNING: every run of ${unreliable.join(', ')} was disturbed: rerun on a quiet machine.`);
  }
  if (opts.json) {
    const tests = ctx.tests.map(({ id, title }) => ({ id, title }));
    writeFileSync(opts.json, JSON.stringify({ ...ctx, tests }, null, 2));
    say(`raw results: ${opts.json}`);
  }
  if (opts.docs) {
    await updateDocs(DOCS_FILE, markdownSection(ctx), DOCS_TEMPLATE);
    say(`results written to ${DOCS_FILE}`);
  }
}

async function main() {
  const opts = parseOptions();
  installCleanup({ keepTemp: opts.keepTemp });
  ensureBenchDeps();
  const tests = TESTS.filter((t) => opts.tests.includes(t.id));
  const dir = makeTempDir();
  if (opts.keepTemp) say(`temp dir kept: ${dir}`);

  say('certificates, mTLS shim');
  const certs = generateCertificates(dir);
  const shim = buildShim(dir);
  const opensslConf = writeNoTicketsConf(dir);
  const originPort = await freePort();
  const origin = await startOrigin(dir, originPort);
  const { stacks, skipped } = await startStacks(dir, opts, { certs, origin, originPort, opensslConf });
  if (stacks.length === 0) throw new Error('no stack to measure');
  const stackChecks = await checkStacks(stacks, certs);

  const runs = await runAll({ opts, tests, stacks, origin, certs, shim, dir });
  await stopAll();
  const summary = summarizeAll(tests, stacks, runs);
  const ctx = { tests, stacks, summary, env: environment(), params: opts, skipped, stackChecks, runs };
  await report(ctx, opts);
}

const DOCS_TEMPLATE = '# Benchmarks\n\n## Edge: Gatehouse vs nginx vs bare Node (`npm run bench:edge`)\n';

main().catch(async (err) => {
  console.error(`[bench:edge] ${err.message}`);
  await stopAll();
  process.exit(1);
});
