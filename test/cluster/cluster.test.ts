// Gatehouse as a cluster: three real `gatehouse serve` nodes (each its own API and edge port, one
// edge worker each to spare the CPU) on one PostgreSQL, driven over HTTPS like an operator would.
// The outage test runs on its own PostgreSQL cluster, which it stops and starts again.
import assert from 'node:assert/strict';
import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type Server } from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { Authority, ORG_CA_ID } from '../../src/authority/index.js';
import { createServerCertificate } from '../../src/pki/index.js';
import { x509 } from '../../src/pki/x509.js';
import { Store } from '../../src/store/index.js';
import { adminApi, gatehouse, type RunningServer, startServer } from '../helpers/gatehouse.js';
import { makeCsr } from '../helpers/openssl.js';
import {
  createTestDatabase,
  type PostgresCluster,
  postgresSkipReason,
  startPostgresCluster,
  type TestDatabase,
} from '../helpers/postgres.js';

const scratch = () => mkdtempSync(join(tmpdir(), 'gatehouse-cluster-'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const BACKGROUND_INTERVAL_S = 1;
const CONTROL_PLANE_TLS_ID = 'control_plane';

interface Node {
  dir: string;
  server: RunningServer;
  api: ReturnType<typeof adminApi>;
  edgePort: number;
}

/** GET through an edge as `hostname` (SNI and Host), one new connection; status 0 when refused. */
function edgeGet(port: number, hostname: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        servername: hostname,
        headers: { host: hostname },
        path: '/',
        rejectUnauthorized: false,
        agent: false,
        timeout: 3_000,
      },
      (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: 0, body: '' }));
    req.end();
  });
}

/** Plain GET against a node's API (trusting the org root); status 0 when the connection fails. */
function apiGet(
  url: string,
  ca: string,
  token?: string,
): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve) => {
    const headers = token ? { authorization: `Bearer ${token}` } : {};
    const req = https.get(url, { ca, headers, agent: false, timeout: 20_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: 0, headers: {}, body: Buffer.alloc(0) }));
  });
}

/** The serial of the certificate a TLS server presents now (new connection). */
function servedSerial(url: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: hostname, port: Number(port), rejectUnauthorized: false }, () => {
      resolve(socket.getPeerX509Certificate()?.serialNumber.toLowerCase() ?? '');
      socket.end();
    });
    socket.on('error', reject);
  });
}

