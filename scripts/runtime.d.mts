// Types for scripts/runtime.mjs (imported by test/e2e/runtime.test.ts).

export const NATIVE_ADDONS: string[];
export function requiredMajor(root?: string): number;
export function runtimeProblem(root?: string): string | null;
export function headersDir(): string | null;
export function staleAddons(): string[];
export function rebuildAddons(names?: string[], log?: (msg: string) => void): number;
export function ensureRuntime(log: (msg: string) => void): number;
