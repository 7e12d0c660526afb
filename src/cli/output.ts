import { isGatehouseError } from '../errors/index.js';

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Prints rows as an aligned plain-text table (what `kubectl get` users expect). */
export function printTable(headers: string[], rows: string[][]): void {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  process.stdout.write(`${[line(headers), ...rows.map(line)].join('\n')}\n`);
}

/** Expected failures print `error: <message> [<code>]`; anything else is a bug and shows its stack. */
export function reportError(err: unknown, json: boolean): number {
  if (isGatehouseError(err)) {
    if (json) printJson({ success: false, errors: [{ code: err.code, message: err.message }] });
    else process.stderr.write(`error: ${err.message} [${err.code}]\n`);
    return 1;
  }
  process.stderr.write(
    `internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  return 70;
}
