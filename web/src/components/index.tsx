import { type ReactNode, useCallback, useEffect, useState } from 'react';
import { ApiError } from '../api';

export function useLoad<T>(load: () => Promise<T>, deps: unknown[] = []) {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [loading, setLoading] = useState(true);
  const reload = useCallback(() => {
    setLoading(true);
    load()
      .then((d) => {
        setData(d);
        setError(undefined);
      })
      .catch((e: unknown) => setError(e instanceof ApiError ? e.message : String(e)))
      .finally(() => setLoading(false));
    // eslint-disable-next-line react-hooks/exhaustive-deps -- the caller lists what `load` depends on
  }, deps);
  useEffect(reload, [reload]);
  return { data, error, loading, reload };
}

export function Page(props: { title: string; actions?: ReactNode; children: ReactNode }) {
  return (
    <section className="page">
      <header className="page-head">
        <h1>{props.title}</h1>
        <div className="actions">{props.actions}</div>
      </header>
      {props.children}
    </section>
  );
}

export function Card(props: { title?: string; actions?: ReactNode; children: ReactNode; testId?: string }) {
  return (
    <div className="card" data-testid={props.testId}>
      {(props.title || props.actions) && (
        <div className="card-head">
          {props.title && <h2>{props.title}</h2>}
          <div className="actions">{props.actions}</div>
        </div>
      )}
      {props.children}
    </div>
  );
}

export function Field(props: {
  label: string;
  error?: string | undefined;
  hint?: string | undefined;
  children: ReactNode;
}) {
  // An error is about what was sent: once the field is edited it is hidden until the next save.
  const [edited, setEdited] = useState(false);
  useEffect(() => setEdited(false), [props.error]);
  const error = edited ? undefined : props.error;
  return (
    <label className={`field${error ? ' has-error' : ''}`} onInput={() => setEdited(true)}>
      <span className="label">{props.label}</span>
      {props.children}
      {props.hint && !error && <span className="hint">{props.hint}</span>}
      {error && (
        <span className="field-error" role="alert">
          {error}
        </span>
      )}
    </label>
  );
}

export function FormError(props: { error?: string | undefined }) {
  if (!props.error) return null;
  return (
    <div className="form-error" role="alert">
      {props.error}
    </div>
  );
}

export function LoadError(props: { error?: string | undefined }) {
  return props.error ? <div className="form-error">{props.error}</div> : null;
}

export function Badge(props: { tone?: 'good' | 'bad' | 'warn' | 'info' | 'muted'; children: ReactNode }) {
  return <span className={`badge ${props.tone ?? 'muted'}`}>{props.children}</span>;
}

export function Empty(props: { children: ReactNode }) {
  return <p className="empty">{props.children}</p>;
}

export function Modal(props: { title: string; onClose: () => void; children: ReactNode }) {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => e.key === 'Escape' && props.onClose();
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [props]);
  return (
    <div className="modal-backdrop">
      <div className="modal" role="dialog" aria-modal="true" aria-label={props.title}>
        <div className="card-head">
          <h2>{props.title}</h2>
          <button type="button" className="ghost" onClick={props.onClose} aria-label="Close">
            ✕
          </button>
        </div>
        {props.children}
      </div>
    </div>
  );
}

export function CopyButton(props: { value: string; label?: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <button
      type="button"
      className="secondary"
      onClick={() => {
        // Clipboard access needs a secure context; the console is always served over HTTPS.
        void navigator.clipboard
          ?.writeText(props.value)
          .then(() => setCopied(true))
          .catch(() => setCopied(false));
      }}
    >
      {copied ? 'Copied' : (props.label ?? 'Copy')}
    </button>
  );
}

export const fmtDate = (iso: string | null | undefined) =>
  iso ? new Date(iso).toISOString().replace('T', ' ').slice(0, 16) + ' UTC' : '—';

export function daysLeft(iso: string | null | undefined): number | undefined {
  if (!iso) return undefined;
  return Math.floor((Date.parse(iso) - Date.now()) / 86_400_000);
}

