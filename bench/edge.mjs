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
import { generateCertificates } from './lib/certs.mjs';
import { ensureBenchDeps } from './lib/deps.mjs';
import { buildShim } from './lib/load.mjs';
import { measure, TESTS } from './lib/measure.mjs';
import { writeNoTicketsConf } from './lib/openssl-conf.mjs';
import { checkStack } from './lib/probe.mjs';
import { freePort, installCleanup, makeTempDir, stopAll } from './lib/procs.mjs';
import { markdownSection, printTable, printTargets, summarize, updateDocs } from './lib/report.mjs';
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
      firstLine('nginx', ['-v']).replace('nginx version: ', ''),
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
        const ports = { port: await freePort(), apiPort: await freePort() };
        stacks.push(
          await startGatehouse(dir, {
            ...ports,
            originUrl: origin.url,
            certs,
            noAccessLog: avail.hasNoAccessLog,
          }),
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

/** Interleave: each repetition runs every test on every stack, rotating the stack order. */
async function runAll({ opts, tests, stacks, origin, certs, shim, dir }) {
  await initialWarmup({ opts, tests, stacks, origin, certs, shim, dir });
  const runs = [];
  const total = opts.reps * tests.length * stacks.length;
  for (let rep = 1; rep <= opts.reps; rep++) {
    const order = stacks.map((_, i) => stacks[(i + rep - 1) % stacks.length]);
    for (const test of tests) {
      for (const stack of order) {
        const base = { test: test.id, stack: stack.name, stackLabel: stack.label, rep };
        say(`[${runs.length + 1}/${total}] ${test.id} · ${stack.label} · run ${rep}`);
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
          runs.push({ ...base, ...r });
          const cpu =
            r.cpuPerOp >= 1e-3
              ? `${(r.cpuPerOp * 1e3).toFixed(2)} ms`
              : `${(r.cpuPerOp * 1e6).toFixed(0)} µs`;
          const cores = `cores: server ${r.serverCores.toFixed(2)}, wrk ${r.loadGenCores.toFixed(2)}, other ${r.foreignCores.toFixed(2)}`;
          say(
            `    ${Math.round(r.rate)} ${test.rateUnit}, ${cpu} server CPU/op (${cores})${r.problems.length ? `; PROBLEMS: ${r.problems.join('; ')}` : ''}`,
          );
        } catch (err) {
          say(`    failed: ${err.message}`);
          runs.push({ ...base, error: err.message.split('\n')[0] });
        }
      }
    }
  }
  return runs;
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

  const stackChecks = {};
  for (const st of stacks) {
    stackChecks[st.name] = await checkStack(st, certs);
    say(
      `${st.label}: OK (tickets per handshake: ${stackChecks[st.name].tickets}, unknown CA: ${stackChecks[st.name].rogue})`,
    );
  }

  const runs = await runAll({ opts, tests, stacks, origin, certs, shim, dir });
  const summary = {};
  for (const t of tests) {
    summary[t.id] = {};
    for (const st of stacks)
      summary[t.id][st.name] = summarize(runs.filter((r) => r.test === t.id && r.stack === st.name));
  }
  await stopAll();

  const ctx = { tests, stacks, summary, env: environment(), params: opts, skipped, stackChecks, runs };
  printTable(ctx);
  if (stacks.some((s) => s.name === 'gatehouse')) printTargets(ctx);
  for (const s of skipped) console.log(`\n${s.label} not measured: ${s.reason}`);
  if (opts.json) {
    writeFileSync(
      opts.json,
      JSON.stringify({ ...ctx, tests: tests.map(({ id, title }) => ({ id, title })) }, null, 2),
    );
    say(`raw results: ${opts.json}`);
  }
  if (opts.docs) {
    await updateDocs(DOCS_FILE, markdownSection(ctx), DOCS_TEMPLATE);
    say(`results written to ${DOCS_FILE}`);
  }
}

const DOCS_TEMPLATE = '# Benchmarks\n\n## Edge: Gatehouse vs nginx vs bare Node (`npm run bench:edge`)\n';

main().catch(async (err) => {
  console.error(`[bench:edge] ${err.message}`);
  await stopAll();
  process.exit(1);
});
