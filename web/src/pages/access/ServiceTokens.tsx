import { type FormEvent, useState } from 'react';
import { api, errorFor, fieldErrors } from '../../api';
import { Card, CopyButton, Empty, Field, fmtDate, FormError } from '../../components';
import type { ServiceToken } from '../../types';

export function ServiceTokens(props: { tokens: ServiceToken[]; reload: () => void }) {
  const [name, setName] = useState('');
  const [duration, setDuration] = useState('8760h');
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [secret, setSecret] = useState<ServiceToken | undefined>();
  const create = async (e: FormEvent) => {
    e.preventDefault();
    try {
      setSecret(await api.post<ServiceToken>('/access/service_tokens', { name, duration }));
      setName('');
      setErrors({});
      props.reload();
    } catch (err) {
      setErrors(fieldErrors(err, { invalid_duration: 'duration' }));
    }
  };
  const act = async (t: ServiceToken, action: 'rotate' | 'revoke') => {
    if (
      !confirm(
        action === 'rotate' ? `New secret for ${t.name}? The old one stops working.` : `Revoke ${t.name}?`,
      )
    )
      return;
    try {
      if (action === 'rotate')
        setSecret(await api.post<ServiceToken>(`/access/service_tokens/${t.id}/rotate`));
      else await api.del(`/access/service_tokens/${t.id}`);
      props.reload();
    } catch (err) {
      setErrors(fieldErrors(err));
    }
  };
  return (
    <Card title="Service tokens" testId="service-tokens">
      {secret?.client_secret && (
        <div className="secret" data-testid="token-secret">
          <strong>Copy the secret of “{secret.name}” now: it is shown only once.</strong>
          <div>
            Client id <code>{secret.client_id}</code>
          </div>
          <div>
            Client secret <code>{secret.client_secret}</code>
          </div>
          <div className="actions">
            <CopyButton value={secret.client_secret} label="Copy secret" />
            <CopyButton value={secret.client_id} label="Copy client id" />
            <button type="button" onClick={() => setSecret(undefined)}>
              I have saved it
            </button>
          </div>
        </div>
      )}
      <FormError error={errors._form} />
      <form className="row" onSubmit={(e) => void create(e)}>
        <Field label="Name" error={errorFor(errors, 'name')}>
          <input name="token-name" value={name} onChange={(e) => setName(e.target.value)} />
        </Field>
        <Field label="Duration" error={errorFor(errors, 'duration')}>
          <input name="token-duration" value={duration} onChange={(e) => setDuration(e.target.value)} />
        </Field>
        <div className="field">
          <button type="submit" className="primary">
            Create service token
          </button>
        </div>
      </form>
      {props.tokens.length === 0 ? (
        <Empty>No service tokens.</Empty>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Name</th>
              <th>Client id</th>
              <th>Created</th>
              <th>Expires</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {props.tokens.map((t) => (
              <tr key={t.id}>
                <td>{t.name}</td>
                <td className="mono">{t.client_id}</td>
                <td>{fmtDate(t.created_at)}</td>
                <td>{fmtDate(t.expires_at)}</td>
                <td>
                  <div className="actions">
                    <button type="button" className="small secondary" onClick={() => void act(t, 'rotate')}>
                      Rotate
                    </button>
                    <button type="button" className="small danger" onClick={() => void act(t, 'revoke')}>
                      Revoke
                    </button>
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Card>
  );
}
