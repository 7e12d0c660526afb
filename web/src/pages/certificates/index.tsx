import { useState } from 'react';
import { api, ApiError } from '../../api';
import { Badge, Card, CopyButton, Empty, Expiry, LoadError, Page, shortFp, useLoad } from '../../components';
import type { Hostname, MtlsCertificate, Organization } from '../../types';
import { listPostureRules } from '../posture';
import { AttachCrl, UploadCa } from './CaDialogs';
import { ClientCertificates } from './ClientCertificates';

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
