// Summaries, the console table and the generated section of docs/benchmarks.md.

import { readFileSync, writeFileSync, existsSync } from 'node:fs';

export const median = (xs) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

// A run during which something else on the machine (another user's build, a test suite) kept
// more than this many cores busy is "disturbed": it is kept in the raw data but left out of the
// medians when the same cell has undisturbed runs.
export const DISTURBED_CORES = 0.15;

/** Median of each figure over the runs of one test on one stack. */
export function summarize(runs) {
  const ok = runs.filter((r) => !r.error);
  const quiet = ok.filter((r) => r.foreignCores <= DISTURBED_CORES);
  const used = quiet.length > 0 ? quiet : ok;
  const med = (key) => median(used.map((r) => r[key]));
  const problems = runs.flatMap((r) => (r.error ? [r.error] : r.problems));
  const allDisturbed = ok.length > 0 && quiet.length === 0;
  if (allDisturbed) problems.push('every run was disturbed by other load on the machine');
  return {
    allDisturbed,
    runs: runs.length,
    used: used.length,
    rate: med('rate'),
    cpuPerOp: med('cpuPerOp'),
    serverCores: med('serverCores'),
    originCores: med('originCores'),
    loadGenCores: med('loadGenCores'),
    foreignCores: med('foreignCores'),
    problems: [...new Set(problems)],
  };
}

// --- number formatting --------------------------------------------------------------------------

const fmtInt = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '—');
export function fmtCpu(seconds) {
  if (!Number.isFinite(seconds)) return '—';
  return seconds >= 1e-3 ? `${(seconds * 1e3).toFixed(2)} ms` : `${(seconds * 1e6).toFixed(0)} µs`;
}
const fmtRatio = (x) => (Number.isFinite(x) ? `${x.toFixed(2)}×` : '—');
const fmtCores = (x) => (Number.isFinite(x) ? x.toFixed(2) : '—');

/**
 * Ratios "a relative to b" such that above 1.0 always means a is better: a/b for rates,
 * b/a for CPU per operation (i.e. the ratio of operations per CPU-second).
 */
const rateRatio = (a, b) => a?.rate / b?.rate;
const cpuRatio = (a, b) => b?.cpuPerOp / a?.cpuPerOp;

const PAIRS = [
  ['bare', 'nginx', 'bare/nginx'],
  ['gatehouse', 'nginx', 'Gatehouse/nginx'],
  ['gatehouse', 'bare', 'Gatehouse/bare'],
];

/** The ratio columns that make sense for the stacks that were measured. */
const pairsFor = (stacks) =>
  PAIRS.filter(([a, b]) => stacks.some((s) => s.name === a) && stacks.some((s) => s.name === b));

/** Rows of the main table: [label, ...cells per stack, ...ratio cells]. */
function tableRows(tests, stacks, summary) {
  const pairs = pairsFor(stacks);
  const rows = [];
  for (const t of tests) {
    const s = (name) => summary[t.id]?.[name];
    rows.push([
      `${t.title} (${t.rateUnit})`,
      ...stacks.map((st) => fmtInt(s(st.name)?.rate)),
      ...pairs.map(([a, b]) => fmtRatio(rateRatio(s(a), s(b)))),
    ]);
    rows.push([
      `  ${t.cpuLabel}`,
      ...stacks.map((st) => fmtCpu(s(st.name)?.cpuPerOp)),
      ...pairs.map(([a, b]) => fmtRatio(cpuRatio(s(a), s(b)))),
    ]);
  }
  return rows;
}

export function printTable({ tests, stacks, summary }) {
  const header = ['', ...stacks.map((s) => s.label), ...pairsFor(stacks).map((p) => p[2])];
  const rows = [header, ...tableRows(tests, stacks, summary)];
  const widths = header.map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('   ');
  console.log(`\n${line(rows[0])}\n${widths.map((w) => '-'.repeat(w)).join('   ')}`);
  for (const r of rows.slice(1)) console.log(line(r));
  console.log('Ratios above 1.0 mean the first stack is better: rate ÷ rate, and for CPU per operation the');
  console.log('inverse (operations per server CPU-second). CPU per operation is the robust figure here.');
}

// --- targets --------------------------------------------------------------------------------------

