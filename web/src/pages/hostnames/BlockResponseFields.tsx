import { errorFor } from '../../api';
import { Field } from '../../components';

/** The block response's JSON text, parsed: the value, or why it is not JSON (empty: neither). */
export function parseBlockJson(text: string): { value?: unknown; error?: string } {
  if (!text.trim()) return {};
  try {
    return { value: JSON.parse(text) };
  } catch (e) {
    return { error: `not valid JSON: ${(e as Error).message}` };
  }
}

/** The 403 the edge sends a refused client: JSON and HTML, with a sandboxed preview. */
export function BlockResponseFields(props: {
  json: string;
  html: string;
  onJson: (v: string) => void;
  onHtml: (v: string) => void;
  errors: Record<string, string>;
}) {
  const parsed = parseBlockJson(props.json);
  return (
    <div className="grid2">
      <div>
        <Field
          label="Block response: JSON"
          error={parsed.error ?? errorFor(props.errors, 'client_auth/block_response/json')}
          hint="Sent with 403 when the client accepts application/json."
        >
          <textarea
            name="block_json"
            value={props.json}
            onChange={(e) => props.onJson(e.target.value)}
            placeholder='{ "error": "client certificate required" }'
          />
        </Field>
        <Field
          label="Block response: HTML"
          error={errorFor(props.errors, 'client_auth/block_response/html')}
          hint="Sent with 403 to browsers."
        >
          <textarea name="block_html" value={props.html} onChange={(e) => props.onHtml(e.target.value)} />
        </Field>
      </div>
      <div>
        <span className="label">Preview</span>
        {props.html ? (
          // sandbox="" with srcdoc: the admin's HTML renders without scripts, forms or same-origin access.
          <iframe className="preview" title="HTML block response preview" sandbox="" srcDoc={props.html} />
        ) : (
          <p className="muted">No HTML: browsers get the default block page.</p>
        )}
        {props.json.trim() && !parsed.error && <pre>{JSON.stringify(parsed.value, null, 2)}</pre>}
      </div>
    </div>
  );
}
