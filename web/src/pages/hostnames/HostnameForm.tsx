import { useState } from 'react';
import { errorFor } from '../../api';
import { MODES } from '../../api/contract';
import { CheckList, Field } from '../../components';
import { EditDialog, useResourceForm } from '../../components/EditDialog';
import type { EditProps } from '../../components/ResourceList';
import type { BlockResponse, ForwardConfig, Hostname, Mode, MtlsCertificate } from '../../types';
import { BlockResponseFields, parseBlockJson } from './BlockResponseFields';
import { ForwardFields } from './ForwardFields';

export function HostnameForm(props: EditProps<Hostname> & { cas: MtlsCertificate[] }) {
  const h = props.item;
  const [hostname, setHostname] = useState(h?.hostname ?? '');
  const [origin, setOrigin] = useState(h?.origin ?? 'http://127.0.0.1:9000');
  // The API never returns a custom certificate's private key, and a save without `tls` means "the
  // organization CA issues one": keeping a custom certificate needs it pasted again.
  const [tlsSource, setTlsSource] = useState<'org' | 'custom'>(h?.tls.source ?? 'org');
  const [tlsCert, setTlsCert] = useState('');
  const [tlsKey, setTlsKey] = useState('');
  const [mode, setMode] = useState<Mode>(h?.client_auth.mode ?? 'off');
  const [caIds, setCaIds] = useState<string[]>(h?.client_auth.mtls_certificate_ids ?? []);
  const [forward, setForward] = useState<ForwardConfig>(
    h?.client_auth.forward ?? { styles: ['gatehouse'], custom: [] },
  );
  const block: BlockResponse = h?.client_auth.block_response ?? {};
  const [blockJson, setBlockJson] = useState(
    block.json === undefined ? '' : JSON.stringify(block.json, null, 2),
  );
  const [blockHtml, setBlockHtml] = useState(block.html ?? '');
  const form = useResourceForm({
    collection: '/hostnames',
    id: h?.id,
    onSaved: props.onSaved,
    byCode: {
      invalid_hostname: 'hostname',
      hostname_exists: 'hostname',
      invalid_origin: 'origin',
      missing_ca: 'client_auth/mtls_certificate_ids',
      invalid_block_response: 'client_auth/block_response/html',
    },
  });
  const errors = form.errors;

  const submit = () => {
    const json = parseBlockJson(blockJson);
    if (json.error) return form.setErrors({ 'client_auth/block_response/json': json.error });
    if (tlsSource === 'custom' && (!tlsCert.trim() || !tlsKey.trim()))
      return form.setErrors({
        'tls/certificate':
          'paste the certificate chain and its private key (the API never returns a stored key)',
      });
    void form.save({
      hostname,
      origin,
      ...(tlsSource === 'custom' ? { tls: { certificate: tlsCert, private_key: tlsKey } } : {}),
      client_auth: {
        mode,
        mtls_certificate_ids: caIds,
        forward,
        block_response: {
          ...(blockJson.trim() ? { json: json.value } : {}),
          ...(blockHtml ? { html: blockHtml } : {}),
        },
      },
    });
  };

  return (
    <EditDialog
      title={h ? `Edit ${h.hostname}` : 'Add hostname'}
      form={form}
      onSubmit={submit}
      onClose={props.onClose}
      save="Save"
      cancel
      deleteLabel="Delete hostname"
      deleteQuestion={h && `Remove ${h.hostname} from the edge?`}
    >
      <div className="row">
        <Field label="Hostname" error={errorFor(errors, 'hostname')}>
          <input name="hostname" value={hostname} onChange={(e) => setHostname(e.target.value)} />
        </Field>
        <Field label="Origin" error={errorFor(errors, 'origin')}>
          <input name="origin" value={origin} onChange={(e) => setOrigin(e.target.value)} />
        </Field>
      </div>
      <Field label="Server certificate" error={errors.tls}>
        <div className="checks" role="radiogroup">
          <label>
            <input
              type="radio"
              name="tls-source"
              checked={tlsSource === 'org'}
              onChange={() => setTlsSource('org')}
            />
            issued by the organization CA
          </label>
          <label>
            <input
              type="radio"
              name="tls-source"
              checked={tlsSource === 'custom'}
              onChange={() => setTlsSource('custom')}
            />
            my own certificate
          </label>
        </div>
        {h?.tls.source === 'custom' && tlsSource === 'org' && (
          <span className="hint">
            Saving replaces the custom certificate with one the organization CA issues.
          </span>
        )}
      </Field>
      {tlsSource === 'custom' && (
        <div className="grid2">
          <Field
            label="Certificate chain (PEM, leaf first)"
            error={errorFor(errors, 'tls/certificate')}
            hint={h?.tls.source === 'custom' ? 'Paste it again to keep the current one.' : undefined}
          >
            <textarea name="tls-certificate" value={tlsCert} onChange={(e) => setTlsCert(e.target.value)} />
          </Field>
          <Field label="Private key (PEM)" error={errorFor(errors, 'tls/private_key')}>
            <textarea name="tls-key" value={tlsKey} onChange={(e) => setTlsKey(e.target.value)} />
          </Field>
        </div>
      )}
      <Field label="Client certificate mode" error={errorFor(errors, 'client_auth/mode')}>
        <div className="checks" role="radiogroup">
          {MODES.map((m) => (
            <label key={m}>
              <input type="radio" name="mode" value={m} checked={mode === m} onChange={() => setMode(m)} />
              {m}
            </label>
          ))}
        </div>
      </Field>
      <Field
        label="Trusted CAs"
        error={errorFor(errors, 'client_auth/mtls_certificate_ids')}
        hint="None selected: the organization CA."
      >
        <CheckList
          options={props.cas.map((ca) => ({ value: ca.id, label: ca.name, name: `ca-${ca.name}` }))}
          selected={caIds}
          onChange={setCaIds}
        />
      </Field>
      <Field label="Forwarded headers" error={errorFor(errors, 'client_auth/forward')}>
        <ForwardFields forward={forward} onChange={setForward} />
      </Field>
      <BlockResponseFields
        json={blockJson}
        html={blockHtml}
        onJson={setBlockJson}
        onHtml={setBlockHtml}
        errors={errors}
      />
    </EditDialog>
  );
}
