import { type FormEvent, useState } from 'react';
import { api, errorFor, fieldErrors } from '../../api';
import { CERTIFICATE_STATUSES, REVOCATION_REASONS } from '../../api/contract';
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
  Pager,
  useLoad,
} from '../../components';
import type { ClientCertificate, RevocationReason } from '../../types';

const STATUS_TONE = { active: 'good', revoked: 'bad', expired: 'warn' } as const;

export function ClientCertificates(props: { orgCaId: string | undefined }) {
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
