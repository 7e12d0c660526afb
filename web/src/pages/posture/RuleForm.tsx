import { useState } from 'react';
import { errorFor } from '../../api';
import { EXTENDED_KEY_USAGES, PLATFORMS, type PostureInput, TRUST_STORES } from '../../api/contract';
import { Checkbox, CheckList, Field } from '../../components';
import { EditDialog, useResourceForm } from '../../components/EditDialog';
import type { EditProps } from '../../components/ResourceList';
import type { ExtendedKeyUsage, MtlsCertificate, Platform, PostureRule, TrustStore } from '../../types';

const EKU_LABEL: Record<ExtendedKeyUsage, string> = {
  clientAuth: 'Client authentication',
  emailProtection: 'E-mail protection',
};

export function RuleForm(props: EditProps<PostureRule> & { cas: MtlsCertificate[] }) {
  const r = props.item;
  const input: PostureInput | undefined = r?.input;
  const [type, setType] = useState<PostureRule['type']>(r?.type ?? 'client_certificate_v2');
  const legacy = type === 'client_certificate';
  const [name, setName] = useState(r?.name ?? '');
  const [description, setDescription] = useState(r?.description ?? '');
  const [schedule, setSchedule] = useState(r?.schedule ?? '5m');
  const [expiration, setExpiration] = useState(r ? (r.expiration ?? '') : '1h');
  const [platforms, setPlatforms] = useState<Platform[]>(r ? r.match.map((m) => m.platform) : ['linux']);
  const [certificateId, setCertificateId] = useState(input?.certificate_id ?? '');
  const [os, setOs] = useState<Platform>(input?.operating_system ?? 'linux');
  const [cn, setCn] = useState(input?.cn ?? '');
  const [checkKey, setCheckKey] = useState(input?.check_private_key ?? true);
  const [ekus, setEkus] = useState<ExtendedKeyUsage[]>(input?.extended_key_usage ?? []);
  const [paths, setPaths] = useState((input?.locations?.paths ?? []).join('\n'));
  const [stores, setStores] = useState<TrustStore[]>(input?.locations?.trust_stores ?? []);
  const form = useResourceForm({
    collection: '/devices/posture',
    id: r?.id,
    onSaved: props.onSaved,
    byCode: { unknown_certificate: 'input/certificate_id', certificate_not_found: 'input/certificate_id' },
  });
  const errors = form.errors;

  const submit = () => {
    const pathList = paths
      .split('\n')
      .map((p) => p.trim())
      .filter(Boolean);
    void form.save({
      name,
      type,
      ...(description ? { description } : {}),
      schedule,
      ...(expiration ? { expiration } : {}),
      match: platforms.map((platform) => ({ platform })),
      // The older client_certificate type takes only the CA and the common name.
      input: legacy
        ? { certificate_id: certificateId, cn }
        : {
            certificate_id: certificateId,
            operating_system: os,
            check_private_key: checkKey,
            ...(cn ? { cn } : {}),
            ...(ekus.length ? { extended_key_usage: ekus } : {}),
            ...(pathList.length || stores.length
              ? {
                  locations: {
                    ...(pathList.length ? { paths: pathList } : {}),
                    ...(stores.length ? { trust_stores: stores } : {}),
                  },
                }
              : {}),
          },
    });
  };
  return (
    <EditDialog
      title={r ? `Edit ${r.name}` : 'Client certificate rule'}
      form={form}
      onSubmit={submit}
      onClose={props.onClose}
      save="Save rule"
      deleteQuestion={r && `Delete the posture rule ${r.name}?`}
    >
      <div className="row">
        <Field label="Name" error={errorFor(errors, 'name')}>
          <input name="rule-name" value={name} onChange={(e) => setName(e.target.value)} />
        </Field>
        <Field label="Description" error={errorFor(errors, 'description')}>
          <input name="description" value={description} onChange={(e) => setDescription(e.target.value)} />
        </Field>
      </div>
      <div className="row">
        <Field label="Type" error={errorFor(errors, 'type')}>
          <select name="type" value={type} onChange={(e) => setType(e.target.value as PostureRule['type'])}>
            <option value="client_certificate_v2">client certificate (v2)</option>
            <option value="client_certificate">client certificate (legacy: CA and common name)</option>
          </select>
        </Field>
        {!legacy && (
          <Field label="Operating system" error={errorFor(errors, 'input/operating_system')}>
            <select name="operating_system" value={os} onChange={(e) => setOs(e.target.value as Platform)}>
              {PLATFORMS.map((p) => (
                <option key={p}>{p}</option>
              ))}
            </select>
          </Field>
        )}
        <Field label="Certificate (CA)" error={errorFor(errors, 'input/certificate_id')}>
          <select
            name="certificate_id"
            value={certificateId}
            onChange={(e) => setCertificateId(e.target.value)}
          >
            <option value="">choose a CA…</option>
            {props.cas.map((c) => (
              <option key={c.id} value={c.id}>
                {c.name}
              </option>
            ))}
          </select>
        </Field>
      </div>
      <Field
        label="Common name"
        error={errorFor(errors, 'input/cn')}
        hint={`${legacy ? 'Required' : 'Optional'}. \${serial_number} and \${hostname} are replaced with the device's.`}
      >
        <input
          name="cn"
          value={cn}
          placeholder="${hostname}.example.com"
          onChange={(e) => setCn(e.target.value)}
        />
      </Field>
      {!legacy && (
        <>
          <Field label="Extended key usage" error={errorFor(errors, 'input/extended_key_usage')}>
            <CheckList
              options={EXTENDED_KEY_USAGES.map((k) => ({ value: k, label: EKU_LABEL[k] }))}
              selected={ekus}
              onChange={setEkus}
            />
          </Field>
          <Checkbox name="check_private_key" checked={checkKey} onChange={setCheckKey}>
            Check for private key (the device proves it holds the certificate&apos;s key)
          </Checkbox>
          <Field
            label="Locations: certificate paths"
            error={errorFor(errors, 'input/locations')}
            hint="One absolute path per line (PEM). Empty: the NSS database."
          >
            <textarea
              name="paths"
              value={paths}
              onChange={(e) => setPaths(e.target.value)}
              style={{ minHeight: 60 }}
            />
          </Field>
          <Field label="Locations: trust stores" error={errorFor(errors, 'input/locations/trust_stores')}>
            <CheckList
              options={TRUST_STORES.map((s) => ({ value: s, label: s }))}
              selected={stores}
              onChange={setStores}
            />
          </Field>
        </>
      )}
      <div className="row">
        <Field label="Platforms" error={errorFor(errors, 'match')}>
          <CheckList
            options={PLATFORMS.map((p) => ({ value: p, label: p }))}
            selected={platforms}
            onChange={setPlatforms}
          />
        </Field>
        <Field label="Schedule" error={errorFor(errors, 'schedule')}>
          <input name="schedule" value={schedule} onChange={(e) => setSchedule(e.target.value)} />
        </Field>
        <Field label="Expiration" error={errorFor(errors, 'expiration')}>
          <input name="expiration" value={expiration} onChange={(e) => setExpiration(e.target.value)} />
        </Field>
      </div>
    </EditDialog>
  );
}
