import { api } from '../../api';
import { Badge, Expiry, useLoad } from '../../components';
import { ResourceListPage } from '../../components/ResourceList';
import type { Hostname, MtlsCertificate } from '../../types';
import { HostnameForm } from './HostnameForm';

const MODE_TONE = { off: 'muted', report: 'info', enforce: 'good' } as const;

export function HostnamesPage() {
  const hosts = useLoad(() => api.list<Hostname>('/hostnames?per_page=1000'));
  const cas = useLoad(() => api.list<MtlsCertificate>('/mtls_certificates?per_page=1000'));
  const caName = (id: string) => cas.data?.items.find((c) => c.id === id)?.name ?? id;
  return (
    <ResourceListPage
      title="Hostnames"
      addLabel="Add hostname"
      error={hosts.error ?? cas.error}
      items={hosts.data?.items}
      reload={hosts.reload}
      empty="No hostname behind the edge yet."
      rowKey={(h) => h.id}
      rowTestId={(h) => `host-${h.hostname}`}
      columns={[
        { header: 'Hostname', cell: (h) => h.hostname },
        { header: 'Origin', cell: (h) => h.origin, className: 'mono' },
        {
          header: 'Client certificates',
          cell: (h) => <Badge tone={MODE_TONE[h.client_auth.mode]}>{h.client_auth.mode}</Badge>,
        },
        {
          header: 'CAs',
          cell: (h) => h.client_auth.mtls_certificate_ids.map(caName).join(', ') || 'organization CA',
        },
        {
          header: 'Headers',
          cell: (h) => (
            <>
              {h.client_auth.forward.styles.join(', ')}
              {h.client_auth.forward.custom.length > 0 && (
                <span className="sub">+{h.client_auth.forward.custom.length} custom</span>
              )}
            </>
          ),
        },
        {
          header: 'Server certificate',
          cell: (h) => (
            <>
              {h.tls.source}
              <span className="sub">
                <Expiry iso={h.tls.expires_on} />
              </span>
            </>
          ),
        },
      ]}
      edit={(p) => <HostnameForm {...p} cas={cas.data?.items ?? []} />}
    />
  );
}
