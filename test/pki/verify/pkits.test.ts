/**
 * NIST PKITS v1.0.1 through verifyChain. The data lives outside the repository, at
 * ../shared/conformance/nist-pkits relative to the repo root (never copy it in). Every case runs
 * with its documented initial policy settings and must agree with the expected result (and, for
 * failures, with the failure code listed below) under `profile: 'rfc5280'`. The whole suite runs
 * again under the default strict profile: there a case may only differ from NIST by being refused
 * with a strict-profile code documented in docs/pkits.md, and the table of those cases in
 * docs/pkits.md is checked against this run (GATEHOUSE_UPDATE_DOCS=1 rewrites it). See
 * docs/pkits.md.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import * as prettier from 'prettier';
import {
  STRICT_PROFILE_CODES,
  type VerifyFailureCode,
  type VerifyProfile,
  type VerifyResult,
  verifyChain,
} from '../../../src/pki/verify/index.js';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PKITS_DIR = resolve(REPO_ROOT, '../shared/conformance/nist-pkits');
const PKITS_JSON = resolve(PKITS_DIR, 'pkits.json');
const PKITS_DOC = resolve(REPO_ROOT, 'docs/pkits.md');

interface PkitsCase {
  id: string;
  test_number: string;
  section: string;
  title: string;
  trusted_certs: string[];
  untrusted_intermediates: string[];
  peer_certificate: string;
  crls: string[];
  validation_time: string;
  expected_result: 'SUCCESS' | 'FAILURE';
  settings: {
    initial_policy_set_oids: string[];
    initial_explicit_policy: boolean;
    initial_policy_mapping_inhibit: boolean;
    initial_inhibit_any_policy: boolean;
  };
}

const SECTION_TITLES: Record<string, string> = {
  '4.1': 'Signature Verification',
  '4.2': 'Validity Periods',
  '4.3': 'Verifying Name Chaining',
  '4.4': 'Basic Certificate Revocation',
  '4.5': 'Self-Issued Certificates',
  '4.6': 'Basic Constraints',
  '4.7': 'Key Usage',
  '4.8': 'Certificate Policies',
  '4.9': 'Require Explicit Policy',
  '4.10': 'Policy Mappings',
  '4.11': 'Inhibit Policy Mapping',
  '4.12': 'Inhibit Any Policy',
  '4.13': 'Name Constraints',
  '4.14': 'Distribution Points',
  '4.15': 'Delta-CRLs',
  '4.16': 'Private Certificate Extensions',
};

const codes = (code: VerifyFailureCode, ids: string) =>
  Object.fromEntries(ids.split(/\s+/).map((id) => [id, code])) as Record<string, VerifyFailureCode>;

/**
 * Failure code expected for each supported FAILURE case, so a case cannot pass for the wrong
 * reason. Revocation failures are `revoked` when a valid CRL lists the certificate and
 * `crl_invalid` when no usable CRL decides its status.
 */