export const TARGETS = [
  { test: 'handshake', against: 'nginx', min: 1.0, text: 'handshakes ≥ 1.0× nginx' },
  { test: 'keepalive', against: 'nginx', min: 0.6, text: 'keep-alive proxied ≥ 0.6× nginx' },
  { test: 'flood', against: 'nginx', min: 1.0, text: 'unknown-CA flood ≥ 1.0× nginx' },
];
const MAX_OVERHEAD = 0.1; // Gatehouse over bare Node, CPU per operation

export function targetRows({ tests, summary }) {
  const rows = [];
  for (const t of TARGETS) {
    const g = summary[t.test]?.gatehouse;
    const ref = summary[t.test]?.[t.against];
    const byCpu = cpuRatio(g, ref);
    rows.push({
      target: t.text,
      byCpu,
      byRate: rateRatio(g, ref),
      met: Number.isFinite(byCpu) ? byCpu >= t.min : null,
    });
  }
  for (const t of tests) {
    const g = summary[t.id]?.gatehouse;
    const b = summary[t.id]?.bare;
    const overhead = g?.cpuPerOp / b?.cpuPerOp - 1;
    rows.push({
      target: `${t.title}: Gatehouse CPU/op over bare Node < ${MAX_OVERHEAD * 100}%`,
      overhead,
      byRate: rateRatio(g, b),
      met: Number.isFinite(overhead) ? overhead < MAX_OVERHEAD : null,
    });
  }
  return rows;
}

function verdict(met) {
  return met === null ? 'not measured' : met ? 'met' : 'NOT met';
}

export function printTargets(ctx) {
  console.log('\nTargets (judged on server CPU per operation; throughput ratio for reference):');
  for (const r of targetRows(ctx)) {
    const fig =
      r.overhead !== undefined
        ? `overhead ${Number.isFinite(r.overhead) ? `${(r.overhead * 100).toFixed(1)}%` : '—'}`
        : `by CPU ${fmtRatio(r.byCpu)}`;
    console.log(`  ${verdict(r.met).padEnd(12)} ${r.target}: ${fig}, by throughput ${fmtRatio(r.byRate)}`);
  }
}

// --- docs/benchmarks.md ---------------------------------------------------------------------------

export const DOCS_START =
  '<!-- bench:edge results: generated by `npm run bench:edge`, do not edit by hand -->';
export const DOCS_END = '<!-- /bench:edge results -->';

const mdRow = (cells) => `| ${cells.join(' | ')} |`;

