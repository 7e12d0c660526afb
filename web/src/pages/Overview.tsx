import { api } from '../api';
import { BarChart, HBars, LineChart } from '../charts';
import { Card, Empty, LoadError, Page, useLoad } from '../components';
import type { Overview } from '../types';
import { postureDailyPassRate } from './posture';

const STATUS_COLORS: Record<string, string> = {
  valid: '#1f8a4c',
  invalid: '#c0392b',
  none: '#9aa3b5',
  revoked: '#b7791f',
};

export function OverviewPage() {
  const overview = useLoad(() => api.get<Overview>('/overview'));
  const counts = useLoad(async () => {
    const [certs, cas, hosts, devices] = await Promise.all([
      api.list('/client_certificates?status=active&per_page=1'),
      api.list('/mtls_certificates?per_page=1'),
      api.list('/hostnames?per_page=1'),
      api.get<unknown[]>('/devices'),
    ]);
    return {
      certs: certs.info?.total_count ?? 0,
      cas: cas.info?.total_count ?? 0,
      hosts: hosts.info?.total_count ?? 0,
      devices: devices.length,
    };
  });
  const posture = useLoad(() => postureDailyPassRate(14));

  const o = overview.data;
  const buckets = o?.certificates_expiring.buckets ?? [];
  const labels = buckets.map((b) => new Date(b.start).toISOString().slice(5, 10));
  return (
    <Page title="Overview">
      <LoadError error={overview.error ?? counts.error} />
      <div className="stats">
        <Stat label="Active client certificates" value={counts.data?.certs} />
        <Stat label="Certificate authorities" value={counts.data?.cas} />
        <Stat label="Hostnames" value={counts.data?.hosts} />
        <Stat label="Devices" value={counts.data?.devices} />
      </div>
      <div className="grid2">
        <Card title="Certificates expiring in the next 90 days" testId="chart-expiring">
          {buckets.every((b) => b.client_certificates + b.certificate_authorities === 0) ? (
            <Empty>Nothing expires in the next 90 days.</Empty>
          ) : null}
          <BarChart
            title="Certificates expiring per week"
            labels={labels}
            series={[
              {
                label: 'client certificates',
                color: '#2f5fd0',
                values: buckets.map((b) => b.client_certificates),
              },
              { label: 'CAs', color: '#b7791f', values: buckets.map((b) => b.certificate_authorities) },
            ]}
          />
        </Card>
        <Card title="Edge requests by certificate status" testId="chart-edge">
          {o && o.edge_requests.length === 0 ? (
            <Empty>No edge requests since the edge started.</Empty>
          ) : (
            <HBars
              title="Edge requests by certificate status"
              rows={(o?.edge_requests ?? []).map((r) => ({
                label: r.cert_status,
                value: r.count,
                color: STATUS_COLORS[r.cert_status] ?? '#6b7385',
              }))}
            />
          )}
        </Card>
        <Card title="Posture pass rate (last 14 days)" testId="chart-posture">
          <LoadError error={posture.error} />
          {posture.data && posture.data.every((d) => d.rate === null) ? (
            <Empty>No posture results yet.</Empty>
          ) : null}
          <LineChart
            title="Posture pass rate per day"
            color="#1f8a4c"
            labels={(posture.data ?? []).map((d) => d.day.slice(5))}
            values={(posture.data ?? []).map((d) => d.rate)}
          />
        </Card>
      </div>
    </Page>
  );
}

function Stat(props: { label: string; value: number | undefined }) {
  return (
    <div className="card">
      <div className="muted">{props.label}</div>
      <div className="stat">{props.value ?? '…'}</div>
    </div>
  );
}
