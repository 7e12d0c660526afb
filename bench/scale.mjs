// `npm run bench -- scale` — does the edge's cost grow with the work? Four runs (issue #14):
//
//   hostnames    1 vs 1,000 hostnames, each with its own client CA: server CPU per full mTLS
//                handshake, edge worker memory, config reload time (API write → edge serves it)
//   devices      20,000 distinct client certificates from one CA connecting in turn vs one
//                certificate: verdict-cache misses, CPU per handshake, edge worker memory
//   idle         10,000 idle keep-alive mTLS connections: memory per connection, nginx vs Gatehouse
//   revocations  0 vs 100,000 revoked certificates: one more revocation until the edge refuses
//                the certificate, CRL size and fetch time, edge memory, reload cost
//
//   npm run bench -- scale                         all four: about an hour on 2 busy cores, half of
//                                                  it one revocation with 100,000 revoked (re-signing
//                                                  the CRL is quadratic: docs/benchmarks.md)
//   npm run bench -- scale --quick                 small sizes, 1 repetition, to try it out
//   node bench/scale.mjs --runs devices,idle --reps 5 --seconds 10 --json out.json
//
// Options: --runs LIST, --reps N (alternating repetitions of each CPU figure, default 3),
// --seconds S (per CPU measurement, default 8), --hostnames N, --devices N, --idle N,
// --revoked N, --quick, --json FILE, --keep-temp. Loopback only; everything it starts is
// stopped at the end or on Ctrl-C and its temp dir removed (the generated device certificates
// are cached under $TMPDIR/gatehouse-bench-scale-cache, see bench/lib/pkigen.mjs).
// Results and analysis: docs/benchmarks.md, "Scale with the work".

import { spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes, randomUUID, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from 'node:tls';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { buildIfNeeded, REPO_ROOT } from '../scripts/build-if-needed.mjs';
import { generateCertificates, SERVER_NAME } from './lib/certs.mjs';
import { startCpuMeasurement } from './lib/cpu.mjs';
import { ensureBenchDeps } from './lib/deps.mjs';
import { buildShim, runWrk } from './lib/load.mjs';
import { mib, treeMemory, workersMemory } from './lib/memory.mjs';
import { deviceFleet, makeCa, makeClient, writePair } from './lib/pkigen.mjs';
import {
  freePort,
  installCleanup,
  makeTempDir,
  spawnServer,
  stopAll,
  stopServer,
  waitForLog,
} from './lib/procs.mjs';
import { startNginxEdge, startOrigin } from './stacks/nginx.mjs';

const CLI = join(REPO_ROOT, 'dist', 'cli', 'main.js');
const say = (msg) => console.error(`[bench:scale] ${msg}`);
const ALL_RUNS = ['hostnames', 'devices', 'idle', 'revocations'];
const EXTRA_RUNS = ['verdicts']; // only the verdict-cache replay of the devices run
const FD_LIMIT = 20000; // the hard limit on this machine; `ulimit -n` cannot go above it

const { values: o } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== 'scale'),
  strict: false,
  options: {
    runs: { type: 'string', default: ALL_RUNS.join(',') },
    reps: { type: 'string' },
    seconds: { type: 'string' },
    hostnames: { type: 'string' },
    devices: { type: 'string' },
    idle: { type: 'string' },
    revoked: { type: 'string' },
    quick: { type: 'boolean', default: false },
    json: { type: 'string' },
    'keep-temp': { type: 'boolean', default: false },
  },
});
const pick = (name, full, quick) => Number(o[name] ?? (o.quick ? quick : full));
const opts = {
  runs: String(o.runs)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
  reps: pick('reps', 3, 1),
  seconds: pick('seconds', 8, 3),
  hostnames: pick('hostnames', 1000, 50),
  devices: pick('devices', 20000, 1000),
  idle: pick('idle', 10000, 300),
  revoked: pick('revoked', 100000, 2000),
};
for (const r of opts.runs)
  if (![...ALL_RUNS, ...EXTRA_RUNS].includes(r))
    throw new Error(`--runs: unknown ${r} (known: ${ALL_RUNS.join(', ')})`);

const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const ms = (s) => `${(s * 1e3).toFixed(2)} ms`;
const load = () =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');

// ---- Gatehouse instances ------------------------------------------------------------------

function cleanEnv(extra = {}) {
  const env = { ...process.env, ...extra };
  delete env.GATEHOUSE_DATABASE_URL;
  delete env.GATEHOUSE_MASTER_KEY;
  return env;
}

/** Runs `command args` with the soft fd limit raised (`ulimit -n`), as a detached server. */
function spawnWithFdLimit(command, args, spawnOpts) {
  return spawnServer('sh', ['-c', `ulimit -n ${FD_LIMIT} && exec "$0" "$@"`, command, ...args], spawnOpts);
}

/** In-process access to a stopped or running instance's data dir (SQLite WAL: readers are fine). */
async function withData(dataDir, work) {
  const { withDataDir } = await import('../dist/cli/context.js');
  return withDataDir(dataDir, work);
}

/**
 * `gatehouse init`, then `seed` in-process (through Gatehouse's own services and repositories,
 * before the server runs), then `gatehouse serve` with 2 edge workers, log level info (the
 * edge logs each config reload), no access log.
 */
