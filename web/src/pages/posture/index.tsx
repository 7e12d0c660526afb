import { api } from '../../api';
import type { PostureInput } from '../../api/contract';
import { Badge, useLoad } from '../../components';
import { ResourceListPage } from '../../components/ResourceList';
import type { MtlsCertificate, PostureRule } from '../../types';
import { listPostureRules } from './data';
import { RuleForm } from './RuleForm';

export { PostureLogsPage } from './Logs';
export { listPostureRules, postureDailyPassRate } from './data';

export function PosturePage() {
  const rules = useLoad(listPostureRules);
  const cas = useLoad(() => api.list<MtlsCertificate>('/mtls_certificates?per_page=1000'));
  const caName = (id: string) => cas.data?.items.find((c) => c.id === id)?.name ?? id;
  const input = (r: PostureRule): PostureInput => r.input;
  return (
    <ResourceListPage
      title="Posture"
      addLabel="Add client certificate rule"
      error={rules.error ?? cas.error}
      cardTitle="Device posture rules"
      cardTestId="posture-rules"
      items={rules.data}
      reload={rules.reload}
      empty="No posture rule. A rule checks that devices hold a certificate signed by a CA you trust."
      rowKey={(r) => r.id}
      rowTestId={(r) => `rule-${r.name}`}
      columns={[
        {
          header: 'Name',
          cell: (r) => (
            <>
              {r.name}
              <span className="sub mono">{r.id}</span>
            </>
          ),
        },
        { header: 'Certificate (CA)', cell: (r) => caName(r.input.certificate_id) },
        { header: 'Common name', cell: (r) => input(r).cn ?? '—', className: 'mono' },
        { header: 'Platforms', cell: (r) => r.match.map((m) => m.platform).join(', ') || 'all' },
        {
          header: 'Checks',
          cell: (r) => (
            <>
              {input(r).check_private_key && <Badge tone="info">private key</Badge>}{' '}
              {(input(r).extended_key_usage ?? []).map((e) => (
                <Badge key={e}>{e}</Badge>
              ))}
            </>
          ),
        },
        {
          header: 'Schedule',
          cell: (r) => (
            <>
              every {r.schedule}
              <span className="sub">
                {r.expiration ? `valid for ${r.expiration}` : 'valid until replaced'}
              </span>
            </>
          ),
        },
      ]}
      edit={(p) => <RuleForm {...p} cas={cas.data?.items ?? []} />}
    />
  );
}
