// The domain-boundary lint rule (eslint.config.js): a domain reaches another only through its
// index.ts or a named entry point. Lints source text as if it were a file under src/.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ESLint } from 'eslint';

const eslint = new ESLint();

async function boundaryErrors(filePath: string, source: string): Promise<string[]> {
  const [result] = await eslint.lintText(source, { filePath });
  return result!.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

const importOf = (from: string) => `import { x } from '${from}';\nexport const y = x;\n`;

describe('domain boundaries', () => {
  test('a deep import into another domain fails lint, at every folder depth', async () => {
    for (const [file, from] of [
      ['src/access/service.ts', '../store/repositories.js'],
      ['src/access/policy/schema.ts', '../../store/repositories.js'],
      ['src/access/authenticate/x/y.ts', '../../../pki/verify/index.js'],
      ['src/edge/server.ts', '../posture/evaluate.js'],
    ]) {
      const errors = await boundaryErrors(file!, importOf(from!));
      assert.equal(errors.length, 1, `${file} importing ${from}`);
      assert.match(errors[0]!, /through its index\.ts/);
    }
  });

  test('index.ts, the named entry points and the own domain pass', async () => {
    for (const [file, from] of [
      ['src/access/service.ts', '../store/index.js'],
      ['src/access/policy/schema.ts', '../../devices/attestation/index.js'],
      ['src/api/app.ts', '../posture/server.js'],
      ['src/cli/renewal.ts', '../edge/admin/index.js'],
      ['src/access/policy/schema.ts', '../runtime.js'],
      ['src/access/service.ts', './policy/schema.js'],
    ]) {
      assert.deepEqual(await boundaryErrors(file!, importOf(from!)), [], `${file} importing ${from}`);
    }
  });
});