async function launchGatehouse(dir, name, seed) {
  const dataDir = join(dir, `gh-${name}`);
  const apiPort = await freePort();
  const port = await freePort();
  const r = spawnSync(
    process.execPath,
    [CLI, 'init', '--data-dir', dataDir, '--org', 'Bench', '--api-listen', `127.0.0.1:${apiPort}`, '--json'],
    { encoding: 'utf8', env: cleanEnv() },
  );
  if (r.status !== 0) throw new Error(`gatehouse init failed:\n${r.stderr}${r.stdout}`);
  const { admin_token: token, root_ca_pem: rootCaPem } = JSON.parse(r.stdout);
  const t0 = Date.now();
  const seeded = seed ? await withData(dataDir, seed) : undefined;
  const seedSeconds = (Date.now() - t0) / 1000;
  const logFile = join(dir, `gh-${name}.log`);
  const child = spawnWithFdLimit(
    process.execPath,
    [
      CLI,
      'serve',
      '--data-dir',
      dataDir,
      '--api-listen',
      `127.0.0.1:${apiPort}`,
      '--edge-listen',
      `127.0.0.1:${port}`,
      '--workers',
      '2',
      '--no-access-log',
    ],
    { logFile, env: cleanEnv({ GATEHOUSE_LOG_LEVEL: 'info' }), cwd: REPO_ROOT },
  );
  const [, apiUrl] = await waitForLog(child, /control plane listening on (https:\/\/[^\s()"]+)/i, {
    what: `Gatehouse ${name} API`,
    timeoutMs: 120_000,
  });
  await waitForLog(child, /edge listening on https?:\/\/\S+/i, {
    what: `Gatehouse ${name} edge`,
    timeoutMs: 120_000,
  });
  // No timeouts: re-signing a CRL of 100,000 entries takes minutes.
  const dispatcher = new Agent({ connect: { ca: rootCaPem }, headersTimeout: 0, bodyTimeout: 0 });
  const base = apiUrl.replace(/\/+$/, '');
  const api = async (method, path, body) => {
    const res = await request(
      `${base}${path.startsWith('/crl/') || path === '/metrics' ? '' : '/api/v1'}${path}`,
      {
        method,
        dispatcher,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        body: body ? JSON.stringify(body) : undefined,
      },
    );
    const buf = Buffer.from(await res.body.arrayBuffer());
    if (res.statusCode >= 300)
      throw new Error(`${method} ${path}: HTTP ${res.statusCode}: ${buf.toString().slice(0, 300)}`);
    return { status: res.statusCode, buf, json: () => JSON.parse(buf.toString()) };
  };
  return {
    name,
    label: `Gatehouse (${name})`,
    pid: child.pid,
    port,
    dataDir,
    logFile,
    seeded,
    seedSeconds,
    api,
    stop: async () => {
      await dispatcher.close();
      await stopServer(child);
    },
  };
}

/** The edge's "edge configuration reloaded" log lines (pino JSON) since `sinceMs`. */
function reloadsSince(gh, sinceMs) {
  return readFileSync(gh.logFile, 'utf8')
    .split('\n')
    .filter((l) => l.includes('edge configuration reloaded'))
    .map((l) => {
      try {
        return JSON.parse(l);
      } catch {
        return null;
      }
    })
    .filter((l) => l && l.time >= sinceMs);
}

/** Milliseconds one `loadSnapshot` (what each edge worker runs on a config change) takes here. */
async function reloadCost(gh, rounds = 1) {
  const { loadSnapshot } = await import('../dist/edge/loader.js');
  return withData(gh.dataDir, async ({ store, authority }) => {
    const times = [];
    for (let i = 0; i < rounds; i++) {
      const t = process.hrtime.bigint();
      await loadSnapshot(store, authority);
      times.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    return median(times);
  });
}

// ---- probes and load ------------------------------------------------------------------------

/** One request over a new mTLS connection: the HTTP status, or null (closed, refused). */
function probe({ port, serverName, cert, key }) {
  return new Promise((resolve) => {
    let response = '';
    const socket = connect({
      host: '127.0.0.1',
      port,
      servername: serverName,
      rejectUnauthorized: false, // only the status matters here
      ...(cert ? { cert, key } : {}),
    });
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      const m = response.match(/^HTTP\/1\.[01] (\d{3})/);
      resolve(m ? Number(m[1]) : null);
    };
    const timer = setTimeout(done, 5000);
    socket.on('secureConnect', () =>
      socket.write(`GET /probe HTTP/1.1\r\nHost: ${serverName}\r\nConnection: close\r\n\r\n`),
    );
    socket.on('data', (d) => {
      response += d.toString('latin1');
      if (response.includes('\r\n\r\n')) done();
    });
    socket.on('end', done);
    socket.on('error', done);
  });
}

/** Probe every `everyMs` until `want(status)`; returns ms since `sinceMs` or NaN on timeout. */
async function probeUntil(p, want, sinceMs, { everyMs = 20, timeoutMs = 240_000 } = {}) {
  while (Date.now() - sinceMs < timeoutMs) {
    const status = await probe(p);
    if (want(status)) return Date.now() - sinceMs;
    await sleep(everyMs);
  }
  return NaN;
}

/**
 * Server CPU per full mTLS handshake (wrk + shim, `Connection: close`, 32 connections), after a
 * 1 s warm-up; `client` is {cert,key} or {certList,keyList,listOffset}.
 */
async function handshakeCpu(ctx, stack, client, serverName, seconds = opts.seconds) {
  const w = {
    shim: ctx.shim,
    tmpDir: ctx.dir,
    port: stack.port,
    client,
    serverName,
    newConnectionEachRequest: true,
    connections: 32,
    threads: 2,
  };
  const stop = startCpuMeasurement({ server: stack.pid, origin: ctx.origin.pid });
  const r = await runWrk({ ...w, seconds });
  const cpu = stop();
  const bad = r.requests - (r.requests - r.non2xx);
  return {
    handshakes: r.handshakes,
    attempts: r.attempts,
    rate: r.handshakes / r.seconds,
    cpuPerHandshake: cpu.cpu.server / r.handshakes,
    serverCores: cpu.cpu.server / cpu.seconds,
    non2xx: bad,
    resumed: r.resumed,
  };
}

// ---- run 1: hostnames ---------------------------------------------------------------------

async function runHostnames(ctx) {
  const N = opts.hostnames;
  say(`hostnames: generating ${N} client CAs`);
  const cas = [];
  for (let i = 0; i < N; i += 32)
    cas.push(
      ...(await Promise.all(
        Array.from({ length: Math.min(32, N - i) }, (_, k) => makeCa(`Host CA ${i + k}`)),
      )),
    );
  const hostName = (i) => `h${i}.scale.gatehouse.test`;
  const seedHosts =
    (count) =>
    async ({ authority }) => {
      const { createServices } = await import('../dist/api/services.js');
      const { hostnames } = createServices(authority);
      for (let i = 0; i < count; i++) {
        const ca = await authority.uploadCa(
          { name: `host-ca-${i}`, certificatesPem: cas[i].certPem },
          'bench',
        );
        await hostnames.create(
          {
            hostname: hostName(i),
            origin: ctx.origin.url,
            client_auth: { mode: 'enforce', mtls_certificate_ids: [ca.id] },
          },
          'bench',
        );
      }
    };
  const one = await launchGatehouse(ctx.dir, '1-hostname', seedHosts(1));
  say(
    `hostnames: seeding ${N} hostnames (own CA each, org-issued server certificates) through the hostname service`,
  );
  const many = await launchGatehouse(ctx.dir, `${N}-hostnames`, seedHosts(N));
  say(`  seeded in ${many.seedSeconds.toFixed(1)} s`);
  // The client of the measured hostname: the last one created on the big instance.
  const target = [
    { gh: one, index: 0 },
    { gh: many, index: N - 1 },
  ];
  for (const t of target) {
    t.serverName = hostName(t.index);
    t.client = writePair(ctx.dir, `${t.gh.name}-client`, await makeClient(cas[t.index], `client-${t.index}`));
    const p = {
      port: t.gh.port,
      serverName: t.serverName,
      cert: readFileSync(t.client.cert),
      key: readFileSync(t.client.key),
    };
    const s = await probeUntil(p, (st) => st === 200, Date.now(), { timeoutMs: 30_000 });
    if (!Number.isFinite(s)) throw new Error(`${t.gh.label}: ${t.serverName} does not answer 200`);
    // A client of another hostname's CA must be refused (its CA is not this hostname's).
    if (t.gh === many) {
      const other = writePair(ctx.dir, 'other-client', await makeClient(cas[0], 'other'));
      const st = await probe({ ...p, cert: readFileSync(other.cert), key: readFileSync(other.key) });
      if (st === 200) throw new Error(`SECURITY: ${t.serverName} admitted a client of ${hostName(0)}'s CA`);
    }
  }
  say('hostnames: warm-up');
  for (const t of target) await handshakeCpu(ctx, t.gh, t.client, t.serverName, 3);
  const runs = [];
  for (let rep = 0; rep < opts.reps; rep++) {
    const order = rep % 2 ? [...target].reverse() : target;
    for (const t of order) {
      const r = await handshakeCpu(ctx, t.gh, t.client, t.serverName);
      say(
        `  ${t.gh.label} run ${rep + 1}: ${Math.round(r.rate)} hs/s, ${ms(r.cpuPerHandshake)} server CPU/handshake (load ${load()})`,
      );
      runs.push({ stack: t.gh.name, ...r });
    }
  }
  const memory = {};
  await sleep(2000);
  for (const t of target) {
    memory[t.gh.name] = { workers: workersMemory(t.gh.pid), tree: treeMemory(t.gh.pid) };
    say(
      `  ${t.gh.label}: edge workers ${mib(memory[t.gh.name].workers.pssKiB)} PSS, ${mib(memory[t.gh.name].workers.rssKiB)} RSS`,
    );
  }
  // Reload: a new hostname (own CA) through the API; until a client of it gets the origin's 200.
  const reloads = [];
  for (let rep = 0; rep < opts.reps; rep++) {
    for (const t of rep % 2 ? [...target].reverse() : target) {
      const i = N + 10 + rep; // fresh names, fresh CAs
      const ca = await makeCa(`Reload CA ${t.gh.name} ${rep}`);
      const client = await makeClient(ca, `reload-${rep}`);
      const tCa = Date.now();
      const caRes = await t.gh.api('POST', '/mtls_certificates', {
        name: `reload-${rep}`,
        certificates: ca.certPem,
        ca: true,
      });
      // Let the CA upload's own reload finish in both workers first.
      while (reloadsSince(t.gh, tCa).length < 2 && Date.now() - tCa < 300_000) await sleep(200);
      await sleep(500);
      const serverName = `r${i}.${t.gh.name}.scale.gatehouse.test`;
      const t0 = Date.now();
      await t.gh.api('POST', '/hostnames', {
        hostname: serverName,
        origin: ctx.origin.url,
        client_auth: { mode: 'enforce', mtls_certificate_ids: [caRes.json().result.id] },
      });
      const t1 = Date.now();
      const serveMs = await probeUntil(
        { port: t.gh.port, serverName, cert: client.certPem, key: client.keyPem },
        (st) => st === 200,
        t1,
        { everyMs: 10 },
      );
      const tWait = Date.now();
      while (reloadsSince(t.gh, t0).length < 2 && Date.now() - tWait < 300_000) await sleep(200);
      // Since the write started: a worker may finish reloading before the API's answer arrives.
      const logged = reloadsSince(t.gh, t0);
      const allWorkersMs = logged.length >= 2 ? Math.max(...logged.slice(0, 2).map((l) => l.time)) - t1 : NaN;
      reloads.push({ stack: t.gh.name, apiMs: t1 - t0, serveMs, allWorkersMs });
      say(
        `  ${t.gh.label} reload ${rep + 1}: API write ${t1 - t0} ms, then edge serving it after ${serveMs} ms ` +
          `(both workers reloaded after ${allWorkersMs} ms)`,
      );
    }
  }
  const compileMs = {};
  for (const t of target) compileMs[t.gh.name] = await reloadCost(t.gh);
  say(
    `  loadSnapshot in-process: ${target.map((t) => `${t.gh.name} ${compileMs[t.gh.name].toFixed(0)} ms`).join(', ')}`,
  );
  for (const t of target) await t.gh.stop();
  const summary = {};
  for (const t of target) {
    const n = t.gh.name;
    const mine = runs.filter((r) => r.stack === n);
    const rl = reloads.filter((r) => r.stack === n);
    summary[n] = {
      cpuPerHandshakeMs: median(mine.map((r) => r.cpuPerHandshake)) * 1e3,
      cpuRunsMs: mine.map((r) => +(r.cpuPerHandshake * 1e3).toFixed(3)),
      rate: median(mine.map((r) => r.rate)),
      workersPssMiB: memory[n].workers.pssKiB / 1024,
      workersRssMiB: memory[n].workers.rssKiB / 1024,
      primaryRssMiB: (memory[n].tree.root?.rssKiB ?? NaN) / 1024,
      reloadApiMs: median(rl.map((r) => r.apiMs)),
      reloadServeMs: median(rl.map((r) => r.serveMs)),
      reloadAllWorkersMs: median(rl.map((r) => r.allWorkersMs)),
      loadSnapshotMs: compileMs[n],
    };
  }
  return { N, seedSeconds: many.seedSeconds, runs, reloads, summary };
}

// ---- run 2: devices -----------------------------------------------------------------------

/**
 * Replays a connection sequence through the edge's own verdict cache (dist/edge/verify-client.js,
 * the function the edge calls once per connection) and counts misses: a hit returns the cached
 * entry, which carries `reuseUntilMs`; a miss returns a freshly computed verdict without it.
 */
async function replayVerdictCache(caPem, certPems, passes) {
  const { evaluateClientCertificate } = await import('../dist/edge/verify-client.js');
  const { parseCertificate } = await import('../dist/pki/index.js');
  const anchor = parseCertificate(caPem);
  const host = {
    anchors: [anchor],
    anchorsSelfSigned: true,
    intermediates: [],
    requiredPolicies: [],
    legacyAllowances: new Map(),
  };
  const snapshot = { version: 1, revoked: new Set(), crlDeadlines: new Map() };
  const peers = certPems.map((p) => new X509Certificate(p));
  const out = [];
  for (let pass = 0; pass < passes; pass++) {
    let misses = 0;
    let invalid = 0;
    const t = process.hrtime.bigint();
    for (const peer of peers) {
      const v = evaluateClientCertificate(snapshot, host, peer, () => [], true, new Date());
      if (!('reuseUntilMs' in v)) misses++;
      if (v.verdict.status !== 'valid') invalid++;
    }
    out.push({
      lookups: peers.length,
      misses,
      invalid,
      usPerLookup: Number(process.hrtime.bigint() - t) / 1e3 / peers.length,
    });
  }
  return out;
}

/**
 * Every miss is a full JS path validation (~10–25 ms here), so replaying all of a 20,000-device
 * fleet twice would take many minutes: replay two passes over just more devices than one
 * worker's verdict cache holds (SHARED_VERDICTS_PER_HOST = 4,096 in src/edge/verify-client.ts),
 * which is the same situation for an LRU: anything from 4,097 devices in turn up misses on every
 * connection.
 */
async function verdictReplay(fleet) {
  const sample = Math.min(fleet.count, 4_200);
  say(
    `devices: replaying ${sample} devices in turn, twice, through the edge's verdict cache (dist/edge/verify-client.js)`,
  );
  const pems = readFileSync(fleet.certsFile, 'utf8')
    .match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/g)
    .slice(0, sample);
  const replayDistinct = await replayVerdictCache(fleet.caPem, pems, 2);
  const replayOne = await replayVerdictCache(fleet.caPem, Array(sample).fill(pems[0]), 1);
  say(
    `  misses: distinct ${replayDistinct.map((p) => `${p.misses}/${p.lookups} (${p.usPerLookup.toFixed(0)} µs per lookup)`).join(', then ')}; one certificate ${replayOne[0].misses}/${replayOne[0].lookups} (${replayOne[0].usPerLookup.toFixed(1)} µs)`,
  );
  return { sample, replayDistinct, replayOne };
}

