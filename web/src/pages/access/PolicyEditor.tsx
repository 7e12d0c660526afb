import { errorFor } from '../../api';
import { DECISIONS } from '../../api/contract';
import { Field } from '../../components';
import type { Policy } from '../../types';
import { type Choices, RuleEditor } from './RuleEditor';

const LISTS = ['include', 'exclude', 'require'] as const;

/** One policy of an application: its name, decision and session, and its three rule lists. */
export function PolicyEditor(props: {
  policy: Policy;
  /** Where its errors are: `policies/<index>`. */
  at: string;
  errors: Record<string, string>;
  choices: Choices;
  onChange: (p: Policy) => void;
  onRemove: () => void;
}) {
  const { policy: p, at, errors } = props;
  const set = props.onChange;
  return (
    <div className="policy">
      <div className="row">
        <Field label="Policy name" error={errors[`${at}/name`]}>
          <input value={p.name} onChange={(e) => set({ ...p, name: e.target.value })} />
        </Field>
        <Field label="Decision" error={errors[`${at}/decision`]}>
          <select
            value={p.decision}
            onChange={(e) => set({ ...p, decision: e.target.value as Policy['decision'] })}
          >
            {DECISIONS.map((d) => (
              <option key={d}>{d}</option>
            ))}
          </select>
        </Field>
        <Field label="Session (optional)" error={errors[`${at}/session_duration`]}>
          <input
            value={p.session_duration ?? ''}
            onChange={(e) => set({ ...p, session_duration: e.target.value || undefined })}
          />
        </Field>
      </div>
      {LISTS.map((list) => (
        <div key={list} className="rules">
          <strong>{list}</strong>{' '}
          <span className="muted">
            {list === 'include' ? 'any of' : list === 'exclude' ? 'none of' : 'all of'}
          </span>
          {errors[`${at}/${list}`] && <span className="field-error"> {errors[`${at}/${list}`]}</span>}
          {(p[list] ?? []).map((r, k) => (
            <RuleEditor
              key={k}
              rule={r}
              choices={props.choices}
              error={errorFor(errors, `${at}/${list}/${k}`)}
              onChange={(nr) => set({ ...p, [list]: (p[list] ?? []).map((x, j) => (j === k ? nr : x)) })}
              onRemove={() => set({ ...p, [list]: (p[list] ?? []).filter((_, j) => j !== k) })}
            />
          ))}
          <button
            type="button"
            className="small secondary"
            onClick={() => set({ ...p, [list]: [...(p[list] ?? []), { everyone: {} }] })}
          >
            Add rule
          </button>
        </div>
      ))}
      <button type="button" className="small danger" onClick={props.onRemove}>
        Remove policy
      </button>
    </div>
  );
}
