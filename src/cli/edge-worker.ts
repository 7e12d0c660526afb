// Entry point of an edge worker process (forked by the primary with cluster).
import { AggregatorRegistry, Registry } from 'prom-client';
import { type EdgeWorkerOptions, startEdge, workerReadyMessage } from '../edge/index.js';
import { createLogger } from '../observability/index.js';
import { openDataDir } from './context.js';
import { reportError } from './output.js';

const options = JSON.parse(process.env.GATEHOUSE_EDGE_WORKER ?? '{}') as EdgeWorkerOptions;
const logger = createLogger({ name: 'gatehouse-edge' });

try {
  const ctx = await openDataDir(options.dataDir);
  const registry = new Registry();
  // The primary's /metrics gathers every worker's registry; constructing an AggregatorRegistry
  // is what installs the worker's side of that exchange.
  AggregatorRegistry.setRegistries([registry]);
  new AggregatorRegistry();
  const edge = await startEdge({
    authority: ctx.authority,
    host: options.host,
    port: options.port,
    logger,
    registry,
    accessLog: options.accessLog,
  });
  const stop = async () => {
    await edge.close();
    await ctx.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
  // After the handlers: the primary may stop a worker as soon as it says it is ready.
  process.send?.(workerReadyMessage(edge.url));
} catch (err) {
  process.exitCode = reportError(err, false);
  process.exit();
}
