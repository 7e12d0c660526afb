import { Command } from 'commander';

/** The `gatehouse` command itself, before any subcommand is registered. */
export function rootProgram(): Command {
  return new Command('gatehouse')
    .description('Gatehouse: a zero-trust gateway built on client certificates and mutual TLS')
    .version(process.env.npm_package_version ?? '0.1.0')
    .showHelpAfterError();
}
