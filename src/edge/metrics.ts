import { Counter, Histogram, type Registry } from 'prom-client';

export interface EdgeMetrics {
  handshakes: Counter<'hostname' | 'client_cert'>;
  requests: Counter<'hostname' | 'mode' | 'cert_status' | 'code'>;
  upstreamSeconds: Histogram<'hostname'>;
  configReloads: Counter<'result'>;
}

/**
 * Per-request counting without prom-client hashing a label object each time: the labelled child
 * for each combination is looked up once and kept (label values are bounded: hostnames, modes,
 * statuses, codes).
 */
export class RequestCounter {
  readonly #children = new Map<string, { inc(): void }>();
  constructor(private readonly counter: EdgeMetrics['requests']) {}

  inc(hostname: string, mode: string, certStatus: string, code: number): void {
    const key = `${hostname}|${mode}|${certStatus}|${code}`;
    let child = this.#children.get(key);
    if (!child) {
      child = this.counter.labels(hostname, mode, certStatus, String(code));
      this.#children.set(key, child);
    }
    child.inc();
  }
}

export function createEdgeMetrics(registry: Registry): EdgeMetrics {
  return {
    handshakes: new Counter({
      name: 'gatehouse_edge_tls_handshakes_total',
      help: 'Completed TLS handshakes by SNI hostname and whether a client certificate was presented',
      labelNames: ['hostname', 'client_cert'],
      registers: [registry],
    }),
    requests: new Counter({
      name: 'gatehouse_edge_requests_total',
      help: 'Edge requests by hostname, client-auth mode, client certificate status and response status',
      labelNames: ['hostname', 'mode', 'cert_status', 'code'],
      registers: [registry],
    }),
    upstreamSeconds: new Histogram({
      name: 'gatehouse_edge_upstream_duration_seconds',
      help: 'Time from forwarding a request to the origin until its response completed',
      labelNames: ['hostname'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers: [registry],
    }),
    configReloads: new Counter({
      name: 'gatehouse_edge_config_reloads_total',
      help: 'Snapshot reloads after a configuration change, by result',
      labelNames: ['result'],
      registers: [registry],
    }),
  };
}