async function runVerdicts() {
  return verdictReplay(await deviceFleet(opts.devices, say));
}

async function runDevices(ctx) {
  const N = opts.devices;
  say(`devices: ${N} client certificates from one CA (each its own key)`);
  const fleet = await deviceFleet(N, say);
  const serverName = 'devices.scale.gatehouse.test';
  const gh = await launchGatehouse(ctx.dir, 'devices', async ({ authority }) => {
    const { createServices } = await import('../dist/api/services.js');
    const ca = await authority.uploadCa({ name: 'devices', certificatesPem: fleet.caPem }, 'bench');
    await createServices(authority).hostnames.create(
      {
        hostname: serverName,
        origin: ctx.origin.url,
        client_auth: { mode: 'enforce', mtls_certificate_ids: [ca.id] },
      },
      'bench',
    );
  });
  const single = { cert: fleet.first.cert, key: fleet.first.key };
  const p = { port: gh.port, serverName, cert: readFileSync(single.cert), key: readFileSync(single.key) };
  if (!Number.isFinite(await probeUntil(p, (s) => s === 200, Date.now(), { timeoutMs: 30_000 })))
    throw new Error('devices: the edge does not serve the device hostname');
  let offset = 1; // certificate 0 is the single-certificate client
  const distinct = () => ({ certList: fleet.certsFile, keyList: fleet.keysFile, listOffset: offset });
  say('devices: warm-up (one certificate)');
  await handshakeCpu(ctx, gh, single, serverName, 3);
  await sleep(2000);
  const memBase = workersMemory(gh.pid);
  say(`  one certificate: edge workers ${mib(memBase.pssKiB)} PSS, ${mib(memBase.rssKiB)} RSS`);
  const runs = [];
  for (let rep = 0; rep < opts.reps; rep++) {
    for (const kind of rep % 2 ? ['distinct', 'one'] : ['one', 'distinct']) {
      const r = await handshakeCpu(ctx, gh, kind === 'one' ? single : distinct(), serverName);
      if (kind === 'distinct') offset += r.attempts;
      say(
        `  ${kind} certificate(s) run ${rep + 1}: ${Math.round(r.rate)} hs/s, ${ms(r.cpuPerHandshake)} server CPU/handshake, ${r.non2xx} non-2xx (load ${load()})`,
      );
      runs.push({ kind, ...r });
    }
  }
  // Then present the rest of the fleet, so that every certificate has connected once.
  const memPoints = [{ certificatesSeen: offset, ...workersMemory(gh.pid) }];
  const coverUntil = Date.now() + 300_000;
  while (offset < N && Date.now() < coverUntil) {
    const r = await handshakeCpu(ctx, gh, distinct(), serverName, 15);
    offset += r.attempts;
    const m = workersMemory(gh.pid);
    memPoints.push({ certificatesSeen: Math.min(offset, N), ...m });
    say(
      `  covering the fleet: ${Math.min(offset, N)}/${N} certificates seen, workers ${mib(m.pssKiB)} PSS, ${ms(r.cpuPerHandshake)}/handshake`,
    );
  }
  await sleep(2000);
  const memAll = workersMemory(gh.pid);
  await gh.stop();
  const { replayDistinct, replayOne } = await verdictReplay(fleet);
  const one = runs.filter((r) => r.kind === 'one');
  const dist = runs.filter((r) => r.kind === 'distinct');
  return {
    N,
    runs,
    memPoints: memPoints.map((m) => ({
      certificatesSeen: m.certificatesSeen,
      pssMiB: m.pssKiB / 1024,
      rssMiB: m.rssKiB / 1024,
    })),
    summary: {
      oneCpuMs: median(one.map((r) => r.cpuPerHandshake)) * 1e3,
      distinctCpuMs: median(dist.map((r) => r.cpuPerHandshake)) * 1e3,
      oneRunsMs: one.map((r) => +(r.cpuPerHandshake * 1e3).toFixed(3)),
      distinctRunsMs: dist.map((r) => +(r.cpuPerHandshake * 1e3).toFixed(3)),
      workersPssBaseMiB: memBase.pssKiB / 1024,
      workersPssAllMiB: memAll.pssKiB / 1024,
      workersRssBaseMiB: memBase.rssKiB / 1024,
      workersRssAllMiB: memAll.rssKiB / 1024,
      certificatesSeen: Math.min(offset, N),
      replayDistinct,
      replayOne,
    },
  };
}

