// Types for scripts/system-deps.mjs (imported by test/helpers/tools.ts).

export interface SystemDep {
  package: string;
  commands: string[];
  check?: () => boolean;
  why?: string;
}

export const SYSTEM_DEPS: SystemDep[];
export class SystemDepsError extends Error {}
export function findPostgresBinDir(): string | null;
export function findCommand(name: string): string | null;
export function packageForCommand(name: string): string | null;
export function missingSystemDeps(): string[];
export function installCommand(packages: string[]): string;
export function ensureSystemDeps(opts?: { log?: (msg: string) => void }): void;
export function lookupUser(name: string): { uid: number; gid: number } | null;
