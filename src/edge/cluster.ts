import cluster, { type Worker } from 'node:cluster';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../observability/index.js';
import { SHUTDOWN_GRACE_MS } from './runtime.js';

export interface EdgeWorkerOptions {
  dataDir: string;
  host: string;
  port: number;
  accessLog: boolean;
}

export interface EdgeWorkersStatus {
  /** Workers asked for (--workers). */
  expected: number;
  /** Workers that are listening now. */
  ready: number;
}

export interface EdgeCluster {
  /** The URL every worker listens on (they share the port). */
  url: string;
  status(): EdgeWorkersStatus;
  stop(): Promise<void>;
}

const READY = 'gatehouse:edge-ready';

/**
 * SSL_OP_NO_TICKET does not stop TLS 1.3 tickets: OpenSSL 3 then sends two *stateful* tickets
 * after every full handshake (useless here: nothing resumes them) and serialising them, client
 * certificate included, is a large share of a handshake's CPU. Node has no option for
 * SSL_CTX_set_num_tickets(0); OpenSSL's system-default SSL configuration reaches every context.
 */
export const EDGE_OPENSSL_CONFIG = `# Written by Gatehouse for its edge workers (see src/edge/cluster.ts).
nodejs_conf = gatehouse_edge_init

[gatehouse_edge_init]
ssl_conf = gatehouse_edge_ssl

[gatehouse_edge_ssl]
system_default = gatehouse_edge_tls

[gatehouse_edge_tls]
NumTickets = 0
`;

function writeEdgeOpensslConfig(dataDir: string): string {
  const file = join(dataDir, 'edge-openssl.cnf');
  writeFileSync(file, EDGE_OPENSSL_CONFIG, { mode: 0o600 });
  return file;
}
/** Respawn backoff: 1 s doubling to 30 s; a worker that ran a minute resets it. */
const RESPAWN_BASE_MS = 1_000;
const RESPAWN_MAX_MS = 30_000;
const RESPAWN_RESET_AFTER_MS = 60_000;

/** Pure: how long to wait before the next start of a worker that failed `failures` times in a row. */
export const respawnDelay = (failures: number): number =>
  Math.min(RESPAWN_MAX_MS, RESPAWN_BASE_MS * 2 ** Math.max(0, failures - 1));

export interface WorkerReady {
  type: typeof READY;
  url: string;
}

export const isWorkerReady = (m: unknown): m is WorkerReady =>
  typeof m === 'object' && m !== null && (m as { type?: unknown }).type === READY;

export const workerReadyMessage = (url: string): WorkerReady => ({ type: READY, url });

/**
 * Forks `count` edge worker processes sharing one listening port. The kernel balances accepted
 * connections (SCHED_NONE), which costs less per handshake than the primary's round robin. A
 * worker that dies is replaced; `stop()` lets in-flight requests finish.
 */
export async function startEdgeCluster(
  options: EdgeWorkerOptions & { workers: number; workerScript: string; logger: Logger },
): Promise<EdgeCluster> {
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  cluster.setupPrimary({
    exec: options.workerScript,
    args: [],
    silent: false,
    execArgv: [...process.execArgv, `--openssl-config=${writeEdgeOpensslConfig(options.dataDir)}`],
  });
  // Every worker asks for the same address: the primary binds it once and shares the handle
  // (for port 0, one random port shared by all).
  const workerOptions: EdgeWorkerOptions = {
    dataDir: options.dataDir,
    host: options.host,
    port: options.port,
    accessLog: options.accessLog,
  };
  let stopping = false;
  const ready = new Set<Worker>();

  /**
   * Starts one worker. During start-up a worker that exits before listening fails `serve` (a port
   * in use, a broken data dir). Afterwards every exit, whatever its cause and whether or not the
   * database is up (a new worker needs it to load its snapshot), is followed by another start
   * with backoff, forever: a node must not stay up with its edge port refusing connections.
   */
  const fork = (failures: number, startup: boolean): Promise<string> =>
    new Promise((resolve, reject) => {
      const worker: Worker = cluster.fork({ GATEHOUSE_EDGE_WORKER: JSON.stringify(workerOptions) });
      let listeningSince = 0;
      worker.on('message', (m: unknown) => {
        if (!isWorkerReady(m)) return;
        listeningSince = Date.now();
        ready.add(worker);
        resolve(m.url);
      });
      worker.once('exit', (code, signal) => {
        ready.delete(worker);
        if (stopping) return;
        if (startup && !listeningSince)
          return reject(new Error(`edge worker exited with ${code} before listening`));
        const ranLong = listeningSince > 0 && Date.now() - listeningSince > RESPAWN_RESET_AFTER_MS;
        const nextFailures = ranLong ? 1 : failures + 1;
        const delay = respawnDelay(nextFailures);
        options.logger.error(
          { pid: worker.process.pid, code, signal, respawn_in_ms: delay },
          'edge worker died; starting a replacement',
        );
        setTimeout(() => {
          if (!stopping) void fork(nextFailures, false).catch(() => undefined);
        }, delay).unref();
      });
    });

  const [url] = await Promise.all(Array.from({ length: Math.max(1, options.workers) }, () => fork(0, true)));

  return {
    url: url as string,
    status: () => ({ expected: Math.max(1, options.workers), ready: ready.size }),
    stop: async () => {
      stopping = true;
      await Promise.all(
        Object.values(cluster.workers ?? {}).map(
          (w) =>
            new Promise<void>((resolve) => {
              if (!w || w.isDead()) return resolve();
              // A worker still alive well past its grace period is stuck: kill it.
              const kill = setTimeout(() => w.process.kill('SIGKILL'), SHUTDOWN_GRACE_MS + 3_000);
              w.once('exit', () => {
                clearTimeout(kill);
                resolve();
              });
              w.process.kill('SIGTERM');
            }),
        ),
      );
    },
  };
}
