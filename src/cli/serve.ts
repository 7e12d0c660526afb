// `gatehouse serve`: the wiring of one node. Validates its ServeConfig, opens the data directory,
// builds the services once (createServices: each gets the repositories it uses, the keys and a
// clock), and starts the API, the edge workers and the background work.
import { fileURLToPath } from 'node:url';
import { type Static, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { AggregatorRegistry } from 'prom-client';
import { adminSignInConfig } from '../access/index.js';
import { createServices, startApiServer } from '../api/index.js';
import { DataDir, parseListen } from '../config/index.js';
import { SHUTDOWN_GRACE_MS, startEdgeCluster } from '../edge/index.js';
import { GatehouseError } from '../errors/index.js';
import { createLogger, type Logger } from '../observability/index.js';
import { openDataDir, readInput } from './context.js';
import { acquireServeLock } from './pid-lock.js';
import { newNodeId, startCertificateRenewal } from './renewal.js';

export const DEFAULT_EDGE_LISTEN = '127.0.0.1:8443';
const SHUTDOWN_DEADLINE_MS = SHUTDOWN_GRACE_MS + 5_000;
export const EDGE_WORKER_SCRIPT = fileURLToPath(new URL('./edge-worker.js', import.meta.url));

const Listen = Type.String({ minLength: 1, maxLength: 300, description: 'HOST:PORT' });
const Names = Type.Union([Type.String({ maxLength: 10_000 }), Type.Array(Type.String({ maxLength: 1000 }))]);

/** `serve`'s options as the command line (and its environment variables) give them. */
export const ServeOptions = Type.Object(
  {
    dataDir: Type.String({ minLength: 1 }),
    apiListen: Type.Optional(Listen),
    edgeListen: Listen,
    workers: Type.Integer({ minimum: 1, maximum: 256 }),
    accessLog: Type.Boolean(),
    backgroundInterval: Type.Integer({ minimum: 1, maximum: 3600 }),
    tlsCert: Type.Optional(Type.String({ minLength: 1 })),
    tlsKey: Type.Optional(Type.String({ minLength: 1 })),
    adminIdp: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    adminEmail: Type.Optional(Names),
    adminGroup: Type.Optional(Names),
  },
  { additionalProperties: false },
);
export type ServeOptions = Static<typeof ServeOptions>;

/** A checked ServeOptions: addresses parsed, admin sign-in built, the TLS pair complete or absent. */
export interface ServeConfig {
  dataDir: string;
  /** Absent: the address `init` recorded in the data directory. */
  api?: { host: string; port: number };
  edge: { host: string; port: number };
  workers: number;
  accessLog: boolean;
  backgroundIntervalMs: number;
  /** The admin's own certificate and key files for the API listener. */
  tlsFiles?: { certificate: string; key: string };
  adminSignIn?: ReturnType<typeof adminSignInConfig>;
}

/**
 * Checks `serve`'s options before anything starts. Every refusal is a GatehouseError with a code
 * (invalid_config, invalid_listen, invalid_argument), which the CLI prints without a stack trace.
 */
export function parseServeConfig(raw: unknown): ServeConfig {
  if (!Value.Check(ServeOptions, raw)) {
    const first = Value.Errors(ServeOptions, raw).First();
    const where = first?.path ? first.path.replace(/^\//, '').replace(/\//g, '.') : 'options';
    throw new GatehouseError('invalid_config', `serve: ${where}: ${first?.message ?? 'invalid'}`);
  }
  if (Boolean(raw.tlsCert) !== Boolean(raw.tlsKey))
    throw new GatehouseError('invalid_argument', '--tls-cert and --tls-key go together');
  const asList = (v: string[] | string | undefined) => (v === undefined ? [] : [v].flat());
  const adminSignIn = adminSignInConfig({
    identityProviderId: raw.adminIdp,
    emails: asList(raw.adminEmail),
    groups: asList(raw.adminGroup),
  });
  return {
    dataDir: raw.dataDir,
    ...(raw.apiListen === undefined ? {} : { api: parseListen(raw.apiListen) }),
    edge: parseListen(raw.edgeListen),
    workers: raw.workers,
    accessLog: raw.accessLog,
    backgroundIntervalMs: raw.backgroundInterval * 1000,
    ...(raw.tlsCert && raw.tlsKey ? { tlsFiles: { certificate: raw.tlsCert, key: raw.tlsKey } } : {}),
    ...(adminSignIn ? { adminSignIn } : {}),
  };
}

/**
 * SIGTERM/SIGINT: stop gracefully once, then exit. In-flight requests get the edge's grace period;
 * past a hard deadline (a request or WebSocket that never ends) the process exits anyway, with
 * status 1, rather than hang a service manager's stop.
 */
export function onShutdown(logger: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    setTimeout(() => {
      logger.error({ deadline_ms: SHUTDOWN_DEADLINE_MS }, 'graceful shutdown took too long; exiting');
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS).unref();
    stop().then(
      () => process.exit(0),
      (err) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => handler('SIGINT'));
  process.on('SIGTERM', () => handler('SIGTERM'));
}

/** Starts one node: the API and the edge on the data directory's store, until a signal stops it. */
export async function serve(config: ServeConfig): Promise<void> {
  const { adminSignIn } = config;
  const logger = createLogger();
  const dataDir = new DataDir(config.dataDir);
  const releaseLock = /^postgres/i.test(dataDir.databaseUrl())
    ? () => undefined
    : acquireServeLock(dataDir.path);
  const ctx = await openDataDir(config.dataDir).catch((err: unknown) => {
    releaseLock();
    throw err;
  });
  if (adminSignIn && !(await ctx.store.identityProviders.get(adminSignIn.identityProviderId))) {
    // Fail at start, not at the first sign-in: a typo would otherwise hide the SSO button.
    await ctx.close();
    releaseLock();
    throw new GatehouseError(
      'invalid_argument',
      `--admin-idp ${adminSignIn.identityProviderId}: no such identity provider (see GET /api/v1/identity_providers)`,
    );
  }
  const { host, port } = config.api ?? parseListen(ctx.config.api_listen);
  const tls = config.tlsFiles
    ? {
        certificatePem: readInput(config.tlsFiles.certificate, 'TLS certificate'),
        chainPem: '',
        privateKeyPem: readInput(config.tlsFiles.key, 'TLS key'),
      }
    : await ctx.authority.controlPlaneTls();
  const services = createServices(ctx.authority);
  const edge = await startEdgeCluster({
    dataDir: ctx.dataDir.path,
    ...config.edge,
    accessLog: config.accessLog,
    workers: config.workers,
    workerScript: EDGE_WORKER_SCRIPT,
    logger,
  });
  const aggregator = new AggregatorRegistry();
  const api = await startApiServer({
    authority: ctx.authority,
    services,
    host,
    port,
    tls,
    logger,
    extraMetrics: () => aggregator.clusterMetrics(),
    edgeStatus: () => edge.status(),
    ...(adminSignIn ? { adminSignIn } : {}),
  });
  const nodeId = newNodeId();
  const renewal = startCertificateRenewal({
    authority: ctx.authority,
    hostnames: services.hostnames,
    ...(config.tlsFiles ? {} : { api, servedCertificatePem: tls.certificatePem }),
    logger,
    intervalMs: config.backgroundIntervalMs,
    nodeId,
  });
  // Before the "listening" lines: whoever reads them (a test, a supervisor) may signal at once,
  // and a SIGTERM before the handler exists would kill the process without a clean stop.
  onShutdown(logger, async () => {
    await renewal.stop();
    await api.close();
    await edge.stop();
    await ctx.close();
    releaseLock();
  });
  logger.info(
    {
      api: api.url,
      edge: edge.url,
      workers: config.workers,
      data_dir: ctx.dataDir.path,
      database: ctx.store.dialect,
      node: nodeId,
    },
    'Gatehouse started',
  );
  process.stdout.write(`Gatehouse control plane listening on ${api.url} (admin API: ${api.url}/api/v1)\n`);
  process.stdout.write(
    `Gatehouse edge listening on ${edge.url} (${config.workers} worker${config.workers === 1 ? '' : 's'})\n`,
  );
}