// ---- run 3: idle keep-alive connections ----------------------------------------------------

/** Opens `count` keep-alive mTLS connections in a child process (bench/lib/idle-client.mjs). */
function startIdleClient({ port, serverName, cert, key, count }) {
  const script = join(REPO_ROOT, 'bench', 'lib', 'idle-client.mjs');
  const child = spawn(
    'sh',
    [
      '-c',
      `ulimit -n ${FD_LIMIT} && exec "$0" "$@"`,
      process.execPath,
      script,
      JSON.stringify({ port, serverName, cert, key, count }),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const state = { open: 0, failed: 0, closed: 0, done: false, child };
  let buf = '';
  child.stdout.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        Object.assign(state, JSON.parse(line));
      } catch {
        // not ours
      }
    }
  });
  state.exited = new Promise((resolve) => child.on('exit', resolve));
  return state;
}

async function idleOnStack(ctx, stack, client, serverName, count) {
  await sleep(1500);
  const before = treeMemory(stack.pid);
  const c = startIdleClient({ port: stack.port, serverName, cert: client.cert, key: client.key, count });
  const points = [{ open: 0, pssKiB: before.pssKiB, rssKiB: before.rssKiB }];
  const t0 = Date.now();
  let nextPoint = count / 4;
  while (!c.done && Date.now() - t0 < 600_000) {
    await sleep(500);
    if (c.open >= nextPoint) {
      const m = treeMemory(stack.pid);
      points.push({ open: c.open, pssKiB: m.pssKiB, rssKiB: m.rssKiB });
      nextPoint += count / 4;
    }
  }
  const openSeconds = (Date.now() - t0) / 1000;
  await sleep(5000); // settle (both sides idle; Gatehouse's keep-alive is 30 s, the client pings every 20 s)
  const after = treeMemory(stack.pid);
  const openAtEnd = c.open - c.closed;
  points.push({ open: openAtEnd, pssKiB: after.pssKiB, rssKiB: after.rssKiB });
  c.child.kill('SIGTERM');
  await c.exited;
  const perConnKiB = (after.pssKiB - before.pssKiB) / openAtEnd;
  say(
    `  ${stack.label}: ${openAtEnd}/${count} open (${c.failed} failed, ${c.closed} closed by the server) after ${openSeconds.toFixed(0)} s; ` +
      `tree PSS ${mib(before.pssKiB)} → ${mib(after.pssKiB)}: ${perConnKiB.toFixed(1)} KiB per connection`,
  );
  return {
    stack: stack.name,
    count,
    open: openAtEnd,
    failed: c.failed,
    closedByServer: c.closed,
    openSeconds,
    before: { pssKiB: before.pssKiB, rssKiB: before.rssKiB },
    after: { pssKiB: after.pssKiB, rssKiB: after.rssKiB, perProcess: [after.root, ...after.children] },
    perConnPssKiB: perConnKiB,
    perConnRssKiB: (after.rssKiB - before.rssKiB) / openAtEnd,
    points,
  };
}

