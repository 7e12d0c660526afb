import { type FormEvent, useState } from 'react';
import { api, confirmDelete, errorFor, fieldErrors, saveResource } from '../api';
import {
  Badge,
  Card,
  CopyButton,
  Empty,
  Field,
  fmtDate,
  FormButtons,
  FormError,
  LoadError,
  Modal,
  Page,
  useLoad,
} from '../components';
import { ASSURANCE_LEVELS, DECISIONS } from '../api/contract';
import type {
  AccessApp,
  IdentityProvider,
  Policy,
  PostureRule,
  Rule,
  RuleType,
  ServiceToken,
} from '../types';
import { listPostureRules } from './Posture';

/**
 * Every rule type of docs/access-policies.md (keyed by the schema's rule types: tsc fails when the
 * server adds or drops one), with the one parameter each takes (if any): free text, one of
 * `options`, or a comma-separated `list`.
 */
const RULE_SPECS: {
  [K in RuleType]: {
    label: string;
    param?: keyof NonNullable<Rule[K]> & string;
    placeholder?: string;
    options?: readonly string[];
    list?: boolean;
  };
} = {
  certificate: { label: 'Valid client certificate' },
  common_name: { label: 'Certificate common name', param: 'common_name', placeholder: 'laptop-42' },
  email: { label: 'E-mail', param: 'email', placeholder: 'alice@example.com' },
  email_domain: { label: 'E-mail domain', param: 'domain', placeholder: 'example.com' },
  group: { label: 'IdP group', param: 'name', placeholder: 'ops' },
  service_token: { label: 'Service token', param: 'token_id' },
  any_valid_service_token: { label: 'Any valid service token' },
  ip: { label: 'IP range', param: 'ip', placeholder: '10.0.0.0/8' },
  everyone: { label: 'Everyone' },
  device_posture: { label: 'Device posture', param: 'integration_uid' },
  device_assurance: { label: 'Device assurance (at least)', param: 'level', options: ASSURANCE_LEVELS },
  certificate_policy: {
    label: 'Certificate policy (any of)',
    param: 'oids',
    list: true,
    placeholder: '2.16.840.1.101.3.2.1.3.13, …',
  },
};
const RULE_TYPES = Object.entries(RULE_SPECS).map(([type, spec]) => ({ type: type as RuleType, ...spec }));

/** A rule as the API takes it: a certificate_policy list without the empty entries of editing. */
const cleanRule = (r: Rule): Rule =>
  r.certificate_policy
    ? { certificate_policy: { oids: [r.certificate_policy.oids ?? []].flat().filter(Boolean) } }
    : r;
const LISTS = ['include', 'exclude', 'require'] as const;

