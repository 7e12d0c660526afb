#!/usr/bin/env node
import { buildProgram } from './commands.js';
import { reportError } from './output.js';

const program = buildProgram();
program.exitOverride();
try {
  await program.parseAsync(process.argv);
} catch (err) {
  // commander reports its own usage errors (and --help / --version) before throwing.
  const code = (err as { code?: string }).code;
  if (typeof code === 'string' && code.startsWith('commander.')) {
    process.exitCode = (err as { exitCode?: number }).exitCode ?? 2;
  } else {
    process.exitCode = reportError(err, process.argv.includes('--json'));
  }
}