async function waitFor<T>(
  what: string | (() => string),
  timeoutMs: number,
  probe: () => Promise<T | undefined | false>,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`,
      );
    await sleep(50);
  }
}

function startOrigin(body: string): Promise<Server> {
  const server = createServer((_req, res) => res.end(body));
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}
const portOf = (s: Server) => (s.address() as { port: number }).port;
const crlSerials = (der: Buffer) =>
  new Set(new x509.X509Crl(der).entries.map((e) => e.serialNumber.toLowerCase().replace(/^0+/, '')));
const bare = (serial: string) => serial.toLowerCase().replace(/^0+/, '');
const crlNumberOf = (der: Buffer) => {
  const ext = new x509.X509Crl(der).getExtension('2.5.29.20');
  // CRLNumber is an INTEGER: the last bytes of the DER value.
  const value = Buffer.from(ext?.value ?? new ArrayBuffer(0));
  return Number(BigInt(`0x${value.subarray(2).toString('hex') || '0'}`));
};

/** `gatehouse init` on the first node, `gatehouse join` on the others, then `serve` on each. */
async function startNodes(
  dirs: string[],
  env: NodeJS.ProcessEnv,
  serveArgs: string[] = [],
): Promise<{ nodes: Node[]; token: string; rootPem: string }> {
  const init = await gatehouse(
    ['init', '--data-dir', dirs[0] as string, '--org', 'Cluster Org', '--san', '127.0.0.1', '--json'],
    { env },
  );
  assert.equal(init.code, 0, init.stderr);
  const out = JSON.parse(init.stdout) as { admin_token: string; root_ca_pem: string; org_id: string };
  for (const dir of dirs.slice(1)) {
    const joined = await gatehouse(['join', '--data-dir', dir, '--org-id', out.org_id, '--json'], { env });
    assert.equal(joined.code, 0, joined.stderr);
  }
  const nodes: Node[] = [];
  for (const dir of dirs) {
    const server = await startServer(
      ['--data-dir', dir, '--background-interval', String(BACKGROUND_INTERVAL_S), ...serveArgs],
      { env },
    );
    nodes.push({
      dir,
      server,
      api: adminApi(
        () => server.url,
        () => out.admin_token,
        () => out.root_ca_pem,
      ),
      edgePort: Number(new URL(server.edgeUrl).port),
    });
  }
  return { nodes, token: out.admin_token, rootPem: out.root_ca_pem };
}

describe('three nodes on one PostgreSQL', { skip: postgresSkipReason() }, () => {
  let db: TestDatabase;
  let nodes: Node[] = [];
  let rootPem = '';
  let env: NodeJS.ProcessEnv;
  const masterKey = randomBytes(32).toString('hex');
  const origins: Server[] = [];
  let csrPem = '';
  const dirs: string[] = [];

  before(async () => {
    db = await createTestDatabase();
    env = { GATEHOUSE_DATABASE_URL: db.url, GATEHOUSE_MASTER_KEY: masterKey };
    const dir = scratch();
    dirs.push(dir);
    const started = await startNodes(
      [1, 2, 3].map((i) => join(dir, `node${i}`)),
      env,
    );
    nodes = started.nodes;
    rootPem = started.rootPem;
    origins.push(await startOrigin('origin A'), await startOrigin('origin B'));
    const csr = await makeCsr(dir, 'client');
    csrPem = readFileSync(csr.csrPath, 'utf8');
  });
  after(async () => {
    for (const n of nodes) await n.server.stop();
    for (const o of origins) o.close();
    await db?.drop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test('join refuses a wrong master key and another organization, with a clear error', async (t) => {
    const dir = scratch();
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const wrongKey = await gatehouse(['join', '--data-dir', join(dir, 'a')], {
      env: { ...env, GATEHOUSE_MASTER_KEY: randomBytes(32).toString('hex') },
    });
    assert.notEqual(wrongKey.code, 0);
    assert.match(wrongKey.stderr, /wrong_master_key|not this organization's master key/);
    const wrongOrg = await gatehouse(
      ['join', '--data-dir', join(dir, 'b'), '--org-id', '11111111-1111-4111-8111-111111111111'],
      { env },
    );
    assert.notEqual(wrongOrg.code, 0);
    assert.match(wrongOrg.stderr, /org_mismatch|holds organization/);
    // Neither left a data directory a later `serve` could start from.
    const later = await gatehouse(['cert', 'list', '--data-dir', join(dir, 'a')], { env });
    assert.notEqual(later.code, 0);
  });

  test('(a) an edit on any node reaches every edge', async (t) => {
    const latencies: number[] = [];
    const reachAll = async (hostname: string, body: string) => {
      const start = Date.now();
      await Promise.all(
        nodes.map((n) =>
          waitFor(`${hostname} → "${body}" on edge ${n.edgePort}`, 15_000, async () => {
            const r = await edgeGet(n.edgePort, hostname);
            return r.status === 200 && r.body === body;
          }),
        ),
      );
      return Date.now() - start;
    };
    for (let i = 0; i < nodes.length; i++) {
      const hostname = `app${i}.cluster.test`;
      const created = await nodes[i]!.api<{ id: string }>('POST', '/api/v1/hostnames', {
        hostname,
        origin: `http://127.0.0.1:${portOf(origins[0]!)}`,
        client_auth: { mode: 'report', mtls_certificate_ids: [ORG_CA_ID] },
      });
      assert.equal(created.status, 201, JSON.stringify(created.json));
      latencies.push(await reachAll(hostname, 'origin A'));
      // An update made on the next node.
      const other = nodes[(i + 1) % nodes.length]!;
      const updated = await other.api('PUT', `/api/v1/hostnames/${created.json.result.id}`, {
        hostname,
        origin: `http://127.0.0.1:${portOf(origins[1]!)}`,
        client_auth: { mode: 'report', mtls_certificate_ids: [ORG_CA_ID] },
      });
      assert.equal(updated.status, 200, JSON.stringify(updated.json));
      latencies.push(await reachAll(hostname, 'origin B'));
    }
    const sorted = [...latencies].sort((a, b) => a - b);
    const p50 = sorted[Math.floor(sorted.length / 2)];
    t.diagnostic(
      `propagation to all 3 edges over ${sorted.length} edits: p50 ${p50} ms, max ${sorted.at(-1)} ms`,
    );
    console.log(`[cluster] propagation p50 ${p50} ms, max ${sorted.at(-1)} ms (${sorted.join(', ')})`);
  });

  test('(f) two nodes creating one hostname at once: one 201, one 409', async () => {
    for (let round = 0; round < 3; round++) {
      const body = {
        hostname: `dup${round}.cluster.test`,
        origin: `http://127.0.0.1:${portOf(origins[0]!)}`,
        client_auth: { mode: 'report', mtls_certificate_ids: [ORG_CA_ID] },
      };
      const [a, b] = await Promise.all([
        nodes[0]!.api('POST', '/api/v1/hostnames', body),
        nodes[1]!.api('POST', '/api/v1/hostnames', body),
      ]);
      assert.deepEqual([a.status, b.status].sort(), [201, 409], JSON.stringify([a.json, b.json]));
      assert.equal((a.status === 409 ? a : b).json.errors[0]?.code, 'hostname_exists');
    }
  });

  const issue = async (count: number) => {
    const ids: { id: string; serial: string }[] = [];
    for (let i = 0; i < count; i++) {
      const r = await nodes[i % nodes.length]!.api<{ id: string; serial_number: string }>(
        'POST',
        '/api/v1/client_certificates',
        { csr: csrPem, validity_days: 30 },
      );
      assert.equal(r.status, 201, JSON.stringify(r.json));
      ids.push({ id: r.json.result.id, serial: r.json.result.serial_number });
    }
    return ids;
  };
  const fetchCrl = async (node: Node) => {
    const r = await apiGet(`${node.server.url}/crl/${ORG_CA_ID}.crl`, rootPem);
    assert.equal(r.status, 200, `CRL from ${node.server.url}`);
    return r.body;
  };

  test('(b) 50 revocations spread over the nodes: every CRL lists all 50, numbers strictly increase', async () => {
    const certs = await issue(50);
    const before = crlNumberOf(await fetchCrl(nodes[0]!));
    // A relying party polling the CRL all along must never see a number go back or two CRLs
    // with one number.
    const seen = new Map<number, string>();
    let last = 0;
    let polling = true;
    const poller = (async () => {
      for (let i = 0; polling; i++) {
        const der = await fetchCrl(nodes[i % nodes.length]!);
        const number = crlNumberOf(der);
        assert.ok(number >= last, `CRL number went back from ${last} to ${number}`);
        const known = seen.get(number);
        assert.ok(known === undefined || known === der.toString('base64'), `two CRLs numbered ${number}`);
        seen.set(number, der.toString('base64'));
        last = number;
      }
    })();
    const results = await Promise.all(
      certs.map((c, i) => nodes[i % nodes.length]!.api('DELETE', `/api/v1/client_certificates/${c.id}`)),
    );
    polling = false;
    await poller;
    assert.deepEqual(
      results.map((r) => r.status),
      certs.map(() => 200),
    );
    for (const node of nodes) {
      const der = await fetchCrl(node);
      const listed = crlSerials(der);
      assert.deepEqual(
        certs.filter((c) => !listed.has(bare(c.serial))).map((c) => c.serial),
        [],
        'all 50 serials on the CRL',
      );
      assert.equal(crlNumberOf(der), before + 50, 'one new CRL number per revocation, none reused');
    }
  });

  test('(c) a renewal made by one node is served by all', async () => {
    const store = await Store.open({ url: db.url });
    try {
      const authority = await Authority.load(store, Buffer.from(masterKey, 'hex'));
      const renewsBefore = (
        await store.audit.list({ action: 'control_plane.certificate.renew' }, { page: 1, perPage: 100 })
      ).total;
      // Put a control-plane certificate in the database that is due for renewal (25 of its 30 days gone).
      const due = await createServerCertificate({
        issuer: await authority.signer(ORG_CA_ID),
        commonName: 'Gatehouse control plane',
        dnsNames: ['localhost'],
        ipAddresses: ['127.0.0.1'],
        algorithm: 'ecdsa-p256',
        validityDays: 30,
        now: new Date(Date.now() - 25 * 86_400_000),
      });
      const current = (await store.tlsIdentities.get(CONTROL_PLANE_TLS_ID))!;
      await store.tlsIdentities.put({
        ...current,
        certificate_pem: due.certificatePem,
        sealed_private_key: authority.sealKey(due.privateKeyPem, CONTROL_PLANE_TLS_ID),
        not_after: new Date(new X509Certificate(due.certificatePem).validTo).toISOString(),
      });
      const dueSerial = new X509Certificate(due.certificatePem).serialNumber.toLowerCase();
      // The lease holder renews it; every node then serves the renewed one.
      const renewed = await waitFor('every node to serve the renewed certificate', 30_000, async () => {
        const stored = (await store.tlsIdentities.get(CONTROL_PLANE_TLS_ID))!.certificate_pem;
        const serial = new X509Certificate(stored).serialNumber.toLowerCase();
        if (serial === dueSerial) return false;
        const served = await Promise.all(nodes.map((n) => servedSerial(n.server.url)));
        return served.every((s) => s === serial) && serial;
      });
      assert.notEqual(renewed, dueSerial);
      const renewsAfter = (
        await store.audit.list({ action: 'control_plane.certificate.renew' }, { page: 1, perPage: 100 })
      ).total;
      assert.equal(renewsAfter - renewsBefore, 1, 'renewed once, by one node');
    } finally {
      await store.close();
    }
  });

  test('(d) kill -9 of a node during 100 concurrent writes: all or nothing, CRL matches the database; the lease moves', async () => {
    const certs = await issue(50);
    const store = await Store.open({ url: db.url });
    try {
      // Kill the node that holds the background lease (its pid is in the holder id).
      const lease = (await store.leases.get('background'))!;
      const victimIndex = nodes.findIndex((n) => lease.holder.includes(`:${n.server.process.pid}:`));
      assert.ok(victimIndex >= 0, `the lease holder ${lease.holder} is one of the nodes`);
      const victim = nodes[victimIndex]!;
      const hostnames = Array.from({ length: 50 }, (_, i) => `crash${i}.cluster.test`);
      const writes = [
        ...certs.map((c, i) =>
          nodes[i % 3]!.api('DELETE', `/api/v1/client_certificates/${c.id}`).catch(() => null),
        ),
        ...hostnames.map((hostname, i) =>
          nodes[i % 3]!.api('POST', '/api/v1/hostnames', {
            hostname,
            origin: `http://127.0.0.1:${portOf(origins[0]!)}`,
            client_auth: { mode: 'report', mtls_certificate_ids: [ORG_CA_ID] },
          }).catch(() => null),
        ),
      ];
      await sleep(150);
      victim.server.process.kill('SIGKILL');
      const results = await Promise.all(writes);
      const killedAt = Date.now();

      // Writes answered 2xx are committed; every write is either whole or absent.
      const survivor = nodes[(victimIndex + 1) % 3]!;
      for (const [i, c] of certs.entries()) {
        const row = (await store.clientCertificates.get(c.id))!;
        if (results[i]?.status === 200) assert.equal(row.status, 'revoked');
        const audited = await store.audit.list(
          { resourceId: c.id, action: 'client_certificate.revoke' },
          { page: 1, perPage: 5 },
        );
        assert.equal(
          audited.total,
          row.status === 'revoked' ? 1 : 0,
          `revocation of ${c.id} whole or absent`,
        );
      }
      for (const [i, hostname] of hostnames.entries()) {
        const row = await store.hostnames.byName(hostname);
        if (results[50 + i]?.status === 201) assert.ok(row, `${hostname} answered 201 and exists`);
        if (!row) continue;
        assert.deepEqual(
          (await store.hostnames.caIds([row.id])).get(row.id),
          [ORG_CA_ID],
          `${hostname} has its CA link`,
        );
        const audited = await store.audit.list(
          { resourceId: row.id, action: 'hostname.create' },
          { page: 1, perPage: 5 },
        );
        assert.equal(audited.total, 1, `${hostname} has its audit entry`);
      }
      // The CRL a surviving node serves lists exactly the revoked serials of the database.
      const revoked = (await store.clientCertificates.revokedBy(ORG_CA_ID, new Date(0).toISOString())).map(
        (r) => bare(r.serial_number),
      );
      assert.deepEqual([...crlSerials(await fetchCrl(survivor))].sort(), revoked.sort());

      // A dead holder's lease lapses (3 × the interval) and another node takes the work over.
      const takenOver = await waitFor('another node to take the background lease', 15_000, async () => {
        const now = await store.leases.get('background');
        return now && now.holder !== lease.holder && now;
      });
      assert.ok(Date.now() - killedAt < 3 * BACKGROUND_INTERVAL_S * 1000 + 10_000);
      assert.ok(
        nodes.some((n, i) => i !== victimIndex && takenOver.holder.includes(`:${n.server.process.pid}:`)),
      );

      // The node comes back (same data dir) and serves again.
      await victim.server.stop();
      victim.server = await startServer(
        ['--data-dir', victim.dir, '--background-interval', String(BACKGROUND_INTERVAL_S)],
        { env },
      );
    } finally {
      await store.close();
    }
  });
});

