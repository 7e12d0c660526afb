import { useState } from 'react';
import { api } from '../../api';
import { Badge, useLoad } from '../../components';
import { ResourceListPage } from '../../components/ResourceList';
import type { AccessApp, IdentityProvider, PostureRule, ServiceToken } from '../../types';
import { listPostureRules } from '../posture';
import { AppForm } from './AppForm';
import { IdentityProviders } from './IdentityProviders';
import { ServiceTokens } from './ServiceTokens';

export function AccessPage() {
  const apps = useLoad(() => api.get<AccessApp[]>('/access/apps'));
  const tokens = useLoad(() => api.get<ServiceToken[]>('/access/service_tokens'));
  const idps = useLoad(() => api.get<IdentityProvider[]>('/identity_providers'));
  const posture = useLoad(() => listPostureRules().catch(() => [] as PostureRule[]));
  const [revocation, setRevocation] = useState<{ ok?: string; error?: string }>({});
  // Every session of the app is refused from the edges' next reload on: users and devices pass
  // the policies again (a login, a certificate…) to get a new one.
  const revokeSessions = async (a: AccessApp) => {
    if (!confirm(`Revoke every session of ${a.name}? Users and devices must pass its policies again.`))
      return;
    try {
      await api.post('/access/sessions/revocations', { app_id: a.id });
      setRevocation({ ok: `Sessions of ${a.name} revoked.` });
    } catch (err) {
      setRevocation({ error: err instanceof Error ? err.message : String(err) });
    }
  };
  return (
    <ResourceListPage
      title="Access"
      addLabel="Add application"
      error={apps.error ?? tokens.error ?? idps.error ?? revocation.error}
      notice={
        revocation.ok && (
          <div className="notice" role="status">
            {revocation.ok}
          </div>
        )
      }
      cardTitle="Applications"
      cardTestId="apps"
      items={apps.data}
      reload={apps.reload}
      empty="No application. Without one, a hostname only applies its client-certificate mode."
      rowKey={(a) => a.id}
      columns={[
        { header: 'Name', cell: (a) => a.name },
        { header: 'Domain', cell: (a) => a.domain },
        {
          header: 'Policies',
          cell: (a) =>
            a.policies.map((p) => (
              <div key={p.name}>
                <Badge tone={p.decision === 'deny' ? 'bad' : p.decision === 'bypass' ? 'warn' : 'good'}>
                  {p.decision}
                </Badge>{' '}
                {p.name}
              </div>
            )),
        },
        { header: 'Session', cell: (a) => a.session_duration },
        { header: 'Audience tag', cell: (a) => `${a.aud.slice(0, 16)}…`, className: 'mono' },
      ]}
      rowActions={(a) => (
        <button type="button" className="small ghost" onClick={() => void revokeSessions(a)}>
          Revoke sessions
        </button>
      )}
      edit={(p) => (
        <AppForm {...p} tokens={tokens.data ?? []} idps={idps.data ?? []} posture={posture.data ?? []} />
      )}
    >
      <ServiceTokens tokens={tokens.data ?? []} reload={tokens.reload} />
      <IdentityProviders idps={idps.data ?? []} reload={idps.reload} />
    </ResourceListPage>
  );
}