export function AccessPage() {
  const apps = useLoad(() => api.get<AccessApp[]>('/access/apps'));
  const tokens = useLoad(() => api.get<ServiceToken[]>('/access/service_tokens'));
  const idps = useLoad(() => api.get<IdentityProvider[]>('/identity_providers'));
  const posture = useLoad(() => listPostureRules().catch(() => [] as PostureRule[]));
  const [editing, setEditing] = useState<AccessApp | 'new' | undefined>();
  const [revocation, setRevocation] = useState<{ ok?: string; error?: string }>({});
  // Every session of the app is refused from the edges' next reload on: users and devices pass
  // the policies again (a login, a certificate…) to get a new one.
  const revokeSessions = async (a: AccessApp) => {
    if (!confirm(`Revoke every session of ${a.name}? Users and devices must pass its policies again.`))
      return;
    try {
      await api.post('/access/sessions/revocations', { app_id: a.id });
      setRevocation({ ok: `Sessions of ${a.name} revoked.` });
    } catch (err) {
      setRevocation({ error: err instanceof Error ? err.message : String(err) });
    }
  };
  return (
    <Page
      title="Access"
      actions={
        <button type="button" className="primary" onClick={() => setEditing('new')}>
          Add application
        </button>
      }
    >
      <LoadError error={apps.error ?? tokens.error ?? idps.error ?? revocation.error} />
      {revocation.ok && (
        <div className="notice" role="status">
          {revocation.ok}
        </div>
      )}
      <Card title="Applications" testId="apps">
        {apps.data?.length === 0 ? (
          <Empty>No application. Without one, a hostname only applies its client-certificate mode.</Empty>
        ) : (
          <table>
            <thead>
              <tr>
                <th>Name</th>
                <th>Domain</th>
                <th>Policies</th>
                <th>Session</th>
                <th>Audience tag</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {apps.data?.map((a) => (
                <tr key={a.id}>
                  <td>{a.name}</td>
                  <td>{a.domain}</td>
                  <td>
                    {a.policies.map((p) => (
                      <div key={p.name}>
                        <Badge
                          tone={p.decision === 'deny' ? 'bad' : p.decision === 'bypass' ? 'warn' : 'good'}
                        >
                          {p.decision}
                        </Badge>{' '}
                        {p.name}
                      </div>
                    ))}
                  </td>
                  <td>{a.session_duration}</td>
                  <td className="mono">{a.aud.slice(0, 16)}…</td>
                  <td>
                    <button type="button" className="small secondary" onClick={() => setEditing(a)}>
                      Edit
                    </button>{' '}
                    <button type="button" className="small ghost" onClick={() => void revokeSessions(a)}>
                      Revoke sessions
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
      <ServiceTokens tokens={tokens.data ?? []} reload={tokens.reload} />
      <IdentityProviders idps={idps.data ?? []} reload={idps.reload} />
      {editing && (
        <AppForm
          app={editing === 'new' ? undefined : editing}
          tokens={tokens.data ?? []}
          idps={idps.data ?? []}
          posture={posture.data ?? []}
          onClose={() => setEditing(undefined)}
          onSaved={() => {
            setEditing(undefined);
            apps.reload();
          }}
        />
      )}
    </Page>
  );
}

interface Choices {
  tokens: ServiceToken[];
  posture: PostureRule[];
}

function RuleEditor(props: {
  rule: Rule;
  onChange: (r: Rule) => void;
  onRemove: () => void;
  choices: Choices;
  error?: string;
}) {
  const type = (Object.keys(props.rule)[0] ?? 'everyone') as RuleType;
  const spec = RULE_TYPES.find((r) => r.type === type) ?? RULE_TYPES[8]!;
  // The editor reads any rule's one parameter by name: a string, or a list (certificate_policy).
  const params = props.rule[spec.type] as Record<string, string | string[]> | undefined;
  const raw = spec.param ? params?.[spec.param] : undefined;
  const value = Array.isArray(raw) ? raw.join(', ') : (raw ?? '');
  const set = (t: string, v: string) => {
    const s = RULE_TYPES.find((r) => r.type === t)!;
    // A list keeps its empty entries while being typed ("a, "): cleanRule drops them on save.
    const param = s.list ? (v === '' ? [] : v.split(',').map((x) => x.trim())) : v;
    props.onChange({ [t]: s.param ? { [s.param]: param } : {} });
  };
  return (
    <div className="rule">
      <select aria-label="Rule type" value={type} onChange={(e) => set(e.target.value, '')}>
        {RULE_TYPES.map((r) => (
          <option key={r.type} value={r.type}>
            {r.label}
          </option>
        ))}
      </select>
      {spec.param === 'token_id' ? (
        <select aria-label="Service token" value={value} onChange={(e) => set(type, e.target.value)}>
          <option value="">choose a service token…</option>
          {props.choices.tokens.map((t) => (
            <option key={t.id} value={t.id}>
              {t.name}
            </option>
          ))}
        </select>
      ) : spec.param === 'integration_uid' ? (
        <select aria-label="Posture rule" value={value} onChange={(e) => set(type, e.target.value)}>
          <option value="">choose a posture rule…</option>
          {props.choices.posture.map((r) => (
            <option key={r.id} value={r.id}>
              {r.name}
            </option>
          ))}
        </select>
      ) : spec.options ? (
        <select aria-label={spec.label} value={value} onChange={(e) => set(type, e.target.value)}>
          <option value="">choose a level…</option>
          {spec.options.map((o) => (
            <option key={o} value={o}>
              {o}
            </option>
          ))}
        </select>
      ) : spec.param ? (
        <input
          aria-label={spec.label}
          value={value}
          placeholder={spec.placeholder}
          onChange={(e) => set(type, e.target.value)}
        />
      ) : null}
      <button type="button" className="small ghost" onClick={props.onRemove}>
        Remove
      </button>
      {props.error && <span className="field-error">{props.error}</span>}
    </div>
  );
}

function AppForm(props: {
  app: AccessApp | undefined;
  tokens: ServiceToken[];
  idps: IdentityProvider[];
  posture: PostureRule[];
  onClose: () => void;
  onSaved: () => void;
}) {
  const a = props.app;
  const [name, setName] = useState(a?.name ?? '');
  const [domain, setDomain] = useState(a?.domain ?? '');
  const [session, setSession] = useState(a?.session_duration ?? '24h');
  const [allowedIdps, setAllowedIdps] = useState<string[]>(a?.allowed_idps ?? []);
  const [policies, setPolicies] = useState<Policy[]>(
    a?.policies ?? [
      { name: 'Allow certificate holders', decision: 'non_identity', include: [{ certificate: {} }] },
    ],
  );
  const [errors, setErrors] = useState<Record<string, string>>({});
  const choices = { tokens: props.tokens, posture: props.posture };

  const setPolicy = (i: number, p: Policy) => setPolicies(policies.map((x, j) => (j === i ? p : x)));
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const body = {
      name,
      domain,
      session_duration: session,
      policies: policies.map((p) => ({
        ...p,
        include: p.include.map(cleanRule),
        exclude: (p.exclude ?? []).map(cleanRule),
        require: (p.require ?? []).map(cleanRule),
        ...(p.session_duration ? {} : { session_duration: undefined }),
      })),
      ...(allowedIdps.length ? { allowed_idps: allowedIdps } : {}),
    };
    const failed = await saveResource('/access/apps', a?.id, body, {
      invalid_domain: 'domain',
      invalid_policy: 'policies',
      unknown_service_token: 'policies',
      invalid_assurance_level: 'policies',
      invalid_policy_oid: 'policies',
    });
    if (failed) setErrors(failed);
    else props.onSaved();
  };
  const remove = async () => {
    if (!a) return;
    const r = await confirmDelete(`Delete the application ${a.name}?`, `/access/apps/${a.id}`);
    if (r.errors) setErrors(r.errors);
    else if (r.deleted) props.onSaved();
  };

  return (
    <Modal title={a ? `Edit ${a.name}` : 'Add application'} onClose={props.onClose}>
      <form onSubmit={(e) => void submit(e)}>
        <FormError error={errors._form ?? errors.policies} />
        <div className="row">
          <Field label="Name" error={errorFor(errors, 'name')}>
            <input name="app-name" value={name} onChange={(e) => setName(e.target.value)} />
          </Field>
          <Field
            label="Domain"
            error={errorFor(errors, 'domain')}
            hint="app.example.com or app.example.com/admin"
          >
            <input name="domain" value={domain} onChange={(e) => setDomain(e.target.value)} />
          </Field>
          <Field label="Session duration" error={errorFor(errors, 'session_duration')}>
            <input name="session_duration" value={session} onChange={(e) => setSession(e.target.value)} />
          </Field>
        </div>
        {props.idps.length > 0 && (
          <Field label="Identity providers" error={errorFor(errors, 'allowed_idps')} hint="None checked: all">
            <div className="checks">
              {props.idps.map((i) => (
                <label key={i.id}>
                  <input
                    type="checkbox"
                    checked={allowedIdps.includes(i.id)}
                    onChange={(e) =>
                      setAllowedIdps(
                        e.target.checked ? [...allowedIdps, i.id] : allowedIdps.filter((x) => x !== i.id),
                      )
                    }
                  />
                  {i.name}
                </label>
              ))}
            </div>
          </Field>
        )}
        <h2>Policies</h2>
        <p className="muted">
          Evaluated in order: bypass, deny, non_identity, allow. No policy denies everything.
        </p>
        {policies.map((p, i) => (
          <div className="policy" key={i}>
            <div className="row">
              <Field label="Policy name" error={errors[`policies/${i}/name`]}>
                <input value={p.name} onChange={(e) => setPolicy(i, { ...p, name: e.target.value })} />
              </Field>
              <Field label="Decision" error={errors[`policies/${i}/decision`]}>
                <select
                  value={p.decision}
                  onChange={(e) => setPolicy(i, { ...p, decision: e.target.value as Policy['decision'] })}
                >
                  {DECISIONS.map((d) => (
                    <option key={d}>{d}</option>
                  ))}
                </select>
              </Field>
              <Field label="Session (optional)" error={errors[`policies/${i}/session_duration`]}>
                <input
                  value={p.session_duration ?? ''}
                  onChange={(e) => setPolicy(i, { ...p, session_duration: e.target.value || undefined })}
                />
              </Field>
            </div>
            {LISTS.map((list) => (
              <div key={list} className="rules">
                <strong>{list}</strong>{' '}
                <span className="muted">
                  {list === 'include' ? 'any of' : list === 'exclude' ? 'none of' : 'all of'}
                </span>
                {errors[`policies/${i}/${list}`] && (
                  <span className="field-error"> {errors[`policies/${i}/${list}`]}</span>
                )}
                {(p[list] ?? []).map((r, k) => (
                  <RuleEditor
                    key={k}
                    rule={r}
                    choices={choices}
                    error={errorFor(errors, `policies/${i}/${list}/${k}`)}
                    onChange={(nr) =>
                      setPolicy(i, { ...p, [list]: (p[list] ?? []).map((x, j) => (j === k ? nr : x)) })
                    }
                    onRemove={() => setPolicy(i, { ...p, [list]: (p[list] ?? []).filter((_, j) => j !== k) })}
                  />
                ))}
                <button
                  type="button"
                  className="small secondary"
                  onClick={() => setPolicy(i, { ...p, [list]: [...(p[list] ?? []), { everyone: {} }] })}
                >
                  Add rule
                </button>
              </div>
            ))}
            <button
              type="button"
              className="small danger"
              onClick={() => setPolicies(policies.filter((_, j) => j !== i))}
            >
              Remove policy
            </button>
          </div>
        ))}
        <FormButtons
          save="Save application"
          onDelete={a ? () => void remove() : undefined}
          extra={
            <button
              type="button"
              className="secondary"
              onClick={() =>
                setPolicies([
                  ...policies,
                  { name: `Policy ${policies.length + 1}`, decision: 'allow', include: [{ everyone: {} }] },
                ])
              }
            >
              Add policy
            </button>
          }
        />
      </form>
    </Modal>
  );
}

function ServiceTokens(props: { tokens: ServiceToken[]; reload: () => void }) {
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

function IdentityProviders(props: { idps: IdentityProvider[]; reload: () => void }) {
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
