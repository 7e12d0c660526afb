// The error catalogue (src/errors/codes.ts): codes unique across domains, snake_case, and
// docs/errors.md generated from it.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ERROR_DOCS_PATH, renderErrorDocs } from '../../scripts/error-codes.js';
import { errorCodeList } from '../../src/errors/index.js';

test('every code is listed once, in snake_case, with a one-line meaning', () => {
  const seen = new Map<string, string>();
  for (const { code, domain, meaning } of errorCodeList()) {
    assert.ok(!seen.has(code), `${code} is in both ${seen.get(code)} and ${domain}`);
    seen.set(code, domain);
    assert.match(code, /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/);
    assert.ok(meaning.length > 0 && !meaning.includes('\n'), code);
  }
});

test('docs/errors.md is generated from the catalogue (npx tsx scripts/error-codes.ts --write)', async () => {
  assert.equal(readFileSync(ERROR_DOCS_PATH, 'utf8'), await renderErrorDocs());
});
