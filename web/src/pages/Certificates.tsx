import { type FormEvent, useState } from 'react';
import { api, ApiError, errorFor, fieldErrors } from '../api';
import {
  Badge,
  Card,
  CopyButton,
  Empty,
  Expiry,
  Field,
  FileDrop,
  fmtDate,
  FormError,
  LoadError,
  Modal,
  Page,
  Pager,
  shortFp,
  useLoad,
} from '../components';
import { CERTIFICATE_STATUSES, REVOCATION_REASONS } from '../api/contract';
import type {
  ClientCertificate,
  CrlInfo,
  Hostname,
  MtlsCertificate,
  Organization,
  RevocationReason,
} from '../types';
import { listPostureRules } from './Posture';

/** Which hostnames and posture rules name each CA: shown as "where used", and why delete may be refused. */
async function loadUsage(): Promise<Map<string, string[]>> {
  const [hosts, rules] = await Promise.all([
    api.list<Hostname>('/hostnames?per_page=1000'),
    listPostureRules().catch(() => []),
  ]);
  const usage = new Map<string, string[]>();
  const add = (id: string, what: string) => usage.set(id, [...(usage.get(id) ?? []), what]);
  for (const h of hosts.items)
    for (const id of h.client_auth.mtls_certificate_ids) add(id, `hostname ${h.hostname}`);
  for (const r of rules) if (r.input.certificate_id) add(r.input.certificate_id, `posture rule ${r.name}`);
  return usage;
}

