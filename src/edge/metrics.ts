import { Counter, Gauge, type Registry } from 'prom-client';

/**
 * Counts on the hot path (every request, every handshake) as plain numbers per label
 * combination, added to the prom-client counter when it is collected (a scrape, or the primary
 * gathering the workers' metrics): prom-client validates and hashes the labels on every call,
 * which on the edge's keep-alive path was more than the edge's own request handling.
 * Label values are bounded (hostnames, modes, statuses, codes).
 */
export class PendingCounts {
  readonly #pending = new Map<string, { labels: string[]; n: number }>();

  add(key: string, labels: () => string[]): void {
    const entry = this.#pending.get(key);
    if (entry) entry.n++;
    else this.#pending.set(key, { labels: labels(), n: 1 });
  }

  /** Moves the counts into `counter` (label values in its labelNames order). */
  flushInto(counter: Counter<string>): void {
    for (const entry of this.#pending.values()) {
      if (entry.n === 0) continue;
      counter.labels(...entry.labels).inc(entry.n);
      entry.n = 0;
    }
  }
}

/**
 * A histogram by hostname, observed with an array increment, exposed to prom-client as a
 * metric of type histogram (same series as prom-client's own: _bucket with le, _sum, _count),
 * summed across workers like any histogram.
 */
export class HostHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #byHost = new Map<string, { buckets: Float64Array; sum: number; count: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly upperBounds: readonly number[],
  ) {}

  observe(hostname: string, value: number): void {
    let h = this.#byHost.get(hostname);
    if (!h) {
      h = { buckets: new Float64Array(this.upperBounds.length), sum: 0, count: 0 };
      this.#byHost.set(hostname, h);
    }
    const bounds = this.upperBounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= (bounds[i] as number)) {
        h.buckets[i] = (h.buckets[i] as number) + 1;
        break;
      }
    }
    h.sum += value;
    h.count++;
  }

  /** prom-client's metric interface (Registry#metrics, getMetricsAsJSON, cluster aggregation). */
  async get(): Promise<{
    name: string;
    help: string;
    type: 'histogram';
    aggregator: 'sum';
    values: { labels: Record<string, string | number>; value: number; metricName: string }[];
  }> {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const [hostname, h] of this.#byHost) {
      let acc = 0;
      this.upperBounds.forEach((le, i) => {
        acc += h.buckets[i] as number;
        values.push({ labels: { hostname, le }, value: acc, metricName: `${this.name}_bucket` });
      });
      values.push(
        { labels: { hostname, le: '+Inf' }, value: h.count, metricName: `${this.name}_bucket` },
        { labels: { hostname }, value: h.sum, metricName: `${this.name}_sum` },
        { labels: { hostname }, value: h.count, metricName: `${this.name}_count` },
      );
    }
    return { name: this.name, help: this.help, type: 'histogram', aggregator: 'sum', values };
  }

  reset(): void {
    this.#byHost.clear();
  }
}

export interface EdgeMetrics {
  /** By hostname and whether a client certificate was presented. */
  handshake(hostname: string, presented: boolean): void;
  /** By hostname, client-auth mode, certificate status and response status. */
  request(hostname: string, mode: string, certStatus: string, code: number): void;
  upstreamSeconds: HostHistogram;
  configReloads: Counter<'result'>;
  /** The configuration version of the snapshot served. */
  configVersion: Gauge;
}

export function createEdgeMetrics(registry: Registry): EdgeMetrics {
  const handshakes = new PendingCounts();
  const requests = new PendingCounts();
  new Counter({
    name: 'gatehouse_edge_tls_handshakes_total',
    help: 'Completed TLS handshakes by SNI hostname and whether a client certificate was presented',
    labelNames: ['hostname', 'client_cert'],
    registers: [registry],
    collect() {
      handshakes.flushInto(this);
    },
  });
  new Counter({
    name: 'gatehouse_edge_requests_total',
    help: 'Edge requests by hostname, client-auth mode, client certificate status and response status',
    labelNames: ['hostname', 'mode', 'cert_status', 'code'],
    registers: [registry],
    collect() {
      requests.flushInto(this);
    },
  });
  const upstreamSeconds = new HostHistogram(
    'gatehouse_edge_upstream_duration_seconds',
    'Time from forwarding a request to the origin until its response completed',
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
  );
  registry.registerMetric(upstreamSeconds as unknown as Parameters<Registry['registerMetric']>[0]);
  return {
    handshake: (hostname, presented) =>
      handshakes.add(`${hostname}|${presented}`, () => [hostname, presented ? 'presented' : 'none']),
    request: (hostname, mode, certStatus, code) =>
      requests.add(`${hostname}|${mode}|${certStatus}|${code}`, () => [
        hostname,
        mode,
        certStatus,
        String(code),
      ]),
    upstreamSeconds,
    configReloads: new Counter({
      name: 'gatehouse_edge_config_reloads_total',
      help: 'Snapshot reloads after a configuration change, by result',
      labelNames: ['result'],
      registers: [registry],
    }),
    // Across a node's workers the lowest wins: a worker still on an old snapshot (its reloads
    // failing, say) shows, where a sum or an average would hide it.
    // Compared with config_version in the database, it tells whether every edge is up to date.
    configVersion: new Gauge({
      name: 'gatehouse_edge_config_version',
      help: 'Configuration version of the snapshot the edge serves (across workers: the lowest)',
      aggregator: 'min',
      registers: [registry],
    }),
  };
}