/** The pids of `parent`'s direct children (Linux /proc). */
function childPids(parent: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid …; comm may contain spaces, so split after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parent) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

describe('PostgreSQL stopped for 10 s and started again', { skip: postgresSkipReason() }, () => {
  let pg: PostgresCluster;
  let node: Node;
  let rootPem = '';
  let token = '';
  let origin: Server;
  const dirs: string[] = [];

  before(async () => {
    pg = await startPostgresCluster();
    const dir = scratch();
    dirs.push(dir);
    const started = await startNodes(
      [join(dir, 'node')],
      {
        GATEHOUSE_DATABASE_URL: pg.url,
        GATEHOUSE_MASTER_KEY: randomBytes(32).toString('hex'),
      },
      ['--workers', '2'],
    );
    node = started.nodes[0]!;
    rootPem = started.rootPem;
    token = started.token;
    origin = await startOrigin('still here');
  });
  after(async () => {
    await node?.server.stop();
    origin?.close();
    await pg?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test('(e) edges keep answering, the API answers 503 and recovers, a killed edge worker comes back', async () => {
    const created = await node.api('POST', '/api/v1/hostnames', {
      hostname: 'outage.cluster.test',
      origin: `http://127.0.0.1:${portOf(origin)}`,
      client_auth: { mode: 'report', mtls_certificate_ids: [ORG_CA_ID] },
    });
    assert.equal(created.status, 201);
    await waitFor(
      'the edge to serve the hostname',
      15_000,
      async () => (await edgeGet(node.edgePort, 'outage.cluster.test')).status === 200,
    );
    // One worker answering is not both: the other may not have polled yet, and once the database
    // is down it keeps the snapshot it has. Wait until the slowest worker (the gauge is the
    // minimum across workers) serves the version the database holds.
    const store = await Store.open({ url: pg.url });
    const version = await store.configVersion.current().finally(() => store.close());
    let served = 'none yet';
    await waitFor(
      () => `both edge workers to serve config version ${version} (served: ${served})`,
      15_000,
      async () => {
        const metrics = await apiGet(`${node.server.url}/metrics`, rootPem);
        served = /^gatehouse_edge_config_version (\d+)$/m.exec(metrics.body.toString())?.[1] ?? 'absent';
        return Number(served) >= version;
      },
    );
    const edgeFailures: number[] = [];
    const probeEdge = async () => {
      const r = await edgeGet(node.edgePort, 'outage.cluster.test');
      if (r.status !== 200 || r.body !== 'still here') edgeFailures.push(r.status);
    };

    await pg.pause();
    const down = Date.now();
    // The API: 503 with Retry-After, never 500.
    // Bounded generously: CI runs two files at once on two cores; the last answer is in the error.
    let last = 'none yet';
    const during = await waitFor(
      () => `the API to answer 503 (last: ${last})`,
      30_000,
      async () => {
        const r = await apiGet(`${node.server.url}/api/v1/hostnames`, rootPem, token);
        assert.notEqual(r.status, 500);
        last = `${r.status} after ${Date.now() - down} ms`;
        return r.status === 503 && r;
      },
    );
    assert.ok(Number(during.headers['retry-after']) > 0, 'Retry-After');
    const crl = await apiGet(`${node.server.url}/crl/${ORG_CA_ID}.crl`, rootPem);
    assert.equal(crl.status, 503, 'the CRL endpoint');
    assert.ok(Number(crl.headers['retry-after']) > 0);
    const ready = await apiGet(`${node.server.url}/readyz`, rootPem);
    assert.equal(ready.status, 503);
    assert.equal(JSON.parse(ready.body.toString()).database, 'unreachable');

    // Kill one of the two edge workers while the database is down.
    const workers = childPids(node.server.process.pid!);
    assert.equal(workers.length, 2, `two edge workers: ${workers.join(', ')}`);
    process.kill(workers[0]!, 'SIGKILL');
    await sleep(200);
    while (Date.now() - down < 10_000) {
      await probeEdge();
      await sleep(250);
    }
    assert.deepEqual(edgeFailures, [], 'the edge answered from its last snapshot throughout');
    await pg.resume();

    // Recovers without a restart: the API answers again, and the killed worker is back.
    await waitFor(
      'the API to answer 200 again',
      30_000,
      async () => (await apiGet(`${node.server.url}/api/v1/organization`, rootPem, token)).status === 200,
    );
    const recovered = await node.api('GET', '/api/v1/hostnames');
    assert.equal(recovered.status, 200);
    await waitFor('both edge workers to be ready again', 45_000, async () => {
      const r = await apiGet(`${node.server.url}/readyz`, rootPem);
      if (r.status !== 200) return false;
      const body = JSON.parse(r.body.toString()) as { edge_workers: { ready: number } };
      return body.edge_workers.ready === 2;
    });
    assert.equal(childPids(node.server.process.pid!).length, 2);
    await probeEdge();
    assert.deepEqual(edgeFailures, []);
  });
});