export function CertificatesPage() {
  const org = useLoad(() => api.get<Organization>('/organization'));
  const cas = useLoad(() => api.list<MtlsCertificate>('/mtls_certificates?per_page=1000'));
  const usage = useLoad(loadUsage);
  const [uploading, setUploading] = useState(false);
  const [crlFor, setCrlFor] = useState<MtlsCertificate | undefined>();
  const [rowError, setRowError] = useState<Record<string, string>>({});

  const orgCa = cas.data?.items.find((c) => c.managed);
  const uploaded = cas.data?.items.filter((c) => !c.managed) ?? [];

  const remove = async (ca: MtlsCertificate) => {
    if (!confirm(`Delete the CA "${ca.name}"?`)) return;
    try {
      await api.del(`/mtls_certificates/${ca.id}`);
      setRowError({});
      cas.reload();
    } catch (err) {
      setRowError({ [ca.id]: err instanceof ApiError ? err.message : String(err) });
    }
  };

  return (
    <Page
      title="Certificates"
      actions={
        <button type="button" className="primary" onClick={() => setUploading(true)}>
          Add a new certificate
        </button>
      }
    >
      <LoadError error={org.error ?? cas.error} />
      <Card title="Organization CA" testId="org-ca">
        {orgCa && org.data ? (
          <table>
            <tbody>
              <tr>
                <th>Subject</th>
                <td>{orgCa.subject}</td>
              </tr>
              <tr>
                <th>Issuer</th>
                <td>{orgCa.issuer}</td>
              </tr>
              <tr>
                <th>Expires</th>
                <td>
                  <Expiry iso={orgCa.expires_on} />
                </td>
              </tr>
              <tr>
                <th>SHA-256</th>
                <td className="mono">{orgCa.fingerprint_sha256}</td>
              </tr>
              <tr>
                <th>Id</th>
                <td className="mono">{orgCa.id}</td>
              </tr>
              <tr>
                <th>CRLs</th>
                <td>
                  {org.data.crl_urls.map((u) => (
                    <a key={u} href={u} className="mono" style={{ display: 'block' }}>
                      {u}
                    </a>
                  ))}
                </td>
              </tr>
              <tr>
                <th>Used by</th>
                <td>{(usage.data?.get(orgCa.id) ?? ['client certificates issued here']).join(', ')}</td>
              </tr>
            </tbody>
          </table>
        ) : (
          <Empty>Loading…</Empty>
        )}
        {org.data && (
          <div className="actions" style={{ marginTop: 8 }}>
            <CopyButton value={org.data.ca_chain} label="Copy CA chain (PEM)" />
          </div>
        )}
      </Card>

      <Card title="Uploaded CAs (mTLS certificates)" testId="uploaded-cas">
        {uploaded.length === 0 ? (
          <Empty>No CA uploaded yet. Add one to trust client certificates your own PKI issues.</Empty>
        ) : (
          <table>
            <thead>
              <tr>
                <th>Name</th>
                <th>Issuer</th>
                <th>Expires</th>
                <th>SHA-256</th>
                <th>Where used</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {uploaded.map((ca) => (
                <tr key={ca.id} data-testid={`ca-${ca.name}`}>
                  <td>
                    {ca.name} {ca.allow_sha1_signatures && <Badge tone="warn">allows SHA-1</Badge>}{' '}
                    {ca.allow_rsa_1024 && <Badge tone="warn">allows RSA-1024</Badge>}
                    <span className="sub mono">{ca.id}</span>
                  </td>
                  <td>
                    {ca.issuer}
                    <span className="sub">subject {ca.subject}</span>
                  </td>
                  <td>
                    <Expiry iso={ca.expires_on} />
                  </td>
                  <td className="mono" title={ca.fingerprint_sha256}>
                    {shortFp(ca.fingerprint_sha256)}
                  </td>
                  <td>{usage.data?.get(ca.id)?.join(', ') ?? <span className="muted">not used</span>}</td>
                  <td>
                    <div className="actions">
                      <button type="button" className="small secondary" onClick={() => setCrlFor(ca)}>
                        CRL
                      </button>
                      <button type="button" className="small danger" onClick={() => void remove(ca)}>
                        Delete
                      </button>
                    </div>
                    {rowError[ca.id] && <span className="field-error">{rowError[ca.id]}</span>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>

      <ClientCertificates orgCaId={org.data?.ca_id} />

      {uploading && (
        <UploadCa
          onClose={() => setUploading(false)}
          onDone={() => {
            setUploading(false);
            cas.reload();
          }}
        />
      )}
      {crlFor && <AttachCrl ca={crlFor} onClose={() => setCrlFor(undefined)} />}
    </Page>
  );
}

function UploadCa(props: { onClose: () => void; onDone: () => void }) {
  const [name, setName] = useState('');
  const [pem, setPem] = useState('');
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    try {
      await api.post('/mtls_certificates', { name, certificates: pem, ca: true });
      props.onDone();
    } catch (err) {
      // The form keeps what was typed; the error sits next to the field it is about.
      setErrors(
        fieldErrors(err, {
          invalid_pem: 'certificates',
          invalid_certificate: 'certificates',
          not_a_ca: 'certificates',
          certificate_expired: 'certificates',
          chain_broken: 'certificates',
        }),
      );
    } finally {
      setBusy(false);
    }
  };
  return (
    <Modal title="Add a new certificate (CA)" onClose={props.onClose}>
      <form onSubmit={(e) => void submit(e)}>
        <FormError error={errors._form} />
        <Field label="Name" error={errorFor(errors, 'name')}>
          <input name="name" value={name} onChange={(e) => setName(e.target.value)} />
        </Field>
        <Field
          label="CA certificate chain (PEM)"
          error={errorFor(errors, 'certificates')}
          hint="Paste or drop one or more CA certificates; any order."
        >
          <FileDrop label="Drop a PEM file here" onText={setPem} />
          <textarea
            name="certificates"
            value={pem}
            onChange={(e) => setPem(e.target.value)}
            placeholder="-----BEGIN CERTIFICATE-----"
          />
        </Field>
        <div className="actions">
          <button type="submit" className="primary" disabled={busy}>
            Upload
          </button>
          <button type="button" onClick={props.onClose}>
            Cancel
          </button>
        </div>
      </form>
    </Modal>
  );
}

function AttachCrl(props: { ca: MtlsCertificate; onClose: () => void }) {
  const current = useLoad(async () => {
    try {
      return await api.get<CrlInfo>(`/mtls_certificates/${props.ca.id}/crl`);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return null;
      throw err;
    }
  });
  const [crl, setCrl] = useState('');
  const [errors, setErrors] = useState<Record<string, string>>({});
  const save = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await api.put(`/mtls_certificates/${props.ca.id}/crl`, { crl });
      setCrl('');
      setErrors({});
      current.reload();
    } catch (err) {
      setErrors(fieldErrors(err, { invalid_pem: 'crl', invalid_crl: 'crl', crl_signature_invalid: 'crl' }));
    }
  };
  const detach = async () => {
    await api
      .del(`/mtls_certificates/${props.ca.id}/crl`)
      .catch((err: unknown) => setErrors(fieldErrors(err)));
    current.reload();
  };
  return (
    <Modal title={`CRL for ${props.ca.name}`} onClose={props.onClose}>
      <LoadError error={current.error} />
      {current.data ? (
        <p>
          Attached: {current.data.revoked_count} revoked, updated {fmtDate(current.data.this_update)}, next
          update {fmtDate(current.data.next_update)}.{' '}
          <button type="button" className="small danger" onClick={() => void detach()}>
            Detach
          </button>
        </p>
      ) : (
        <p className="muted">No CRL attached.</p>
      )}
      <form onSubmit={(e) => void save(e)}>
        <FormError error={errors._form} />
        <Field label="CRL (PEM)" error={errorFor(errors, 'crl')}>
          <FileDrop label="Drop a CRL file here" onText={setCrl} />
          <textarea name="crl" value={crl} onChange={(e) => setCrl(e.target.value)} />
        </Field>
        <button type="submit" className="primary">
          Attach
        </button>
      </form>
    </Modal>
  );
}

const STATUS_TONE = { active: 'good', revoked: 'bad', expired: 'warn' } as const;

function ClientCertificates(props: { orgCaId: string | undefined }) {
  const [status, setStatus] = useState('');
  const [page, setPage] = useState(1);
  const list = useLoad(
    () =>
      api.list<ClientCertificate>(
        `/client_certificates?per_page=25&page=${page}${status ? `&status=${status}` : ''}`,
      ),
    [status, page],
  );
  const [issuing, setIssuing] = useState(false);
  const [revoking, setRevoking] = useState<ClientCertificate | undefined>();
  void props.orgCaId;
  return (
    <Card
      title="Client certificates"
      testId="client-certificates"
      actions={
        <>
          <label className="actions">
            Status
            <select
              name="status-filter"
              value={status}
              onChange={(e) => {
                setStatus(e.target.value);
                setPage(1);
              }}
            >
              <option value="">all</option>
              {CERTIFICATE_STATUSES.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          </label>
          <button type="button" className="primary" onClick={() => setIssuing(true)}>
            Issue from CSR
          </button>
        </>
      }
    >
      <LoadError error={list.error} />
      {list.data && list.data.items.length === 0 ? (
        <Empty>No client certificates{status ? ` with status ${status}` : ''}.</Empty>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Common name</th>
              <th>Status</th>
              <th>Serial</th>
              <th>Issued</th>
              <th>Expires</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {list.data?.items.map((c) => (
              <tr key={c.id} data-testid={`cert-${c.common_name}`}>
                <td>
                  {c.common_name}
                  <span className="sub mono">{c.id}</span>
                </td>
                <td>
                  <Badge tone={STATUS_TONE[c.status]}>{c.status}</Badge>
                  {c.revocation_reason && <span className="sub">{c.revocation_reason}</span>}
                </td>
                <td className="mono">{c.serial_number}</td>
                <td>{fmtDate(c.issued_on)}</td>
                <td>
                  <Expiry iso={c.expires_on} />
                </td>
                <td>
                  {c.status === 'active' && (
                    <button type="button" className="small danger" onClick={() => setRevoking(c)}>
                      Revoke
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {list.data?.info && (
        <Pager page={page} perPage={25} total={list.data.info.total_count} onPage={setPage} />
      )}
      {issuing && <IssueCertificate onClose={() => setIssuing(false)} onDone={list.reload} />}
      {revoking && (
        <Revoke
          cert={revoking}
          onClose={() => setRevoking(undefined)}
          onDone={() => {
            setRevoking(undefined);
            list.reload();
          }}
        />
      )}
    </Card>
  );
}

function IssueCertificate(props: { onClose: () => void; onDone: () => void }) {
  const [csr, setCsr] = useState('');
  const [cn, setCn] = useState('');
  const [days, setDays] = useState('90');
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [issued, setIssued] = useState<ClientCertificate | undefined>();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    try {
      const body = { csr, validity_days: Number(days), ...(cn ? { common_name: cn } : {}) };
      setIssued(await api.post<ClientCertificate>('/client_certificates', body));
      setErrors({});
      props.onDone();
    } catch (err) {
      setErrors(
        fieldErrors(err, {
          invalid_pem: 'csr',
          invalid_csr: 'csr',
          csr_signature_invalid: 'csr',
          weak_key: 'csr',
          unsupported_key_type: 'csr',
        }),
      );
    }
  };
  return (
    <Modal title="Issue a client certificate" onClose={props.onClose}>
      {issued ? (
        <div>
          <div className="notice">
            Issued <strong>{issued.common_name}</strong>, serial{' '}
            <span className="mono">{issued.serial_number}</span>, expires {fmtDate(issued.expires_on)}.
          </div>
          <pre>{issued.certificate}</pre>
          <div className="actions" style={{ marginTop: 8 }}>
            <CopyButton value={issued.certificate} label="Copy certificate" />
            <button type="button" onClick={props.onClose}>
              Done
            </button>
          </div>
        </div>
      ) : (
        <form onSubmit={(e) => void submit(e)}>
          <FormError error={errors._form} />
          <Field label="CSR (PEM)" error={errorFor(errors, 'csr')}>
            <FileDrop label="Drop a CSR file here" onText={setCsr} />
            <textarea name="csr" value={csr} onChange={(e) => setCsr(e.target.value)} />
          </Field>
          <div className="row">
            <Field
              label="Common name"
              error={errorFor(errors, 'common_name')}
              hint="Defaults to the certificate id"
            >
              <input name="common_name" value={cn} onChange={(e) => setCn(e.target.value)} />
            </Field>
            <Field label="Validity (days)" error={errorFor(errors, 'validity_days')}>
              <input
                name="validity_days"
                type="number"
                value={days}
                onChange={(e) => setDays(e.target.value)}
              />
            </Field>
          </div>
          <button type="submit" className="primary">
            Issue
          </button>
        </form>
      )}
    </Modal>
  );
}

function Revoke(props: { cert: ClientCertificate; onClose: () => void; onDone: () => void }) {
  const [reason, setReason] = useState<RevocationReason>('unspecified');
  const [errors, setErrors] = useState<Record<string, string>>({});
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await api.del(`/client_certificates/${props.cert.id}?reason=${encodeURIComponent(reason)}`);
      props.onDone();
    } catch (err) {
      setErrors(fieldErrors(err, { already_revoked: '_form' }));
    }
  };
  return (
    <Modal title={`Revoke ${props.cert.common_name}`} onClose={props.onClose}>
      <form onSubmit={(e) => void submit(e)}>
        <p>
          The certificate lands in the CA&apos;s CRL at once and the edge refuses it. This cannot be undone.
        </p>
        <FormError error={errors._form} />
        <Field label="Reason" error={errorFor(errors, 'reason')}>
          <select
            name="reason"
            value={reason}
            onChange={(e) => setReason(e.target.value as RevocationReason)}
          >
            {REVOCATION_REASONS.map((r) => (
              <option key={r}>{r}</option>
            ))}
          </select>
        </Field>
        <button type="submit" className="danger">
          Revoke certificate
        </button>
      </form>
    </Modal>
  );
}
