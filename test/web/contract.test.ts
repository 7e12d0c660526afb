// The console's API types are generated from docs/openapi.json (which test/api checks against
// the server's schemas), and the console compiles only while it follows them.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import ts from 'typescript';
import {
  generateConsoleTypes,
  generateConsoleValues,
  readOpenApiDocument,
  SCHEMA_TS_PATH,
  VALUES_TS_PATH,
} from '../../scripts/generate-console-types.js';

const WEB_TSCONFIG = join(import.meta.dirname, '..', '..', 'web', 'tsconfig.json');

/** The console's type errors, with the generated files replaced by `generated` (in memory). */
function consoleTypeErrors(generated: Map<string, string>): string[] {
  const config = ts.getParsedCommandLineOfConfigFile(
    WEB_TSCONFIG,
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => assert.fail(String(d.messageText)),
    },
  )!;
  const host = ts.createCompilerHost(config.options);
  const readFile = host.readFile.bind(host);
  host.readFile = (file) => generated.get(file) ?? readFile(file);
  const program = ts.createProgram({ rootNames: config.fileNames, options: config.options, host });
  return ts
    .getPreEmitDiagnostics(program)
    .map(
      (d) =>
        `${d.file ? d.file.fileName.slice(dirname(WEB_TSCONFIG).length + 1) : ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`,
    );
}

type Json = Record<string, unknown>;
/** The components schema titled `title`, in the document as the server writes it. */
const schemaTitled = (doc: Json, title: string): Json =>
  Object.values((doc.components as { schemas: Record<string, Json> }).schemas).find(
    (s) => s.title === title,
  )!;

describe('console API contract', () => {
  test('web/src/api/{schema,values}.ts are generated from the committed docs/openapi.json', async () => {
    const doc = readOpenApiDocument();
    for (const [path, expected] of [
      [SCHEMA_TS_PATH, await generateConsoleTypes(doc)],
      [VALUES_TS_PATH, await generateConsoleValues(doc)],
    ] as const)
      assert.ok(readFileSync(path, 'utf8') === expected, `${path} is stale: run \`npm run docs:openapi\``);
  });

  test('tsc on the console fails when the server changes a schema it does not follow', async () => {
    const doc = readOpenApiDocument() as unknown as Json;
    const hostname = schemaTitled(doc, 'Hostname') as any; // eslint-disable-line @typescript-eslint/no-explicit-any
    hostname.properties.client_auth.properties.forward.properties.styles.items.anyOf.push({
      type: 'string',
      enum: ['envoy_v2'],
    });
    const app = schemaTitled(doc, 'AccessApp') as any; // eslint-disable-line @typescript-eslint/no-explicit-any
    app.properties.policies.items.properties.include.items.properties.country = {
      type: 'object',
      required: ['code'],
      properties: { code: { type: 'string' } },
    };
    // What `npm run docs:openapi` would write after the server's change.
    const errors = consoleTypeErrors(
      new Map([
        [SCHEMA_TS_PATH, await generateConsoleTypes(doc as never)],
        [VALUES_TS_PATH, await generateConsoleValues(doc as never)],
      ]),
    );
    assert.ok(
      errors.some((e) => e.startsWith('src/pages/') && e.includes('envoy_v2')),
      `a new header style is an error:\n${errors.join('\n')}`,
    );
    assert.ok(
      errors.some((e) => e.startsWith('src/pages/') && e.includes('country')),
      `a new rule type is an error:\n${errors.join('\n')}`,
    );
  });
});
