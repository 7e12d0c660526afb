// The Gatehouse stack: `gatehouse serve` with its edge, configured through the admin API the way
// an operator would (upload the client CA, create the hostname in enforce mode).
//
// The whole `serve` process tree is measured: the API sits idle during the measurements, and
// the edge's own config polling is part of what a production edge costs anyway.

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { buildIfNeeded, REPO_ROOT } from '../../scripts/build-if-needed.mjs';
import { SERVER_NAME } from '../lib/certs.mjs';
import { probe } from '../lib/probe.mjs';
import { spawnServer, stopServer, waitForLog } from '../lib/procs.mjs';

const CLI = join(REPO_ROOT, 'dist', 'cli', 'main.js');
const CONFIG_TIMEOUT_MS = 15000; // the contract says changes reach the edge within 1 s

// Settings of the developer's shell that would point Gatehouse elsewhere than our temp dir.
function cleanEnv(extra = {}) {
  const env = { ...process.env, ...extra };
  delete env.GATEHOUSE_DATABASE_URL;
  delete env.GATEHOUSE_MASTER_KEY;
  return env;
}

/**
 * Can the Gatehouse stack run from this checkout? Builds dist/ if stale.
 * @returns {{ ok: true, hasNoAccessLog: boolean, buildWarning?: string } | { ok: false, reason: string }}
 */
export function gatehouseAvailability(log) {
  if (!existsSync(join(REPO_ROOT, 'src', 'edge')))
    return { ok: false, reason: 'src/edge/ does not exist yet' };
  let code;
  try {
    code = buildIfNeeded({ log });
  } catch (err) {
    return { ok: false, reason: `build could not run: ${err.message}` };
  }
  if (!existsSync(CLI)) return { ok: false, reason: 'dist/cli/main.js missing after the build' };
  // Others edit src/ while we run: tsc still emits on type errors, so a failed build usually
  // leaves a runnable dist/. Measure it, but say so in the report.
  const buildWarning =
    code === 0 ? undefined : `npm run build failed (exit ${code}); measured dist/ as emitted`;
  const help = spawnSync(process.execPath, [CLI, 'serve', '--help'], { encoding: 'utf8', env: cleanEnv() });
  const helpText = `${help.stdout}${help.stderr}`;
  if (!/--edge-listen/.test(helpText)) {
    return { ok: false, reason: '`gatehouse serve` has no --edge-listen option yet (edge not wired in)' };
  }
  return { ok: true, hasNoAccessLog: /--no-access-log/.test(helpText), buildWarning };
}

export function gatehouseVersion() {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8'));
  const git = (args) => spawnSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8' }).stdout?.trim() ?? '';
  const commit = git(['rev-parse', '--short', 'HEAD']);
  const dirty = git(['status', '--porcelain', '--', 'src']) ? '+uncommitted src changes' : '';
  return `${pkg.version} (${commit}${dirty ? ` ${dirty}` : ''})`;
}

function init(dataDir, apiPort) {
  const r = spawnSync(
    process.execPath,
    [CLI, 'init', '--data-dir', dataDir, '--org', 'Bench', '--api-listen', `127.0.0.1:${apiPort}`, '--json'],
    { encoding: 'utf8', env: cleanEnv() },
  );
  if (r.status !== 0) throw new Error(`gatehouse init failed (${r.status}):\n${r.stderr}${r.stdout}`);
  return JSON.parse(r.stdout);
}

async function api(base, token, dispatcher, method, path, body) {
  const res = await request(`${base}/api/v1${path}`, {
    method,
    dispatcher,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.body.text();
  if (res.statusCode >= 300) throw new Error(`${method} ${path}: HTTP ${res.statusCode}: ${text}`);
  return JSON.parse(text);
}

async function configure({ apiUrl, token, rootCaPem, originUrl, certs }) {
  const dispatcher = new Agent({ connect: { ca: rootCaPem } });
  try {
    const ca = await api(apiUrl, token, dispatcher, 'POST', '/mtls_certificates', {
      name: 'bench',
      certificates: certs.pem.clientCa,
      ca: true,
    });
    await api(apiUrl, token, dispatcher, 'POST', '/hostnames', {
      hostname: SERVER_NAME,
      origin: originUrl,
      tls: { certificate: certs.pem.serverChain, private_key: certs.pem.serverKey },
      client_auth: { mode: 'enforce', mtls_certificate_ids: [ca.result.id] },
    });
  } finally {
    await dispatcher.close();
  }
}

/** Poll until a legitimate client gets the origin's 200 through the edge. */
async function waitForHostname(port, certs) {
  const deadline = Date.now() + CONFIG_TIMEOUT_MS;
  let last;
  while (Date.now() < deadline) {
    last = await probe({
      port,
      certFile: certs.clientCert,
      keyFile: certs.clientKey,
      serverCaFile: certs.serverCaCert,
    });
    if (last.status === 200) return;
    await sleep(200);
  }
  throw new Error(
    `the edge did not serve ${SERVER_NAME} within ${CONFIG_TIMEOUT_MS} ms (last: ${last?.status ?? last?.error})`,
  );
}

export async function startGatehouse(
  dir,
  { port, apiPort, originUrl, certs, workers = 2, noAccessLog = false, buildWarning, nodeArgs = [] },
) {
  const dataDir = join(dir, 'gatehouse-data');
  const { admin_token: token, root_ca_pem: rootCaPem } = init(dataDir, apiPort);
  const child = spawnServer(
    process.execPath,
    [
      ...nodeArgs, // the edge workers inherit them (bench/edge-cpu.mjs: --perf-basic-prof)
      CLI,
      'serve',
      '--data-dir',
      dataDir,
      '--api-listen',
      `127.0.0.1:${apiPort}`,
      '--edge-listen',
      `127.0.0.1:${port}`,
      '--workers',
      String(workers),
      ...(noAccessLog ? ['--no-access-log'] : []),
    ],
    // Per-request logs would be a cost nginx (access_log off) and bare Node do not pay: access
    // log off where the CLI has the switch, and below info level in any case.
    { logFile: join(dir, 'gatehouse.log'), env: cleanEnv({ GATEHOUSE_LOG_LEVEL: 'warn' }), cwd: REPO_ROOT },
  );
  const [, apiUrl] = await waitForLog(child, /control plane listening on (https:\/\/[^\s()]+)/i, {
    what: 'Gatehouse API',
  });
  await waitForLog(child, /edge listening on https?:\/\/\S+/i, { what: 'Gatehouse edge' });
  await configure({ apiUrl: apiUrl.replace(/\/+$/, ''), token, rootCaPem, originUrl, certs });
  await waitForHostname(port, certs);
  return {
    name: 'gatehouse',
    label: 'Gatehouse',
    pid: child.pid,
    port,
    version: `Gatehouse ${gatehouseVersion()} on Node ${process.version}`,
    config:
      `gatehouse serve --workers ${workers} (API idle, edge)${noAccessLog ? ' --no-access-log' : ''}, ` +
      `enforce mode, log level warn${buildWarning ? ` (WARNING: ${buildWarning})` : ''}`,
    stop: () => stopServer(child),
  };
}
