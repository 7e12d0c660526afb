/** Pure helpers behind GET /overview: expiry buckets and edge request counts from metrics text. */

const DAY_MS = 24 * 3600 * 1000;

export interface ExpiryBucket {
  start: string;
  end: string;
  client_certificates: number;
  certificate_authorities: number;
}

/**
 * Counts expiry times into consecutive `bucketDays`-day buckets from `now` over `days` days (the
 * last bucket may be shorter). Times outside [now, now + days) are ignored.
 */
export function expiryBuckets(
  now: Date,
  days: number,
  bucketDays: number,
  clientCertificates: readonly string[],
  certificateAuthorities: readonly string[],
): ExpiryBucket[] {
  const start = now.getTime();
  const end = start + days * DAY_MS;
  const buckets: ExpiryBucket[] = [];
  for (let t = start; t < end; t += bucketDays * DAY_MS) {
    buckets.push({
      start: new Date(t).toISOString(),
      end: new Date(Math.min(end, t + bucketDays * DAY_MS)).toISOString(),
      client_certificates: 0,
      certificate_authorities: 0,
    });
  }
  const place = (iso: string, key: 'client_certificates' | 'certificate_authorities') => {
    const t = Date.parse(iso);
    if (!(t >= start && t < end)) return;
    const bucket = buckets[Math.floor((t - start) / (bucketDays * DAY_MS))];
    if (bucket) bucket[key] += 1;
  };
  for (const t of clientCertificates) place(t, 'client_certificates');
  for (const t of certificateAuthorities) place(t, 'certificate_authorities');
  return buckets;
}

const SAMPLE = /^gatehouse_edge_requests_total\{([^}]*)\}\s+([0-9.eE+-]+)\s*$/;
const LABEL = /(\w+)="((?:[^"\\]|\\.)*)"/g;

/**
 * Sums `gatehouse_edge_requests_total` in Prometheus text by certificate status (none / valid /
 * invalid / …), sorted by status. Counts run from the edge workers' start.
 */
export function edgeRequestsByCertStatus(metricsText: string): { cert_status: string; count: number }[] {
  const totals = new Map<string, number>();
  for (const line of metricsText.split('\n')) {
    const m = SAMPLE.exec(line);
    if (!m) continue;
    let status = 'unknown';
    for (const [, name, value] of (m[1] as string).matchAll(LABEL))
      if (name === 'cert_status') status = value as string;
    const n = Number(m[2]);
    if (Number.isFinite(n)) totals.set(status, (totals.get(status) ?? 0) + n);
  }
  return [...totals]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([cert_status, count]) => ({ cert_status, count }));
}