export function markdownSection(ctx) {
  const { tests, stacks, summary, env, params, skipped, stackChecks, runs } = ctx;
  const out = [];
  out.push(`### Latest run: ${env.date}`, '');
  out.push(`- **Machine:** ${env.machine}`);
  out.push(`- **Versions:** ${env.versions.join(' · ')}`);
  out.push(
    `- **Method:** median of ${params.reps} run(s) of ${params.duration} s each after a ${params.warmup} s warm-up ` +
      `(and ${params.initialWarmup} s per stack before the first), stacks interleaved; wrk ${params.threads} threads with the mTLS shim, ` +
      `${tests.map((t) => `${t.connections} connections for ${t.id}`).join(', ')}; TLS 1.3, ECDSA P-256 everywhere; ` +
      `server CPU from /proc (utime+stime of the server's process tree).`,
  );
  const ok = runs.filter((r) => !r.error);
  const disturbed = ok.filter((r) => r.foreignCores > DISTURBED_CORES).length;
  if (disturbed > 0) {
    out.push(
      `- **Other load:** ${disturbed} of ${ok.length} runs had more than ${DISTURBED_CORES} cores of other processes ` +
        'running beside them; medians use the undisturbed runs where a cell has any (see "runs used").',
    );
  }
  for (const s of skipped) out.push(`- **${s.label} not measured:** ${s.reason}`);
  out.push('');
  const header = ['', ...stacks.map((s) => s.label), ...pairsFor(stacks).map((p) => p[2])];
  out.push(mdRow(header), mdRow(header.map((_, i) => (i === 0 ? '---' : '---:'))));
  for (const r of tableRows(tests, stacks, summary))
    out.push(mdRow([r[0].trim().startsWith('server') ? `↳ ${r[0].trim()}` : `**${r[0]}**`, ...r.slice(1)]));
  out.push(
    '',
    'Ratios above 1.0 mean the first stack is better (for CPU rows: operations per server CPU-second).',
    '',
  );
  if (stacks.some((s) => s.name === 'gatehouse')) {
    out.push('**Targets** (judged on server CPU per operation):', '');
    out.push(
      mdRow(['target', 'by server CPU/op', 'by throughput', 'verdict']),
      mdRow(['---', '---:', '---:', '---']),
    );
    for (const r of targetRows(ctx)) {
      const fig =
        r.overhead !== undefined
          ? `${Number.isFinite(r.overhead) ? `${(r.overhead * 100).toFixed(1)}%` : '—'} overhead`
          : fmtRatio(r.byCpu);
      out.push(mdRow([r.target, fig, fmtRatio(r.byRate), verdict(r.met)]));
    }
    out.push('');
  }
  out.push(
    '**Where the two cores went** (median cores busy during the measurement; runs used of runs made):',
    '',
  );
  out.push(
    mdRow(['test', 'stack', 'server', 'origin', 'wrk', 'other load', 'runs used']),
    mdRow(['---', '---', '---:', '---:', '---:', '---:', '---:']),
  );
  for (const t of tests) {
    for (const st of stacks) {
      const s = summary[t.id]?.[st.name];
      out.push(
        mdRow([
          t.id,
          st.label,
          fmtCores(s?.serverCores),
          fmtCores(s?.originCores),
          fmtCores(s?.loadGenCores),
          fmtCores(s?.foreignCores),
          `${s?.used ?? 0}/${s?.runs ?? 0}`,
        ]),
      );
    }
  }
  out.push('', '**Stacks as measured:**', '');
  for (const st of stacks) {
    const c = stackChecks[st.name];
    out.push(
      `- **${st.label}** (${st.version}): ${st.config}. TLS 1.3 session tickets sent per full handshake: ${c.tickets}. ` +
        `Unknown-CA certificate: ${c.rogue}; no certificate: ${c.noCert}.`,
    );
  }
  const problems = tests.flatMap((t) =>
    stacks.flatMap((st) =>
      (summary[t.id]?.[st.name]?.problems ?? []).map((p) => `${t.id} / ${st.label}: ${p}`),
    ),
  );
  if (problems.length) {
    out.push('', '**Problems seen during the runs:**', '', ...problems.map((p) => `- ${p}`));
  }
  out.push('', '<details><summary>All runs</summary>', '');
  out.push(
    mdRow([
      'test',
      'stack',
      'run',
      'ops/s',
      'server CPU/op',
      'server cores',
      'wrk cores',
      'other load',
      'p50',
      'p99',
    ]),
  );
  out.push(mdRow(['---', '---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:']));
  for (const r of runs) {
    if (r.error)
      out.push(
        mdRow([
          r.test,
          r.stackLabel,
          r.rep,
          'error',
          r.error.replace(/\|/g, '/').slice(0, 80),
          '',
          '',
          '',
          '',
          '',
        ]),
      );
    else
      out.push(
        mdRow([
          r.test,
          r.stackLabel,
          r.rep,
          fmtInt(r.rate),
          fmtCpu(r.cpuPerOp),
          fmtCores(r.serverCores),
          fmtCores(r.loadGenCores),
          `${fmtCores(r.foreignCores)}${r.foreignCores > DISTURBED_CORES ? ' (disturbed)' : ''}`,
          `${r.wrk.p50Ms.toFixed(1)} ms`,
          `${r.wrk.p99Ms.toFixed(1)} ms`,
        ]),
      );
  }
  out.push('', '</details>');
  return out.join('\n');
}

/**
 * Replace the generated block of the docs file with the new section (creating the file from
 * the template when missing); everything outside the markers is left as it is. The result goes
 * through Prettier when it is installed, so that `npm run lint` stays green after a run.
 */
export async function updateDocs(file, section, template) {
  const text = existsSync(file) ? readFileSync(file, 'utf8') : template;
  const block = `${DOCS_START}\n\n${section}\n\n${DOCS_END}`;
  const start = text.indexOf(DOCS_START);
  const end = text.indexOf(DOCS_END);
  let next =
    start >= 0 && end > start
      ? text.slice(0, start) + block + text.slice(end + DOCS_END.length)
      : `${text.trimEnd()}\n\n${block}\n`;
  const prettier = await import('prettier').catch(() => null);
  if (prettier) {
    const options = (await prettier.resolveConfig(file)) ?? {};
    next = await prettier.format(next, { ...options, filepath: file });
  }
  writeFileSync(file, next);
}