async function runIdle(ctx) {
  const N = opts.idle;
  const { certs } = ctx;
  const client = { cert: certs.clientCert, key: certs.clientKey };
  const results = [];
  for (const which of ['nginx', 'gatehouse']) {
    let stack;
    if (which === 'nginx') {
      stack = await startNginxEdge(ctx.dir, {
        port: await freePort(),
        originPort: ctx.originPort,
        certs,
        opensslConf: ctx.opensslConf,
        workerConnections: FD_LIMIT,
        wrap: (command, args, spawnOpts) => spawnWithFdLimit(command, args, spawnOpts),
      });
    } else {
      stack = await launchGatehouse(ctx.dir, 'idle', async ({ authority }) => {
        const { createServices } = await import('../dist/api/services.js');
        const ca = await authority.uploadCa({ name: 'bench', certificatesPem: certs.pem.clientCa }, 'bench');
        await createServices(authority).hostnames.create(
          {
            hostname: SERVER_NAME,
            origin: ctx.origin.url,
            tls: { certificate: certs.pem.serverChain, private_key: certs.pem.serverKey },
            client_auth: { mode: 'enforce', mtls_certificate_ids: [ca.id] },
          },
          'bench',
        );
      });
    }
    const p = {
      port: stack.port,
      serverName: SERVER_NAME,
      cert: readFileSync(client.cert),
      key: readFileSync(client.key),
    };
    if (!Number.isFinite(await probeUntil(p, (s) => s === 200, Date.now(), { timeoutMs: 30_000 })))
      throw new Error(`idle: ${stack.label} does not serve ${SERVER_NAME}`);
    say(`idle: ${N} keep-alive connections to ${stack.label}`);
    results.push(await idleOnStack(ctx, stack, client, SERVER_NAME, N));
    await stack.stop();
    await sleep(2000);
  }
  return { N, results };
}

