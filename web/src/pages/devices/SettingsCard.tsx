import { type FormEvent, useState } from 'react';
import { api, errorFor, fieldErrors } from '../../api';
import { Card, Checkbox, Field, FormError, Modal } from '../../components';
import type { Device, OrgSettings } from '../../types';

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

export function SettingsCard(props: { settings: OrgSettings; devices: Device[]; onSaved: () => void }) {
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
        <Checkbox name="require_hardware_backed_registration" checked={requireHw} onChange={setRequireHw}>
          Require hardware-backed registration (standard and software-key registrations are refused)
        </Checkbox>
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
