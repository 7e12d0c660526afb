// The bare-Error lint rule (eslint.config.js): code under src/ throws a GatehouseError with a
// catalogued code (or TypeError/RangeError/InternalError), never a bare Error.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ESLint } from 'eslint';

const eslint = new ESLint();

async function bareErrorMessages(filePath: string, source: string): Promise<string[]> {
  const [result] = await eslint.lintText(source, { filePath });
  return result!.messages.filter((m) => m.ruleId === 'no-restricted-syntax').map((m) => m.message);
}

test('throwing a bare Error under src/ fails lint, with or without new', async () => {
  for (const source of [
    "export function f() {\n  throw new Error('no');\n}\n",
    "export function f() {\n  throw Error('no');\n}\n",
  ]) {
    const messages = await bareErrorMessages('src/pki/example.ts', source);
    assert.equal(messages.length, 1, source);
    assert.match(messages[0]!, /GatehouseError/);
  }
});

test('GatehouseError, TypeError and Error subclasses pass; tests and scripts are not concerned', async () => {
  const typed =
    "import { GatehouseError } from '../errors/index.js';\n" +
    'export function f(n: number) {\n' +
    "  if (n < 0) throw new TypeError('n must be positive');\n" +
    "  throw new GatehouseError('invalid_argument', 'no');\n" +
    '}\n';
  assert.deepEqual(await bareErrorMessages('src/pki/example.ts', typed), []);
  const bare = "export function f() {\n  throw new Error('no');\n}\n";
  assert.deepEqual(await bareErrorMessages('test/pki/example.ts', bare), []);
  assert.deepEqual(await bareErrorMessages('scripts/example.ts', bare), []);
});