// ---- run 4: revocations -------------------------------------------------------------------

async function runRevocations(ctx) {
  const N = opts.revoked;
  const serverName = 'revoke.scale.gatehouse.test';
  const clientsPerInstance = opts.reps + 1;
  const seed =
    (revoked) =>
    async ({ authority, store }) => {
      const { createServices } = await import('../dist/api/services.js');
      const { ORG_CA_ID } = await import('../dist/authority/index.js');
      await createServices(authority).hostnames.create(
        {
          hostname: serverName,
          origin: ctx.origin.url,
          client_auth: { mode: 'enforce', mtls_certificate_ids: [ORG_CA_ID] },
        },
        'bench',
      );
      // Real client certificates from the org CA, through the authority (what the API does).
      const clients = [];
      for (let i = 0; i < clientsPerInstance; i++) {
        const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
        const row = await authority.issueFromPublicKey(
          { publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }), validityDays: 30 },
          'bench',
        );
        clients.push({
          id: row.id,
          cert: row.certificate_pem,
          key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
        });
      }
      // N revoked certificates, written straight into client_certificates (the API would issue
      // and revoke each one, re-signing the whole CRL every time: O(N²)). Only the columns the
      // edge and the CRL read matter; the PEM is a placeholder.
      const t0 = Date.now();
      const now = new Date();
      const notAfter = new Date(now.getTime() + 30 * 86_400_000).toISOString();
      for (let i = 0; i < revoked; i += 10_000) {
        await store.transaction(async (tx) => {
          for (let k = i; k < Math.min(revoked, i + 10_000); k++) {
            const serial = randomBytes(16);
            serial[0] = (serial[0] & 0x3f) | 0x10;
            await tx.clientCertificates.insert({
              id: randomUUID(),
              ca_id: ORG_CA_ID,
              serial_number: serial.toString('hex'),
              fingerprint_sha256: randomBytes(32).toString('hex'),
              ski: randomBytes(20).toString('hex'),
              subject: `O=Bench, CN=seed-${k}`,
              common_name: `seed-${k}`,
              certificate_pem: '(seeded by bench/scale.mjs)',
              not_before: now.toISOString(),
              not_after: notAfter,
              status: 'revoked',
              revoked_at: new Date(now.getTime() - (revoked - k) * 1000).toISOString(),
              revocation_reason: 'keyCompromise',
              created_at: now.toISOString(),
            });
          }
          await tx.configVersion.bump();
        });
      }
      return { clients, ORG_CA_ID, seedMs: Date.now() - t0 };
    };
  const instances = [];
  for (const n of [0, N]) {
    say(`revocations: instance with ${n} revoked certificates${n ? ' (seeded through the store)' : ''}`);
    const gh = await launchGatehouse(ctx.dir, `${n}-revoked`, seed(n));
    if (n) say(`  seeded in ${(gh.seeded.seedMs / 1000).toFixed(1)} s`);
    instances.push({ n, gh });
  }
  for (const { gh } of instances) {
    for (const c of gh.seeded.clients) {
      const st = await probeUntil(
        { port: gh.port, serverName, cert: c.cert, key: c.key },
        (s) => s === 200,
        Date.now(),
        { timeoutMs: 30_000 },
      );
      if (!Number.isFinite(st)) throw new Error(`revocations: ${gh.label} does not admit its client`);
    }
  }
  // The seeded revocations reach the stored CRL with the first revocation, which re-signs it.
  // Re-signing is O(revoked) and slow (see the doc), so the large instance is measured once.
  const revocations = [];
  for (let rep = 1; rep <= opts.reps; rep++) {
    for (const { n, gh } of rep % 2 ? instances : [...instances].reverse()) {
      if (n > 10_000 && rep > 1) continue;
      const c = gh.seeded.clients[rep];
      const t0 = Date.now();
      await gh.api('DELETE', `/client_certificates/${c.id}`);
      const t1 = Date.now();
      const refusedMs = await probeUntil(
        { port: gh.port, serverName, cert: c.cert, key: c.key },
        (s) => s !== 200,
        t1,
        { everyMs: 10 },
      );
      await sleep(Math.max(3000, refusedMs * 2));
      const logged = reloadsSince(gh, t0);
      const allWorkersMs = logged.length >= 2 ? Math.max(...logged.slice(0, 2).map((l) => l.time)) - t1 : NaN;
      revocations.push({ n, apiMs: t1 - t0, refusedMs, allWorkersMs });
      say(
        `  ${n} revoked, revocation ${rep}: API ${t1 - t0} ms, edge refuses after ${refusedMs} ms more (both workers reloaded after ${allWorkersMs} ms)`,
      );
    }
  }
  const crl = [];
  for (const { n, gh } of instances) {
    const times = [];
    let size = 0;
    for (let i = 0; i < 5; i++) {
      const t = process.hrtime.bigint();
      const r = await gh.api('GET', `/crl/${gh.seeded.ORG_CA_ID}.crl`);
      times.push(Number(process.hrtime.bigint() - t) / 1e6);
      size = r.buf.length;
      if (r.buf[0] !== 0x30)
        throw new Error(`GET /crl/…: not a DER CRL (${r.buf.subarray(0, 40).toString()})`);
    }
    crl.push({ n, bytes: size, fetchMs: median(times), times });
    say(
      `  CRL with ${n} (+${opts.reps + 1}) entries: ${size} bytes, fetched in ${median(times).toFixed(1)} ms (median of 5)`,
    );
  }
  const memory = {};
  const loadMs = {};
  for (const { n, gh } of instances) {
    memory[n] = workersMemory(gh.pid);
    loadMs[n] = await reloadCost(gh);
    say(
      `  ${n} revoked: edge workers ${mib(memory[n].pssKiB)} PSS, loadSnapshot ${loadMs[n].toFixed(0)} ms in-process`,
    );
  }
  for (const { gh } of instances) await gh.stop();
  const summary = {};
  for (const { n } of instances) {
    const mine = revocations.filter((r) => r.n === n);
    summary[n] = {
      apiMs: median(mine.map((r) => r.apiMs)),
      refusedMs: median(mine.map((r) => r.refusedMs)),
      allWorkersMs: median(mine.map((r) => r.allWorkersMs)),
      crlBytes: crl.find((c) => c.n === n).bytes,
      crlFetchMs: crl.find((c) => c.n === n).fetchMs,
      workersPssMiB: memory[n].pssKiB / 1024,
      workersRssMiB: memory[n].rssKiB / 1024,
      loadSnapshotMs: loadMs[n],
    };
  }
  return { N, seedSeconds: instances[1].gh.seeded.seedMs / 1000, revocations, crl, summary };
}

