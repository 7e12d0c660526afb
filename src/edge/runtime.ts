import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Authority } from '../authority/index.js';
import { formatHostPort } from '../config/index.js';
import type { Logger } from '../observability/index.js';
import { SnapshotHolder } from './loader.js';
import { PostureCache } from './posture-cache.js';
import { createEdgeMetrics } from './metrics.js';
import { UpstreamPools } from './proxy.js';
import { createEdgeServer } from './server.js';

/** How long in-flight requests may take to finish once the edge is asked to stop. */
export const SHUTDOWN_GRACE_MS = 10_000;

export interface RunningEdge {
  server: Server;
  url: string;
  snapshots: SnapshotHolder;
  /** Stops accepting, lets requests in flight finish (up to `graceMs`), then closes upstream pools. */
  close(graceMs?: number): Promise<void>;
}

/** Starts one edge listener in this process (cluster workers each call this). */
export async function startEdge(options: {
  authority: Authority;
  host: string;
  port: number;
  logger: Logger;
  registry: Registry;
  accessLog?: boolean;
}): Promise<RunningEdge> {
  const metrics = createEdgeMetrics(options.registry);
  const snapshots = await SnapshotHolder.start(
    options.authority.store,
    options.authority,
    options.logger,
    metrics,
  );
  const posture = await PostureCache.start(options.authority.store, options.logger);
  const pools = new UpstreamPools();
  const server = createEdgeServer({
    snapshot: () => snapshots.current,
    posture: (sha256, nowMs) => posture.passing(sha256, nowMs),
    deviceAssurance: (sha256) => posture.assurance(sha256),
    pools,
    metrics,
    logger: options.logger,
    accessLog: options.accessLog ?? true,
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: options.host, port: options.port, exclusive: false }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    url: `https://${formatHostPort(options.host, port)}`,
    snapshots,
    close: async (graceMs = SHUTDOWN_GRACE_MS) => {
      snapshots.stop();
      posture.stop();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), graceMs);
      // Upgraded (WebSocket) connections are not the HTTP server's to close, and an upstream
      // response may never end: past the grace period, stop waiting (the worker exits next).
      const deadline = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
      await Promise.race([closed, deadline(graceMs + 1_000)]);
      clearTimeout(timer);
      await Promise.race([pools.close(), deadline(1_000)]);
    },
  };
}
