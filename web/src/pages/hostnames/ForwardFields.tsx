import { CheckList } from '../../components';
import { CERTIFICATE_FIELDS, HEADER_STYLES } from '../../api/contract';
import type { CertificateField, ForwardConfig, HeaderStyle } from '../../types';

const STYLE_LABEL: Record<HeaderStyle, string> = {
  gatehouse: 'Gatehouse-Client-Cert-* headers',
  rfc9440: 'RFC 9440 Client-Cert',
  xfcc: 'Envoy X-Forwarded-Client-Cert',
};

/** Which headers the edge forwards: the standard styles, then custom header ← certificate field. */
export function ForwardFields(props: { forward: ForwardConfig; onChange: (f: ForwardConfig) => void }) {
  const forward = props.forward;
  const setForward = props.onChange;
  const setCustom = (i: number, c: Partial<ForwardConfig['custom'][number]>) =>
    setForward({ ...forward, custom: forward.custom.map((x, j) => (j === i ? { ...x, ...c } : x)) });
  return (
    <>
      <CheckList
        options={HEADER_STYLES.map((id) => ({ value: id, label: STYLE_LABEL[id] }))}
        selected={forward.styles}
        onChange={(styles) => setForward({ ...forward, styles })}
      />
      {forward.custom.map((c, i) => (
        <div className="rule" key={i}>
          <input
            aria-label="Header name"
            value={c.header}
            placeholder="X-Client-CN"
            onChange={(e) => setCustom(i, { header: e.target.value })}
          />
          ←
          <select
            aria-label="Certificate field"
            value={c.field}
            onChange={(e) => setCustom(i, { field: e.target.value as CertificateField })}
          >
            {CERTIFICATE_FIELDS.map((f) => (
              <option key={f}>{f}</option>
            ))}
          </select>
          <button
            type="button"
            className="small ghost"
            onClick={() => setForward({ ...forward, custom: forward.custom.filter((_, j) => j !== i) })}
          >
            Remove
          </button>
        </div>
      ))}
      <div>
        <button
          type="button"
          className="small secondary"
          onClick={() =>
            setForward({ ...forward, custom: [...forward.custom, { header: '', field: 'subject.CN' }] })
          }
        >
          Add custom header
        </button>
      </div>
    </>
  );
}
