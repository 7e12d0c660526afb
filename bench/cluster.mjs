// `npm run bench -- cluster` — what one PostgreSQL carries: client-certificate issuances/s and
// revocations/s through the API of 1 and then 3 `gatehouse serve` nodes on one database (a
// throwaway cluster of its own). Writes are spread round robin over the nodes by a fixed number
// of concurrent clients. Revocations are serialized per CA (each re-signs the CRL under the CA's
// lock), so they show the cost of that; issuances are not serialized.
//
//   npm run bench -- cluster                       5 s per measurement, 16 concurrent clients
//   node bench/cluster.mjs --seconds 10 --concurrency 32 --nodes 1,3
//
// Needs the build (dist/), PostgreSQL's server binaries and openssl. Talks to loopback only.

import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startPostgresCluster } from '../scripts/postgres-cluster.mjs';
import { installCleanup, logTail, makeTempDir, spawnServer, stopServer, waitForLog } from './lib/procs.mjs';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const say = (msg) => console.error(`[cluster] ${msg}`);

const { values: o } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== 'cluster'),
  options: {
    seconds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '16' },
    nodes: { type: 'string', default: '1,3' },
  },
  strict: false,
});
const seconds = Number(o.seconds);
const concurrency = Number(o.concurrency);
const nodeCounts = String(o.nodes).split(',').map(Number);
const maxNodes = Math.max(...nodeCounts);

installCleanup();
const dir = makeTempDir('gatehouse-bench-cluster-');
const pg = await startPostgresCluster({ log: say });
process.on('exit', () => pg.stopSync());
const env = { GATEHOUSE_DATABASE_URL: pg.url, GATEHOUSE_MASTER_KEY: randomBytes(32).toString('hex') };
const cli = (args) =>
  execFileSync(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } }).toString();

const init = JSON.parse(
  cli(['init', '--data-dir', join(dir, 'node1'), '--org', 'Bench Org', '--san', '127.0.0.1', '--json']),
);
for (let i = 2; i <= maxNodes; i++) cli(['join', '--data-dir', join(dir, `node${i}`), '--json']);
// One CSR for every issuance (the benchmark measures signing and storing, not key generation).
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
writeFileSync(join(dir, 'c.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
execFileSync('openssl', ['req', '-new', '-key', 'c.key', '-subj', '/CN=bench', '-out', 'c.csr'], {
  cwd: dir,
});
const csr = readFileSync(join(dir, 'c.csr'), 'utf8');
const agent = new https.Agent({ keepAlive: true, maxSockets: concurrency, ca: init.root_ca_pem });

function call(base, method, path, body) {
  return new Promise((resolve, reject) => {
    const req = https.request(
      `${base}${path}`,
      {
        method,
        agent,
        headers: {
          authorization: `Bearer ${init.admin_token}`,
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
      },
      (res) => {
        let data = '';
        res.on('data', (d) => (data += d));
        res.on('end', () => resolve({ status: res.statusCode, json: data ? JSON.parse(data) : null }));
      },
    );
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

/** `concurrency` clients doing `op(i)` round robin over the nodes for `seconds` (or until done). */
async function measure(urls, op, limit = Infinity) {
  let next = 0;
  let ok = 0;
  let failed = 0;
  const end = Date.now() + seconds * 1000;
  const start = Date.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < end && next < limit) {
        const i = next++;
        const r = await op(urls[i % urls.length], i).catch(() => ({ status: 0 }));
        if (r.status >= 200 && r.status < 300) ok++;
        else failed++;
      }
    }),
  );
  return { ok, failed, perSecond: ok / ((Date.now() - start) / 1000) };
}

const rows = [];
for (const count of nodeCounts) {
  const servers = [];
  for (let i = 1; i <= count; i++) {
    const child = spawnServer(
      process.execPath,
      [
        CLI,
        'serve',
        '--data-dir',
        join(dir, `node${i}`),
        '--api-listen',
        '127.0.0.1:0',
        '--edge-listen',
        '127.0.0.1:0',
        '--workers',
        '1',
        '--no-access-log',
      ],
      { logFile: join(dir, `node${i}-${count}.log`), env: { ...env, GATEHOUSE_LOG_LEVEL: 'warn' } },
    );
    const m = await waitForLog(child, /control plane listening on (https:\/\/\S+?)\s/, {
      what: `node ${i}`,
      timeoutMs: 60_000,
    });
    servers.push({ child, url: m[1] });
  }
  const urls = servers.map((s) => s.url);
  say(`${count} node(s): issuing for ${seconds} s with ${concurrency} clients…`);
  const issued = [];
  const issuance = await measure(urls, async (base) => {
    const r = await call(base, 'POST', '/api/v1/client_certificates', { csr, validity_days: 30 });
    if (r.status === 201) issued.push(r.json.result.id);
    return r;
  });
  say(`${count} node(s): revoking for ${seconds} s…`);
  const revocation = await measure(
    urls,
    (base, i) => call(base, 'DELETE', `/api/v1/client_certificates/${issued[i]}`),
    issued.length,
  );
  for (const s of servers) await stopServer(s.child);
  if (issuance.failed + revocation.failed > 0) {
    say(
      `failures: ${issuance.failed} issuances, ${revocation.failed} revocations\n${logTail(servers[0].child)}`,
    );
  }
  rows.push({ count, issuance, revocation });
}

console.log('\n| nodes | issuances/s | revocations/s | failed |');
console.log('| ----: | ----------: | ------------: | -----: |');
for (const r of rows) {
  console.log(
    `| ${r.count} | ${r.issuance.perSecond.toFixed(1)} | ${r.revocation.perSecond.toFixed(1)} | ${r.issuance.failed + r.revocation.failed} |`,
  );
}
console.log(`\n${concurrency} concurrent clients, ${seconds} s per measurement, one edge worker per node.`);
agent.destroy();
await pg.stop();
process.exit(0);
