// Small SVG charts: no chart library, nothing but what the overview needs.

export interface Series {
  label: string;
  color: string;
  values: number[];
}

/** Stacked bars, one per label. */
export function BarChart(props: { labels: string[]; series: Series[]; height?: number; title: string }) {
  const h = props.height ?? 180;
  const w = 560;
  const pad = { l: 32, r: 8, t: 8, b: 36 };
  const totals = props.labels.map((_, i) => props.series.reduce((s, x) => s + (x.values[i] ?? 0), 0));
  const max = Math.max(1, ...totals);
  const bw = (w - pad.l - pad.r) / Math.max(1, props.labels.length);
  const y = (v: number) => pad.t + (h - pad.t - pad.b) * (1 - v / max);
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${w} ${h}`} role="img" aria-label={props.title}>
        <line x1={pad.l} x2={w - pad.r} y1={y(0)} y2={y(0)} className="axis" />
        <text x={pad.l - 4} y={y(max) + 4} className="tick" textAnchor="end">
          {max}
        </text>
        <text x={pad.l - 4} y={y(0)} className="tick" textAnchor="end">
          0
        </text>
        {props.labels.map((label, i) => {
          let acc = 0;
          return (
            <g key={label}>
              {props.series.map((s) => {
                const v = s.values[i] ?? 0;
                const top = y(acc + v);
                const rect = (
                  <rect
                    key={s.label}
                    x={pad.l + i * bw + 3}
                    width={Math.max(1, bw - 6)}
                    y={top}
                    height={Math.max(0, y(acc) - top)}
                    fill={s.color}
                  >
                    <title>{`${label}: ${v} ${s.label}`}</title>
                  </rect>
                );
                acc += v;
                return rect;
              })}
              <text x={pad.l + i * bw + bw / 2} y={h - pad.b + 14} className="tick" textAnchor="middle">
                {label}
              </text>
            </g>
          );
        })}
      </svg>
      <Legend series={props.series} />
    </figure>
  );
}

/** A line of percentages (0–100) over time; gaps where a value is null. */
export function LineChart(props: {
  labels: string[];
  values: (number | null)[];
  title: string;
  color: string;
}) {
  const h = 180;
  const w = 560;
  const pad = { l: 36, r: 8, t: 8, b: 36 };
  const x = (i: number) => pad.l + ((w - pad.l - pad.r) * i) / Math.max(1, props.labels.length - 1);
  const y = (v: number) => pad.t + (h - pad.t - pad.b) * (1 - v / 100);
  const points = props.values
    .map((v, i) => (v === null ? null : `${x(i)},${y(v)}`))
    .filter((p): p is string => p !== null);
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${w} ${h}`} role="img" aria-label={props.title}>
        {[0, 50, 100].map((v) => (
          <g key={v}>
            <line x1={pad.l} x2={w - pad.r} y1={y(v)} y2={y(v)} className="grid" />
            <text x={pad.l - 4} y={y(v) + 4} className="tick" textAnchor="end">
              {v}%
            </text>
          </g>
        ))}
        <polyline points={points.join(' ')} fill="none" stroke={props.color} strokeWidth={2} />
        {props.values.map((v, i) =>
          v === null ? null : (
            <circle key={i} cx={x(i)} cy={y(v)} r={3} fill={props.color}>
              <title>{`${props.labels[i]}: ${v.toFixed(0)}%`}</title>
            </circle>
          ),
        )}
        {props.labels.map((l, i) =>
          i % Math.ceil(props.labels.length / 7) === 0 ? (
            <text key={l} x={x(i)} y={h - pad.b + 14} className="tick" textAnchor="middle">
              {l}
            </text>
          ) : null,
        )}
      </svg>
    </figure>
  );
}

/** Horizontal bars with counts. */
export function HBars(props: { rows: { label: string; value: number; color: string }[]; title: string }) {
  const max = Math.max(1, ...props.rows.map((r) => r.value));
  return (
    <figure className="chart hbars" aria-label={props.title}>
      {props.rows.map((r) => (
        <div className="hbar" key={r.label}>
          <span className="hbar-label">{r.label}</span>
          <span className="hbar-track">
            <span className="hbar-fill" style={{ width: `${(100 * r.value) / max}%`, background: r.color }} />
          </span>
          <span className="hbar-value">{r.value}</span>
        </div>
      ))}
    </figure>
  );
}

function Legend(props: { series: Series[] }) {
  return (
    <figcaption className="legend">
      {props.series.map((s) => (
        <span key={s.label}>
          <i style={{ background: s.color }} /> {s.label}
        </span>
      ))}
    </figcaption>
  );
}