// ---- main -----------------------------------------------------------------------------------

function printSummary(results) {
  const lines = [];
  const f = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '—');
  if (results.hostnames) {
    const { N, summary: s } = results.hostnames;
    const a = s['1-hostname'];
    const b = s[`${N}-hostnames`];
    lines.push(
      `\n### hostnames: 1 vs ${N} (each its own CA)\n`,
      `| figure | 1 hostname | ${N} hostnames | ratio |`,
      '| --- | ---: | ---: | ---: |',
      `| server CPU per full handshake (median) | ${f(a.cpuPerHandshakeMs)} ms | ${f(b.cpuPerHandshakeMs)} ms | ${f(b.cpuPerHandshakeMs / a.cpuPerHandshakeMs)}× |`,
      `| edge workers PSS (2 workers) | ${f(a.workersPssMiB, 1)} MiB | ${f(b.workersPssMiB, 1)} MiB | +${f(((b.workersPssMiB - a.workersPssMiB) / (N - 1)) * 1024, 1)} KiB/hostname |`,
      `| reload: API write (create hostname) | ${f(a.reloadApiMs, 0)} ms | ${f(b.reloadApiMs, 0)} ms | |`,
      `| reload: write answered → edge serves it | ${f(a.reloadServeMs, 0)} ms | ${f(b.reloadServeMs, 0)} ms | |`,
      `| reload: write answered → both workers logged the reload | ${f(a.reloadAllWorkersMs, 0)} ms | ${f(b.reloadAllWorkersMs, 0)} ms | |`,
      `| one loadSnapshot in-process | ${f(a.loadSnapshotMs, 0)} ms | ${f(b.loadSnapshotMs, 0)} ms | ${f(b.loadSnapshotMs / a.loadSnapshotMs, 1)}× |`,
      `\nCPU runs (ms): 1: ${a.cpuRunsMs.join(', ')}; ${N}: ${b.cpuRunsMs.join(', ')}`,
    );
  }
  if (results.devices) {
    const { N, summary: s, memPoints } = results.devices;
    lines.push(
      `\n### devices: ${N} distinct certificates in turn vs 1\n`,
      '| figure | 1 certificate | distinct certificates | ratio |',
      '| --- | ---: | ---: | ---: |',
      `| server CPU per full handshake (median) | ${f(s.oneCpuMs)} ms | ${f(s.distinctCpuMs)} ms | ${f(s.distinctCpuMs / s.oneCpuMs)}× |`,
      `| edge workers PSS | ${f(s.workersPssBaseMiB, 1)} MiB | ${f(s.workersPssAllMiB, 1)} MiB (after ${s.certificatesSeen} certificates) | |`,
      `| verdict-cache misses (replay, per pass of ${s.replayOne[0].lookups}) | ${s.replayOne[0].misses} | ${s.replayDistinct.map((p) => `${p.misses}`).join(', then ')} | |`,
      `| µs per verdict lookup in-process (replay) | ${f(s.replayOne[0].usPerLookup, 1)} | ${s.replayDistinct.map((p) => f(p.usPerLookup, 1)).join(', ')} | |`,
      `\nCPU runs (ms): one: ${s.oneRunsMs.join(', ')}; distinct: ${s.distinctRunsMs.join(', ')}`,
      `Memory as the fleet connects: ${memPoints.map((m) => `${m.certificatesSeen}: ${m.pssMiB.toFixed(1)} MiB`).join(', ')}`,
    );
  }
  if (results.idle) {
    const { N, results: rs } = results.idle;
    lines.push(
      `\n### idle: ${N} keep-alive mTLS connections\n`,
      '| stack | open | PSS before | PSS after | per connection (PSS) | per connection (RSS) |',
      '| --- | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const r of rs)
      lines.push(
        `| ${r.stack} | ${r.open} | ${mib(r.before.pssKiB)} | ${mib(r.after.pssKiB)} | ${f(r.perConnPssKiB, 1)} KiB | ${f(r.perConnRssKiB, 1)} KiB |`,
      );
    for (const r of rs)
      lines.push(
        `${r.stack} points (open: PSS MiB): ${r.points.map((p) => `${p.open}: ${(p.pssKiB / 1024).toFixed(1)}`).join(', ')}`,
      );
  }
  if (results.revocations) {
    const { N, summary: s } = results.revocations;
    const a = s[0];
    const b = s[N];
    lines.push(
      `\n### revocations: 0 vs ${N} revoked\n`,
      `| figure | 0 revoked | ${N} revoked | ratio |`,
      '| --- | ---: | ---: | ---: |',
      `| revocation API call (marks revoked, re-signs the CRL) | ${f(a.apiMs, 0)} ms | ${f(b.apiMs, 0)} ms | ${f(b.apiMs / a.apiMs, 1)}× |`,
      `| API answered → the edge refuses the certificate | ${f(a.refusedMs, 0)} ms | ${f(b.refusedMs, 0)} ms | |`,
      `| API answered → both workers logged the reload | ${f(a.allWorkersMs, 0)} ms | ${f(b.allWorkersMs, 0)} ms | |`,
      `| CRL size | ${a.crlBytes} B | ${b.crlBytes} B | |`,
      `| CRL fetch (GET /crl/<id>.crl, median of 5) | ${f(a.crlFetchMs, 1)} ms | ${f(b.crlFetchMs, 1)} ms | |`,
      `| edge workers PSS | ${f(a.workersPssMiB, 1)} MiB | ${f(b.workersPssMiB, 1)} MiB | |`,
      `| one loadSnapshot in-process | ${f(a.loadSnapshotMs, 0)} ms | ${f(b.loadSnapshotMs, 0)} ms | |`,
    );
  }
  console.log(lines.join('\n'));
}

