#!/usr/bin/env node
import type { Command } from 'commander';
import { reportError } from './output.js';
import { ensureSupportedRuntime } from './runtime.js';

await ensureSupportedRuntime();

// The device agent runs on every managed machine, often from timers: `gatehouse device …` loads
// only the agent, not the server (API, edge, store), which roughly halves its start-up time.
async function loadProgram(subcommand: string | undefined): Promise<Command> {
  if (subcommand === 'device') return (await import('./device.js')).buildDeviceProgram();
  return (await import('./commands.js')).buildProgram();
}

const program = await loadProgram(process.argv[2]);
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