const EXPECTED_CODES: Record<string, VerifyFailureCode> = {
  ...codes('bad_signature', '4.1.2 4.1.3 4.1.6'),
  ...codes('not_yet_valid', '4.2.1 4.2.2'),
  ...codes('expired', '4.2.5 4.2.6 4.2.7'),
  ...codes('untrusted', '4.3.1 4.3.2'),
  ...codes('revoked', '4.4.2 4.4.3 4.4.15 4.4.18 4.4.20 4.5.2 4.5.5 4.5.7'),
  ...codes('crl_invalid', '4.4.1 4.4.4 4.4.5 4.4.6 4.4.8 4.4.9 4.4.10 4.4.11 4.4.12 4.4.21'),
  ...codes('not_ca', '4.5.8 4.6.1 4.6.2 4.6.3'),
  ...codes('path_length_exceeded', '4.6.5 4.6.6 4.6.9 4.6.10 4.6.11 4.6.12 4.6.16'),
  ...codes('key_usage', '4.7.1 4.7.2 4.7.4 4.7.5'),
  ...codes(
    'name_constraints',
    '4.13.2 4.13.3 4.13.7 4.13.8 4.13.9 4.13.10 4.13.12 4.13.13 4.13.15 4.13.16 4.13.17 4.13.20 ' +
      '4.13.22 4.13.24 4.13.26 4.13.28 4.13.29 4.13.31 4.13.33 4.13.35 4.13.37 4.13.38',
  ),
  ...codes('revoked', '4.14.2 4.14.6 4.14.15 4.14.16 4.14.20 4.14.21 4.14.23 4.14.31 4.14.32 4.14.34'),
  ...codes('crl_invalid', '4.14.3 4.14.8 4.14.9 4.14.11 4.14.12 4.14.14 4.14.17 4.14.26 4.14.27 4.14.35'),
  ...codes('revoked', '4.15.3 4.15.4 4.15.6 4.15.9'),
  ...codes('crl_invalid', '4.15.1 4.15.10'),
  ...codes('unknown_critical_extension', '4.16.2'),
  ...codes(
    'policy_required',
    '4.8.1 4.8.2 4.8.3 4.8.4 4.8.5 4.8.6 4.8.7 4.8.8 4.8.9 4.8.12 4.8.14 4.9.3 4.9.5 4.9.7 4.9.8 ' +
      '4.10.1.2 4.10.1.3 4.10.2 4.10.3 4.10.4 4.10.5 4.10.6 4.10.10 4.10.13 4.11.1 4.11.3 4.11.5 ' +
      '4.11.6 4.11.8 4.11.9 4.11.10 4.11.11 4.12.1 4.12.3 4.12.4 4.12.5 4.12.6 4.12.8 4.12.10',
  ),
  // policyMappings with anyPolicy (RFC 5280 §6.1.4 (a))
  ...codes('policy_invalid', '4.10.7 4.10.8'),
};

function run(tc: PkitsCase, profile: VerifyProfile): VerifyResult {
  return verifyChain({
    leaf: tc.peer_certificate,
    intermediates: tc.untrusted_intermediates,
    trustAnchors: tc.trusted_certs,
    crls: tc.crls.length > 0 ? tc.crls : undefined,
    at: new Date(tc.validation_time),
    initialPolicies: tc.settings.initial_policy_set_oids,
    initialExplicitPolicy: tc.settings.initial_explicit_policy,
    initialPolicyMappingInhibit: tc.settings.initial_policy_mapping_inhibit,
    initialAnyPolicyInhibit: tc.settings.initial_inhibit_any_policy,
    // PKITS checks RFC 5280 itself (DSA keys, CA certificates as end entities): `rfc5280` must
    // agree on every case; `strict` may refuse more, with a strict-profile code only.
    profile,
  });
}

const outcome = (r: VerifyResult) => (r.ok ? 'SUCCESS' : `FAILURE (${r.code}: ${r.reason})`);

interface Tally {
  pass: number;
  total: number;
}