async function main() {
  installCleanup({ keepTemp: o['keep-temp'] });
  ensureBenchDeps();
  const code = buildIfNeeded({ log: say });
  if (code !== 0) say(`WARNING: npm run build failed (exit ${code}); using dist/ as emitted`);
  const dir = makeTempDir('gatehouse-bench-scale-');
  const certs = generateCertificates(dir);
  const shim = buildShim(dir);
  const { writeNoTicketsConf } = await import('./lib/openssl-conf.mjs');
  const opensslConf = writeNoTicketsConf(dir);
  const originPort = await freePort();
  const origin = await startOrigin(dir, originPort);
  const ctx = { dir, certs, shim, origin, originPort, opensslConf };
  const results = {
    date: new Date().toISOString(),
    node: process.version,
    loadAverageStart: loadavg(),
    options: opts,
  };
  const runners = {
    hostnames: runHostnames,
    devices: runDevices,
    idle: runIdle,
    revocations: runRevocations,
    verdicts: runVerdicts,
  };
  for (const r of opts.runs) {
    say(`=== ${r} (load average ${load()})`);
    const t = Date.now();
    results[r] = await runners[r](ctx);
    results[r].seconds = (Date.now() - t) / 1000;
    results[r].loadAverageEnd = loadavg();
  }
  results.loadAverageEnd = loadavg();
  await stopAll();
  printSummary(results);
  console.log(
    `\nload average at start ${results.loadAverageStart.map((l) => l.toFixed(1)).join(' ')}, at end ${load()}`,
  );
  if (o.json) {
    writeFileSync(o.json, JSON.stringify(results, null, 2));
    say(`raw results: ${o.json}`);
  }
}

main().catch(async (err) => {
  console.error(`[bench:scale] ${err.stack ?? err.message}`);
  await stopAll();
  process.exit(1);
});
