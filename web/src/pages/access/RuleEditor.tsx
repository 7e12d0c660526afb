import { ASSURANCE_LEVELS } from '../../api/contract';
import type { PostureRule, Rule, RuleType, ServiceToken } from '../../types';

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
export const cleanRule = (r: Rule): Rule =>
  r.certificate_policy
    ? { certificate_policy: { oids: [r.certificate_policy.oids ?? []].flat().filter(Boolean) } }
    : r;

export interface Choices {
  tokens: ServiceToken[];
  posture: PostureRule[];
}

export function RuleEditor(props: {
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
  // A parameter chosen from a list: a service token, a posture rule, or one of the spec's options.
  const byId = (items: { id: string; name: string }[]) => items.map((i) => ({ value: i.id, label: i.name }));
  const pick =
    spec.param === 'token_id'
      ? { label: 'Service token', prompt: 'choose a service token…', options: byId(props.choices.tokens) }
      : spec.param === 'integration_uid'
        ? { label: 'Posture rule', prompt: 'choose a posture rule…', options: byId(props.choices.posture) }
        : spec.options
          ? {
              label: spec.label,
              prompt: 'choose a level…',
              options: spec.options.map((o) => ({ value: o, label: o })),
            }
          : undefined;
  return (
    <div className="rule">
      <select aria-label="Rule type" value={type} onChange={(e) => set(e.target.value, '')}>
        {RULE_TYPES.map((r) => (
          <option key={r.type} value={r.type}>
            {r.label}
          </option>
        ))}
      </select>
      {pick ? (
        <select aria-label={pick.label} value={value} onChange={(e) => set(type, e.target.value)}>
          <option value="">{pick.prompt}</option>
          {pick.options.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
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
