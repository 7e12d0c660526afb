import pino, { type Logger } from 'pino';
import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';

export type { Logger } from 'pino';

/** Structured JSON logs on stderr, so stdout stays free for command output. */
export function createLogger(options: { level?: string; name?: string } = {}): Logger {
  return pino(
    {
      name: options.name ?? 'gatehouse',
      level: options.level ?? process.env.GATEHOUSE_LOG_LEVEL ?? 'info',
      redact: {
        paths: ['req.headers.authorization', 'req.headers["gatehouse-access-client-secret"]'],
        censor: '[redacted]',
      },
    },
    pino.destination(2),
  );
}

export interface Metrics {
  registry: Registry;
  /** Text exposition for /metrics; replaced when worker processes' metrics are merged in. */
  render: () => Promise<string>;
  httpRequests: Counter<'route' | 'method' | 'status'>;
  httpDuration: Histogram<'route' | 'method'>;
  certificatesIssued: Counter;
  certificatesRevoked: Counter;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'gatehouse_' });
  return {
    registry,
    render: () => registry.metrics(),
    httpRequests: new Counter({
      name: 'gatehouse_api_requests_total',
      help: 'Control-plane API requests by route, method and status code',
      labelNames: ['route', 'method', 'status'],
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'gatehouse_api_request_duration_seconds',
      help: 'Control-plane API request latency',
      labelNames: ['route', 'method'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry],
    }),
    certificatesIssued: new Counter({
      name: 'gatehouse_client_certificates_issued_total',
      help: 'Client certificates issued by the organization CA',
      registers: [registry],
    }),
    certificatesRevoked: new Counter({
      name: 'gatehouse_client_certificates_revoked_total',
      help: 'Client certificates revoked',
      registers: [registry],
    }),
  };
}
