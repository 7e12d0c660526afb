import { type FormEvent, useState } from 'react';
import { api, ApiError, errorFor, fieldErrors } from '../../api';
import { Field, FileDrop, fmtDate, FormError, LoadError, Modal, useLoad } from '../../components';
import type { CrlInfo, MtlsCertificate } from '../../types';

export function UploadCa(props: { onClose: () => void; onDone: () => void }) {
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

export function AttachCrl(props: { ca: MtlsCertificate; onClose: () => void }) {
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
