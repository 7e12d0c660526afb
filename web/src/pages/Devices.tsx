import { type FormEvent, useState } from 'react';
import { api, errorFor, fieldErrors } from '../api';
import {
  Badge,
  Card,
  Empty,
  Expiry,
  Field,
  fmtDate,
  FormError,
  LoadError,
  Modal,
  Page,
  useLoad,
} from '../components';
import type { Device, OrgSettings, ServiceToken } from '../types';

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
  return (
    <Page title="Devices">
      <LoadError error={devices.error ?? settings.error} />
      <Card title="Devices and registrations" testId="devices">
        {devices.data?.length === 0 ? (
          <Empty>
            No device has registered yet. Devices register with a service token: see docs/agent.md.
          </Empty>
        ) : (
          <table>
            <thead>
              <tr>
                <th>Device</th>
                <th>Mode</th>
                <th>Registered by</th>
                <th>Key protection</th>
                <th>Status</th>
                <th>Certificate expires</th>
                <th>Last seen</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {devices.data?.flatMap((d) =>
                (d.registrations.length ? d.registrations : [undefined]).map((r, i) => (
                  <tr key={`${d.id}-${r?.id ?? i}`} data-testid={`device-${d.name}`}>
                    <td>
                      {i === 0 && (
                        <>
                          {d.name}
                          <span className="sub">
                            {[d.os, d.serial_number, d.hostname].filter(Boolean).join(' · ') || d.id}
                          </span>
                        </>
                      )}
                    </td>
                    <td>
                      {r && (
                        <>
                          {r.mode === 'hardware_backed' ? 'hardware-backed' : 'standard'}{' '}
                          {r.hardware_backed && <Badge tone="good">hardware key</Badge>}
                        </>
                      )}
                    </td>
                    <td>{r && enrolledBy(r.enrolled_by, r.enrolled_identity?.email)}</td>
                    <td>
                      {r?.key_protection}{' '}
                      {r?.assurance === 'tpm_attested' && <Badge tone="good">TPM attested</Badge>}
                      {r?.assurance === 'hardware_claimed' && <Badge tone="warn">claimed</Badge>}
                    </td>
                    <td>{r && <Badge tone={r.status === 'active' ? 'good' : 'muted'}>{r.status}</Badge>}</td>
                    <td>{r?.certificate_expires_on ? <Expiry iso={r.certificate_expires_on} /> : '—'}</td>
                    <td>{fmtDate(r?.last_seen)}</td>
                    <td>
                      {r?.status === 'active' && (
                        <button
                          type="button"
                          className="small danger"
                          onClick={() => void revoke(r.id, d.name)}
                        >
                          Revoke
                        </button>
                      )}
                      {r && rowError[r.id] && <span className="field-error">{rowError[r.id]}</span>}
                    </td>
                  </tr>
                )),
              )}
            </tbody>
          </table>
        )}
      </Card>
      {settings.data && (
        <SettingsCard settings={settings.data} devices={devices.data ?? []} onSaved={settings.reload} />
      )}
    </Page>
  );
}

/** Pure: which active registrations a settings change forces to register again. */
export function mustRegisterAgain(
  devices: Device[],
  next: Pick<OrgSettings, 'require_hardware_backed_registration'>,
  current: OrgSettings,
): string[] {
  if (!next.require_hardware_backed_registration || current.require_hardware_backed_registration) return [];
  return devices
    .filter((d) =>
      d.registrations.some(
        (r) => r.status === 'active' && (!r.hardware_backed || r.key_protection === 'software'),
      ),
    )
    .map((d) => d.name);
}

function SettingsCard(props: { settings: OrgSettings; devices: Device[]; onSaved: () => void }) {
  const [validity, setValidity] = useState(props.settings.device_certificate_validity);
  const [requireHw, setRequireHw] = useState(props.settings.require_hardware_backed_registration);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [confirming, setConfirming] = useState<string[] | undefined>();
  const [saved, setSaved] = useState(false);
  const next = { device_certificate_validity: validity, require_hardware_backed_registration: requireHw };

  const save = async () => {
    setConfirming(undefined);
    try {
      await api.patch('/organization/settings', next);
      setErrors({});
      setSaved(true);
      props.onSaved();
    } catch (err) {
      setErrors(fieldErrors(err, { invalid_duration: 'device_certificate_validity' }));
    }
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setSaved(false);
    const affected = mustRegisterAgain(props.devices, next, props.settings);
    if (affected.length > 0 || requireHw !== props.settings.require_hardware_backed_registration)
      setConfirming(affected);
    else void save();
  };
  return (
    <Card title="Organization settings (Settings › Devices)" testId="org-settings">
      <form onSubmit={submit}>
        <FormError error={errors._form} />
        {saved && <div className="notice">Saved.</div>}
        <Field
          label="Device certificate validity"
          error={errorFor(errors, 'device_certificate_validity')}
          hint='For hardware-backed registrations, e.g. "90d", "12h". Applies to new and renewed certificates.'
        >
          <input
            name="device_certificate_validity"
            value={validity}
            onChange={(e) => setValidity(e.target.value)}
          />
        </Field>
        <label className="checks">
          <input
            type="checkbox"
            name="require_hardware_backed_registration"
            checked={requireHw}
            onChange={(e) => setRequireHw(e.target.checked)}
          />
          Require hardware-backed registration (standard and software-key registrations are refused)
        </label>
        <div className="actions" style={{ marginTop: 12 }}>
          <button type="submit" className="primary">
            Save settings
          </button>
        </div>
      </form>
      {confirming && (
        <Modal title="Confirm the change" onClose={() => setConfirming(undefined)}>
          {requireHw ? (
            confirming.length > 0 ? (
              <>
                <p>
                  From now on only hardware-backed registrations are accepted (a TPM or PKCS#11 key and a
                  CSR). These devices are registered without one and must <strong>register again</strong>,
                  hardware-backed, to comply: their current registrations keep working until revoked, and a
                  standard or software-key registration is refused from now on.
                </p>
                <ul data-testid="affected-devices">
                  {confirming.map((n) => (
                    <li key={n}>{n}</li>
                  ))}
                </ul>
              </>
            ) : (
              <p>
                From now on only hardware-backed registrations are accepted. No registered device is affected.
              </p>
            )
          ) : (
            <p>
              Standard and software-key registrations will be accepted again. No device has to register again.
            </p>
          )}
          <div className="actions">
            <button type="button" className="primary" onClick={() => void save()}>
              Confirm and save
            </button>
            <button type="button" onClick={() => setConfirming(undefined)}>
              Cancel
            </button>
          </div>
        </Modal>
      )}
    </Card>
  );
}
