import { type FormEvent, useState } from 'react';
import { api, confirmDelete, errorFor, fieldErrors } from '../../api';
import { Card, Empty, Field, FormError } from '../../components';
import type { IdentityProvider } from '../../types';

export function IdentityProviders(props: { idps: IdentityProvider[]; reload: () => void }) {
  const [form, setForm] = useState({ name: '', issuer: '', client_id: '', client_secret: '' });
  const [errors, setErrors] = useState<Record<string, string>>({});
  const create = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await api.post('/identity_providers', { ...form, type: 'oidc' });
      setForm({ name: '', issuer: '', client_id: '', client_secret: '' });
      setErrors({});
      props.reload();
    } catch (err) {
      setErrors(fieldErrors(err, { oidc_discovery_failed: 'issuer', invalid_issuer: 'issuer' }));
    }
  };
  const remove = async (i: IdentityProvider) => {
    const done = await confirmDelete(`Delete ${i.name}?`, `/identity_providers/${i.id}`);
    if (done.errors) setErrors(done.errors);
    else if (done.deleted) props.reload();
  };
  const input = (k: keyof typeof form, label: string, type = 'text') => (
    <Field label={label} error={errorFor(errors, k)}>
      <input
        name={`idp-${k}`}
        type={type}
        value={form[k]}
        onChange={(e) => setForm({ ...form, [k]: e.target.value })}
      />
    </Field>
  );
  return (
    <Card title="Identity providers (OIDC)">
      <FormError error={errors._form} />
      {props.idps.length === 0 ? (
        <Empty>No identity provider.</Empty>
      ) : (
        <table>
          <tbody>
            {props.idps.map((i) => (
              <tr key={i.id}>
                <td>{i.name}</td>
                <td className="mono">{i.issuer}</td>
                <td className="mono">{i.client_id}</td>
                <td className="mono">{i.id}</td>
                <td>
                  <button type="button" className="small danger" onClick={() => void remove(i)}>
                    Delete
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form className="row" onSubmit={(e) => void create(e)}>
        {input('name', 'Name')}
        {input('issuer', 'Issuer URL')}
        {input('client_id', 'Client id')}
        {input('client_secret', 'Client secret', 'password')}
        <div className="field">
          <button type="submit" className="primary">
            Add provider
          </button>
        </div>
      </form>
    </Card>
  );
}
