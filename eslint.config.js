// Lint rules: ESLint's and typescript-eslint's recommended sets; formatting is Prettier's job.
// The console (web/) runs in browsers and adds the React hooks rules.
import js from '@eslint/js';
import reactHooks from 'eslint-plugin-react-hooks';
import globals from 'globals';
import tseslint from 'typescript-eslint';

// Domain boundaries (docs/architecture.md): code in src/<domain>/ imports another domain only
// through its index.ts or one of these named entry points (paths under src/).
const DOMAIN_ENTRY_POINTS = [
  '[^/]+/index\\.js', // every domain's public surface
  'posture/server\\.js', // posture's server side (the API, the CLI); posture/index.ts is the pure part
  'edge/admin/index\\.js', // the edge's admin side (hostnames); edge workers never load it
  'devices/attestation/index\\.js', // TPM attestation: shared with the agent and access's assurance levels
  'agent/keys/engine\\.js', // cli/runtime.ts checks the runtime before anything else loads: one constant
];
// no-restricted-imports sees the import string, not the resolved file, so there is one pattern per
// folder depth: from src/<domain>/a/b.ts, another domain's files start with '../../'.
const boundaryRules = [1, 2, 3, 4].map((depth) => ({
  files: [`src/${'*/'.repeat(depth)}*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          {
            regex: `^(\\.\\./){${depth}}(?!(${DOMAIN_ENTRY_POINTS.join('|')})$)[^./][^/]*/`,
            message:
              'Import another domain through its index.ts (or a named entry point in eslint.config.js), not its internals.',
          },
        ],
      },
    ],
  },
}));

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.gatehouse/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  ...boundaryRules,
  {
    // Failures carry a code from the closed catalogue (src/errors/codes.ts) that API clients, the
    // CLI's --json output and the agent match on: throw a GatehouseError; a misuse by the caller is
    // a TypeError or RangeError, a broken invariant an InternalError. A bare Error says neither.
    files: ['src/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        ...['NewExpression', 'CallExpression'].map((node) => ({
          selector: `ThrowStatement > ${node}[callee.name='Error']`,
          message:
            'Throw a GatehouseError with a code from src/errors/codes.ts (or TypeError/RangeError for a misuse, InternalError for a broken invariant), not a bare Error.',
        })),
      ],
    },
  },
  {
    files: ['web/src/**/*.{ts,tsx}'],
    languageOptions: { globals: { ...globals.browser } },
    plugins: { 'react-hooks': reactHooks },
    rules: {
      'react-hooks/rules-of-hooks': 'error',
      'react-hooks/exhaustive-deps': 'warn',
    },
  },
);
