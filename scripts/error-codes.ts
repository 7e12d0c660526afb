// docs/errors.md from the error catalogue (src/errors/codes.ts). `npx tsx scripts/error-codes.ts
// --write` rewrites it; test/errors/catalogue.test.ts fails when the two differ.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { format, resolveConfig } from 'prettier';
import { errorCodeList } from '../src/errors/index.js';

export const ERROR_DOCS_PATH = fileURLToPath(new URL('../docs/errors.md', import.meta.url));

/** The page as `npm run lint` wants it (Prettier aligns the tables). */
export async function renderErrorDocs(): Promise<string> {
  const lines = [
    '# Error codes',
    '',
    '<!-- Generated from src/errors/codes.ts by `npx tsx scripts/error-codes.ts --write`; do not edit. -->',
    '',
    'Every failure Gatehouse reports carries one of these codes: the API envelope’s',
    '`errors[].code`, the CLI’s `--json` output, the agent’s messages. Codes never change meaning',
    'and are never renamed; the HTTP status is in the API reference ([openapi.json](openapi.json)).',
  ];
  let domain = '';
  for (const e of errorCodeList()) {
    if (e.domain !== domain) {
      domain = e.domain;
      lines.push('', `## ${domain}`, '', '| Code | Meaning |', '| --- | --- |');
    }
    lines.push(`| \`${e.code}\` | ${e.meaning} |`);
  }
  const options = await resolveConfig(ERROR_DOCS_PATH);
  return format(`${lines.join('\n')}\n`, { ...options, filepath: ERROR_DOCS_PATH });
}

if (process.argv.includes('--write')) {
  writeFileSync(ERROR_DOCS_PATH, await renderErrorDocs());
  console.log(`wrote ${ERROR_DOCS_PATH}`);
}
