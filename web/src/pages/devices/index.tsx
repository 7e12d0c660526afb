import { useState } from 'react';
import { api } from '../../api';
import { ASSURANCE_LEVELS, type Assurance } from '../../api/contract';
import { Badge, Card, Expiry, Field, fmtDate, LoadError, Page, useLoad } from '../../components';
import { ResourceTable } from '../../components/ResourceList';
import type { Device, DeviceRegistrationSummary, OrgSettings, ServiceToken } from '../../types';
import { SettingsCard } from './SettingsCard';

export { mustRegisterAgain } from './SettingsCard';

/** A row of the table: a registration under its device (the device's name on its first row only). */
interface Row {
  device: Device;
  registration: DeviceRegistrationSummary | undefined;
  first: boolean;
  key: string;
}

export function DevicesPage() {
  const devices = useLoad(() => api.get<Device[]>('/devices'));
  const settings = useLoad(() => api.get<OrgSettings>('/organization/settings'));
  const tokens = useLoad(() => api.get<ServiceToken[]>('/access/service_tokens'));
  /** Who registered: the person (identity registration) or the service token, by name. */
  const enrolledBy = (by: string | undefined, email: string | undefined) => {
    if (email) return email;
    const tokenId = /^service_token:(.+)$/.exec(by ?? '')?.[1];
    if (!tokenId) return by ?? '';
    return `token ${tokens.data?.find((t) => t.id === tokenId)?.name ?? tokenId}`;
  };
  const [rowError, setRowError] = useState<Record<string, string>>({});
  /** Only registrations at this assurance level ('' = all). */
  const [assurance, setAssurance] = useState<Assurance | ''>('');
  const revoke = async (id: string, name: string) => {
    if (
      !confirm(`Revoke the registration of ${name}? Its token stops working and its certificate is revoked.`)
    )
      return;
    try {
      await api.del(`/registrations/${id}`);
      setRowError({});
      devices.reload();
    } catch (err) {
      setRowError({ [id]: String(err instanceof Error ? err.message : err) });
    }
  };
  const rows = devices.data?.flatMap((d) => {
    const shown = assurance ? d.registrations.filter((r) => r.assurance === assurance) : d.registrations;
    if (assurance && !shown.length) return [];
    return (shown.length ? shown : [undefined]).map((r, i): Row => ({
      device: d,
      registration: r,
      first: i === 0,
      key: `${d.id}-${r?.id ?? i}`,
    }));
  });
  return (
    <Page title="Devices">
      <LoadError error={devices.error ?? settings.error} />
      <Card title="Devices and registrations" testId="devices">
        <div className="filters">
          <Field label="Assurance">
            <select
              name="assurance"
              value={assurance}
              onChange={(e) => setAssurance(e.target.value as Assurance | '')}
            >
              <option value="">all</option>
              {ASSURANCE_LEVELS.map((level) => (
                <option key={level} value={level}>
                  {level}
                </option>
              ))}
            </select>
          </Field>
        </div>
        <ResourceTable
          items={rows}
          empty="No device has registered yet. Devices register with a service token: see docs/agent.md."
          rowKey={(row) => row.key}
          rowTestId={(row) => `device-${row.device.name}`}
          columns={[
            {
              header: 'Device',
              cell: ({ device: d, first }) =>
                first && (
                  <>
                    {d.name}
                    <span className="sub">
                      {[d.os, d.serial_number, d.hostname].filter(Boolean).join(' · ') || d.id}
                    </span>
                  </>
                ),
            },
            {
              header: 'Mode',
              cell: ({ registration: r }) =>
                r && (
                  <>
                    {r.mode === 'hardware_backed' ? 'hardware-backed' : 'standard'}{' '}
                    {r.hardware_backed && <Badge tone="good">hardware key</Badge>}
                  </>
                ),
            },
            {
              header: 'Registered by',
              cell: ({ registration: r }) => r && enrolledBy(r.enrolled_by, r.enrolled_identity?.email),
            },
            {
              header: 'Key protection',
              cell: ({ registration: r }) => (
                <>
                  {r?.key_protection}{' '}
                  {r?.assurance === 'tpm_attested' && <Badge tone="good">TPM attested</Badge>}
                  {r?.assurance === 'hardware_claimed' && <Badge tone="warn">claimed</Badge>}
                </>
              ),
            },
            {
              header: 'Status',
              cell: ({ registration: r }) =>
                r && <Badge tone={r.status === 'active' ? 'good' : 'muted'}>{r.status}</Badge>,
            },
            {
              header: 'Certificate expires',
              cell: ({ registration: r }) =>
                r?.certificate_expires_on ? <Expiry iso={r.certificate_expires_on} /> : '—',
            },
            { header: 'Last seen', cell: ({ registration: r }) => fmtDate(r?.last_seen) },
            {
              header: '',
              cell: ({ device: d, registration: r }) => (
                <>
                  {r?.status === 'active' && (
                    <button type="button" className="small danger" onClick={() => void revoke(r.id, d.name)}>
                      Revoke
                    </button>
                  )}
                  {r && rowError[r.id] && <span className="field-error">{rowError[r.id]}</span>}
                </>
              ),
            },
          ]}
        />
      </Card>
      {settings.data && (
        <SettingsCard settings={settings.data} devices={devices.data ?? []} onSaved={settings.reload} />
      )}
    </Page>
  );
}
