import { type FormEvent, useState } from 'react';
import { api, confirmDelete, errorFor, saveResource } from '../api';
import {
  Badge,
  Card,
  Empty,
  Expiry,
  Field,
  FormButtons,
  FormError,
  LoadError,
  Modal,
  Page,
  useLoad,
} from '../components';
import { CERTIFICATE_FIELDS, HEADER_STYLES, MODES } from '../api/contract';
import type {
  BlockResponse,
  CertificateField,
  ForwardConfig,
  HeaderStyle,
  Hostname,
  Mode,
  MtlsCertificate,
} from '../types';

const STYLE_LABEL: Record<HeaderStyle, string> = {
  gatehouse: 'Gatehouse-Client-Cert-* headers',
  rfc9440: 'RFC 9440 Client-Cert',
  xfcc: 'Envoy X-Forwarded-Client-Cert',
};
const MODE_TONE = { off: 'muted', report: 'info', enforce: 'good' } as const;

export function HostnamesPage() {
  const hosts = useLoad(() => api.list<Hostname>('/hostnames?per_page=1000'));
  const cas = useLoad(() => api.list<MtlsCertificate>('/mtls_certificates?per_page=1000'));
  const [editing, setEditing] = useState<Hostname | 'new' | undefined>();
  const caName = (id: string) => cas.data?.items.find((c) => c.id === id)?.name ?? id;
  return (
    <Page
      title="Hostnames"
      actions={
        <button type="button" className="primary" onClick={() => setEditing('new')}>
          Add hostname
        </button>
      }
    >
      <LoadError error={hosts.error ?? cas.error} />
      <Card>
        {hosts.data && hosts.data.items.length === 0 ? (
          <Empty>No hostname behind the edge yet.</Empty>
        ) : (
          <table>
            <thead>
              <tr>
                <th>Hostname</th>
                <th>Origin</th>
                <th>Client certificates</th>
                <th>CAs</th>
                <th>Headers</th>
                <th>Server certificate</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {hosts.data?.items.map((h) => (
                <tr key={h.id} data-testid={`host-${h.hostname}`}>
                  <td>{h.hostname}</td>
                  <td className="mono">{h.origin}</td>
                  <td>
                    <Badge tone={MODE_TONE[h.client_auth.mode]}>{h.client_auth.mode}</Badge>
                  </td>
                  <td>{h.client_auth.mtls_certificate_ids.map(caName).join(', ') || 'organization CA'}</td>
                  <td>
                    {h.client_auth.forward.styles.join(', ')}
                    {h.client_auth.forward.custom.length > 0 && (
                      <span className="sub">+{h.client_auth.forward.custom.length} custom</span>
                    )}
                  </td>
                  <td>
                    {h.tls.source}
                    <span className="sub">
                      <Expiry iso={h.tls.expires_on} />
                    </span>
                  </td>
                  <td>
                    <button type="button" className="small secondary" onClick={() => setEditing(h)}>
                      Edit
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
      {editing && (
        <HostnameForm
          host={editing === 'new' ? undefined : editing}
          cas={cas.data?.items ?? []}
          onClose={() => setEditing(undefined)}
          onSaved={() => {
            setEditing(undefined);
            hosts.reload();
          }}
        />
      )}
    </Page>
  );
}

function HostnameForm(props: {
  host: Hostname | undefined;
  cas: MtlsCertificate[];
  onClose: () => void;
  onSaved: () => void;
}) {
  const h = props.host;
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
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);

  let parsedJson: unknown;
  let jsonError: string | undefined;
  if (blockJson.trim()) {
    try {
      parsedJson = JSON.parse(blockJson);
    } catch (e) {
      jsonError = `not valid JSON: ${(e as Error).message}`;
    }
  }

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (jsonError) {
      setErrors({ 'client_auth/block_response/json': jsonError });
      return;
    }
    if (tlsSource === 'custom' && (!tlsCert.trim() || !tlsKey.trim())) {
      setErrors({
        'tls/certificate':
          'paste the certificate chain and its private key (the API never returns a stored key)',
      });
      return;
    }
    setBusy(true);
    const body = {
      hostname,
      origin,
      ...(tlsSource === 'custom' ? { tls: { certificate: tlsCert, private_key: tlsKey } } : {}),
      client_auth: {
        mode,
        mtls_certificate_ids: caIds,
        forward,
        block_response: {
          ...(blockJson.trim() ? { json: parsedJson } : {}),
          ...(blockHtml ? { html: blockHtml } : {}),
        },
      },
    };
    const failed = await saveResource('/hostnames', h?.id, body, {
      invalid_hostname: 'hostname',
      hostname_exists: 'hostname',
      invalid_origin: 'origin',
      missing_ca: 'client_auth/mtls_certificate_ids',
      invalid_block_response: 'client_auth/block_response/html',
    });
    setBusy(false);
    if (failed) setErrors(failed);
    else props.onSaved();
  };

  const remove = async () => {
    if (!h) return;
    const r = await confirmDelete(`Remove ${h.hostname} from the edge?`, `/hostnames/${h.id}`);
    if (r.errors) setErrors(r.errors);
    else if (r.deleted) props.onSaved();
  };

  return (
    <Modal title={h ? `Edit ${h.hostname}` : 'Add hostname'} onClose={props.onClose}>
      <form onSubmit={(e) => void submit(e)}>
        <FormError error={errors._form} />
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
          <div className="checks">
            {props.cas.map((ca) => (
              <label key={ca.id}>
                <input
                  type="checkbox"
                  name={`ca-${ca.name}`}
                  checked={caIds.includes(ca.id)}
                  onChange={(e) =>
                    setCaIds(e.target.checked ? [...caIds, ca.id] : caIds.filter((id) => id !== ca.id))
                  }
                />
                {ca.name}
              </label>
            ))}
          </div>
        </Field>
        <Field label="Forwarded headers" error={errorFor(errors, 'client_auth/forward')}>
          <div className="checks">
            {HEADER_STYLES.map((id) => (
              <label key={id}>
                <input
                  type="checkbox"
                  checked={forward.styles.includes(id)}
                  onChange={(e) =>
                    setForward({
                      ...forward,
                      styles: e.target.checked
                        ? [...forward.styles, id]
                        : forward.styles.filter((x) => x !== id),
                    })
                  }
                />
                {STYLE_LABEL[id]}
              </label>
            ))}
          </div>
          {forward.custom.map((c, i) => (
            <div className="rule" key={i}>
              <input
                aria-label="Header name"
                value={c.header}
                placeholder="X-Client-CN"
                onChange={(e) =>
                  setForward({
                    ...forward,
                    custom: forward.custom.map((x, j) => (j === i ? { ...x, header: e.target.value } : x)),
                  })
                }
              />
              ←
              <select
                aria-label="Certificate field"
                value={c.field}
                onChange={(e) =>
                  setForward({
                    ...forward,
                    custom: forward.custom.map((x, j) =>
                      j === i ? { ...x, field: e.target.value as CertificateField } : x,
                    ),
                  })
                }
              >
                {CERTIFICATE_FIELDS.map((f) => (
                  <option key={f}>{f}</option>
                ))}
              </select>
              <button
                type="button"
                className="small ghost"
                onClick={() => setForward({ ...forward, custom: forward.custom.filter((_, j) => j !== i) })}
              >
                Remove
              </button>
            </div>
          ))}
          <div>
            <button
              type="button"
              className="small secondary"
              onClick={() =>
                setForward({ ...forward, custom: [...forward.custom, { header: '', field: 'subject.CN' }] })
              }
            >
              Add custom header
            </button>
          </div>
        </Field>
        <div className="grid2">
          <div>
            <Field
              label="Block response: JSON"
              error={jsonError ?? errorFor(errors, 'client_auth/block_response/json')}
              hint="Sent with 403 when the client accepts application/json."
            >
              <textarea
                name="block_json"
                value={blockJson}
                onChange={(e) => setBlockJson(e.target.value)}
                placeholder='{ "error": "client certificate required" }'
              />
            </Field>
            <Field
              label="Block response: HTML"
              error={errorFor(errors, 'client_auth/block_response/html')}
              hint="Sent with 403 to browsers."
            >
              <textarea name="block_html" value={blockHtml} onChange={(e) => setBlockHtml(e.target.value)} />
            </Field>
          </div>
          <div>
            <span className="label">Preview</span>
            {blockHtml ? (
              // sandbox="" with srcdoc: the admin's HTML renders without scripts, forms or same-origin access.
              <iframe className="preview" title="HTML block response preview" sandbox="" srcDoc={blockHtml} />
            ) : (
              <p className="muted">No HTML: browsers get the default block page.</p>
            )}
            {blockJson.trim() && !jsonError && <pre>{JSON.stringify(parsedJson, null, 2)}</pre>}
          </div>
        </div>
        <FormButtons
          save="Save"
          busy={busy}
          onCancel={props.onClose}
          deleteLabel="Delete hostname"
          onDelete={h ? () => void remove() : undefined}
        />
      </form>
    </Modal>
  );
}