export function Expiry(props: { iso: string | null | undefined }) {
  const d = daysLeft(props.iso);
  if (d === undefined) return <span>—</span>;
  const tone = d < 0 ? 'bad' : d < 30 ? 'warn' : 'good';
  return (
    <span title={props.iso ?? ''}>
      {fmtDate(props.iso)} <Badge tone={tone}>{d < 0 ? 'expired' : `${d} d`}</Badge>
    </span>
  );
}

export const shortFp = (fp: string) => (fp.length > 23 ? `${fp.slice(0, 23)}…` : fp);

export function Pager(props: { page: number; perPage: number; total: number; onPage: (p: number) => void }) {
  const pages = Math.max(1, Math.ceil(props.total / props.perPage));
  return (
    <div className="pager">
      <button
        type="button"
        className="secondary"
        disabled={props.page <= 1}
        onClick={() => props.onPage(props.page - 1)}
      >
        ← Previous
      </button>
      <span>
        Page {props.page} of {pages} · {props.total} in all
      </span>
      <button
        type="button"
        className="secondary"
        disabled={props.page >= pages}
        onClick={() => props.onPage(props.page + 1)}
      >
        Next →
      </button>
    </div>
  );
}

/** Reads a dropped or chosen file as text (PEM). */
export function FileDrop(props: { onText: (text: string) => void; label: string }) {
  const [over, setOver] = useState(false);
  const read = (file: File | undefined) => {
    if (file) void file.text().then(props.onText);
  };
  return (
    <div
      className={`drop${over ? ' over' : ''}`}
      onDragOver={(e) => {
        e.preventDefault();
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={(e) => {
        e.preventDefault();
        setOver(false);
        read(e.dataTransfer.files[0]);
      }}
    >
      {props.label} or{' '}
      <label className="link">
        choose a file
        <input
          type="file"
          accept=".pem,.crt,.cer,.csr,.txt"
          hidden
          onChange={(e) => read(e.target.files?.[0])}
        />
      </label>
    </div>
  );
}

/** A form's buttons: save (submit), then cancel and delete when given; `extra` goes first. */
export function FormButtons(props: {
  save: string;
  busy?: boolean;
  onCancel?: () => void;
  deleteLabel?: string;
  onDelete?: (() => void) | undefined;
  extra?: ReactNode;
}) {
  return (
    <div className="actions">
      {props.extra}
      <button type="submit" className="primary" disabled={props.busy}>
        {props.save}
      </button>
      {props.onCancel && (
        <button type="button" onClick={props.onCancel}>
          Cancel
        </button>
      )}
      {props.onDelete && (
        <button type="button" className="danger" onClick={props.onDelete}>
          {props.deleteLabel ?? 'Delete'}
        </button>
      )}
    </div>
  );
}

/** A group of checkboxes choosing any of `options`, in their order. */
export function CheckList<T extends string>(props: {
  options: readonly { value: T; label: ReactNode; name?: string }[];
  selected: readonly T[];
  onChange: (selected: T[]) => void;
}) {
  return (
    <div className="checks">
      {props.options.map((o) => (
        <label key={o.value}>
          <input
            type="checkbox"
            name={o.name}
            checked={props.selected.includes(o.value)}
            onChange={(e) =>
              props.onChange(
                e.target.checked ? [...props.selected, o.value] : props.selected.filter((x) => x !== o.value),
              )
            }
          />
          {o.label}
        </label>
      ))}
    </div>
  );
}

/** One checkbox with its text, on a line of its own. */
export function Checkbox(props: {
  name: string;
  checked: boolean;
  onChange: (checked: boolean) => void;
  children: ReactNode;
}) {
  return (
    <label className="checks">
      <input
        type="checkbox"
        name={props.name}
        checked={props.checked}
        onChange={(e) => props.onChange(e.target.checked)}
      />
      {props.children}
    </label>
  );
}
