import { useState } from 'react';
import { errorFor } from '../../api';
import { CheckList, Field } from '../../components';
import { EditDialog, useResourceForm } from '../../components/EditDialog';
import type { EditProps } from '../../components/ResourceList';
import type { AccessApp, IdentityProvider, Policy, PostureRule, ServiceToken } from '../../types';
import { PolicyEditor } from './PolicyEditor';
import { cleanRule } from './RuleEditor';

export function AppForm(
  props: EditProps<AccessApp> & { tokens: ServiceToken[]; idps: IdentityProvider[]; posture: PostureRule[] },
) {
  const a = props.item;
  const [name, setName] = useState(a?.name ?? '');
  const [domain, setDomain] = useState(a?.domain ?? '');
  const [session, setSession] = useState(a?.session_duration ?? '24h');
  const [allowedIdps, setAllowedIdps] = useState<string[]>(a?.allowed_idps ?? []);
  const [policies, setPolicies] = useState<Policy[]>(
    a?.policies ?? [
      { name: 'Allow certificate holders', decision: 'non_identity', include: [{ certificate: {} }] },
    ],
  );
  const form = useResourceForm({
    collection: '/access/apps',
    id: a?.id,
    onSaved: props.onSaved,
    byCode: {
      invalid_domain: 'domain',
      invalid_policy: 'policies',
      unknown_service_token: 'policies',
      invalid_assurance_level: 'policies',
      invalid_policy_oid: 'policies',
    },
  });
  const errors = form.errors;
  const choices = { tokens: props.tokens, posture: props.posture };

  const submit = () =>
    void form.save({
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
    });

  return (
    <EditDialog
      title={a ? `Edit ${a.name}` : 'Add application'}
      form={form}
      onSubmit={submit}
      onClose={props.onClose}
      formError={errors._form ?? errors.policies}
      save="Save application"
      deleteQuestion={a && `Delete the application ${a.name}?`}
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
    >
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
          <CheckList
            options={props.idps.map((i) => ({ value: i.id, label: i.name }))}
            selected={allowedIdps}
            onChange={setAllowedIdps}
          />
        </Field>
      )}
      <h2>Policies</h2>
      <p className="muted">
        Evaluated in order: bypass, deny, non_identity, allow. No policy denies everything.
      </p>
      {policies.map((p, i) => (
        <PolicyEditor
          key={i}
          policy={p}
          at={`policies/${i}`}
          errors={errors}
          choices={choices}
          onChange={(np) => setPolicies(policies.map((x, j) => (j === i ? np : x)))}
          onRemove={() => setPolicies(policies.filter((_, j) => j !== i))}
        />
      ))}
    </EditDialog>
  );
}