function printTable(tallies: Map<string, Tally>): void {
  const rows = [...tallies].map(([section, t]) => [
    section,
    SECTION_TITLES[section] ?? '',
    `${t.pass}/${t.total}`,
  ]);
  const sum = (f: (t: Tally) => number) => [...tallies.values()].reduce((n, t) => n + f(t), 0);
  rows.push(['all', '', `${sum((t) => t.pass)}/${sum((t) => t.total)}`]);
  const header = ['section', 'title', 'pass'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  const out = [
    '',
    'NIST PKITS results',
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
    '',
  ];
  process.stdout.write(`${out.join('\n')}\n`);
}

/** A case on which the strict profile does not give NIST's answer (result and code). */
interface StrictDifference {
  tc: PkitsCase;
  expected: string;
  code: VerifyFailureCode;
  /** The certificate refused: leaf, intermediate, trust anchor or CRL signer. */
  at: string;
  why: string;
}

const STRICT_BEGIN = '<!-- pkits-strict:begin (generated by test/pki/verify/pkits.test.ts) -->';
const STRICT_END = '<!-- pkits-strict:end -->';

/** The codes listed in the "Profile" table of docs/pkits.md, each with its source column. */
function documentedStrictCodes(doc: string): Map<string, string> {
  const start = doc.indexOf('\n## Profile');
  assert.ok(start >= 0, 'docs/pkits.md has no "## Profile" section');
  const section = doc.slice(start, doc.indexOf('\n#', start + 1));
  const codes = new Map<string, string>();
  for (const line of section.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    if (cells.length !== 5) continue; // | rule | code | source |
    for (const m of cells[2]!.matchAll(/`([a-z0-9_]+)`/g)) codes.set(m[1]!, cells[3]!);
  }
  return codes;
}

function strictDifference(tc: PkitsCase, result: VerifyResult): StrictDifference | undefined {
  const expectedCode = EXPECTED_CODES[tc.test_number];
  if (tc.expected_result === 'SUCCESS' ? result.ok : !result.ok && result.code === expectedCode) return;
  // Never a strict-profile acceptance of a path NIST says is invalid.
  assert.ok(
    !result.ok,
    `${tc.id}: NIST expects FAILURE (${expectedCode ?? '?'}), the strict profile accepts it`,
  );
  const split = result.reason.indexOf('": ');
  return {
    tc,
    expected: tc.expected_result === 'SUCCESS' ? 'SUCCESS' : `FAILURE (\`${expectedCode ?? '?'}\`)`,
    code: result.code,
    at: /^(leaf|intermediate|trust anchor|CRL signer)/.exec(result.reason)?.[1] ?? '',
    why: split >= 0 ? result.reason.slice(split + 3) : result.reason,
  };
}

const caseName = (tc: PkitsCase) => `${tc.id.replace(/^pkits::/, '')} ${tc.title}`;

/** The generated part of docs/pkits.md: per section, then every case that differs from NIST. */
function strictTable(testcases: readonly PkitsCase[], differences: readonly StrictDifference[]): string {
  const differs = new Map(differences.map((d) => [d.tc.id, d]));
  const valid = differences.filter((d) => d.tc.expected_result === 'SUCCESS').length;
  const cell = (codes: Iterable<string>) => [...new Set(codes)].map((c) => `\`${c}\``).join(', ');
  const sections = [...new Set(testcases.map((tc) => tc.section))].map((section) => {
    const cases = testcases.filter((tc) => tc.section === section);
    const refused = cases.flatMap((tc) => differs.get(tc.id) ?? []);
    return `| ${section} | ${SECTION_TITLES[section] ?? ''} | ${cases.length - refused.length}/${cases.length} | ${
      refused.length > 0 ? `${refused.length}: ${cell(refused.map((d) => d.code))}` : ''
    } |`;
  });
  return [
    STRICT_BEGIN,
    '',
    `Under the strict profile **${testcases.length - differences.length} of ${testcases.length}** cases give ` +
      "NIST's expected result\n(failures with the same code as under `rfc5280`). The other " +
      `${differences.length} are refused by a strict rule:\n${valid} paths NIST expects to be valid, and ` +
      `${differences.length - valid} invalid paths refused by a strict rule before the check NIST\ntests. ` +
      'No path NIST expects to fail is accepted.',
    '',
    '| section | title | agree | refused by a strict rule |',
    '| --- | --- | --- | --- |',
    ...sections,
    `| **all** | | **${testcases.length - differences.length}/${testcases.length}** | **${differences.length}** |`,
    '',
    '| case | NIST expects | strict profile | refused at | why |',
    '| --- | --- | --- | --- | --- |',
    ...differences.map((d) => `| ${caseName(d.tc)} | ${d.expected} | \`${d.code}\` | ${d.at} | ${d.why} |`),
    '',
    STRICT_END,
  ].join('\n');
}

/**
 * docs/pkits.md with the generated block replaced, formatted as `prettier --check` wants it; written
 * with GATEHOUSE_UPDATE_DOCS=1, else compared.
 */
async function checkStrictDoc(block: string): Promise<void> {
  const doc = readFileSync(PKITS_DOC, 'utf8');
  const begin = doc.indexOf(STRICT_BEGIN);
  const end = doc.indexOf(STRICT_END);
  assert.ok(begin >= 0 && end > begin, `docs/pkits.md must hold the ${STRICT_BEGIN} … ${STRICT_END} block`);
  const options = { ...(await prettier.resolveConfig(PKITS_DOC)), filepath: PKITS_DOC };
  const expected = await prettier.format(
    doc.slice(0, begin) + block + doc.slice(end + STRICT_END.length),
    options,
  );
  if (expected === doc) return;
  if (process.env.GATEHOUSE_UPDATE_DOCS === '1') {
    writeFileSync(PKITS_DOC, expected);
    return;
  }
  assert.fail(
    'docs/pkits.md: the strict-profile PKITS table is out of date; rerun this test with GATEHOUSE_UPDATE_DOCS=1',
  );
}

if (!existsSync(PKITS_JSON)) {
  const message = `NIST PKITS data not found at ${PKITS_DIR} (expected ../shared/conformance/nist-pkits next to the repo)`;
  if (['true', '1'].includes(String(process.env.CI).toLowerCase())) {
    test('NIST PKITS', () => assert.fail(`${message}; CI must have it`));
  } else {
    test('NIST PKITS', { skip: `${message}; skipped outside CI` }, () => {});
  }
} else {
  const { testcases } = JSON.parse(readFileSync(PKITS_JSON, 'utf8')) as { testcases: PkitsCase[] };

  test('NIST PKITS', async (t) => {
    assert.equal(testcases.length, 249, 'pkits.json should hold the 249 PKITS cases');
    const tallies = new Map<string, Tally>();
    for (const tc of testcases) {
      const tally = tallies.get(tc.section) ?? { pass: 0, total: 0 };
      tallies.set(tc.section, tally);
      const result = run(tc, 'rfc5280');
      const agrees = result.ok === (tc.expected_result === 'SUCCESS');
      tally.total++;
      const expectedCode = EXPECTED_CODES[tc.test_number];
      const correct = agrees && (result.ok || result.code === expectedCode);
      if (correct) tally.pass++;
      await t.test(`${tc.id} ${tc.title}`, () => {
        const expected = tc.expected_result === 'SUCCESS' ? 'SUCCESS' : `FAILURE (${expectedCode ?? '?'})`;
        assert.ok(correct, `${tc.id}: expected ${expected}, got ${outcome(result)}`);
      });
    }
    printTable(tallies);
  });

  test('NIST PKITS under the strict profile: refused only by documented strict rules', async (t) => {
    const documented = documentedStrictCodes(readFileSync(PKITS_DOC, 'utf8'));
    for (const code of STRICT_PROFILE_CODES) {
      assert.ok(documented.get(code), `docs/pkits.md "Profile" lists ${code} with its source`);
    }
    const differences: StrictDifference[] = [];
    for (const tc of testcases) {
      const result = run(tc, 'strict');
      await t.test(`${tc.id} ${tc.title} (strict)`, () => {
        const difference = strictDifference(tc, result);
        if (!difference) return;
        assert.ok(
          (STRICT_PROFILE_CODES as readonly string[]).includes(difference.code) &&
            documented.has(difference.code),
          `${tc.id}: NIST expects ${difference.expected}; the strict profile refuses it with ${difference.code}, ` +
            `which is not a documented strict-profile code: ${outcome(result)}`,
        );
        differences.push(difference);
      });
    }
    await checkStrictDoc(strictTable(testcases, differences));
  });
}
