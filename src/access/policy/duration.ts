import { badRequest } from '../../errors/index.js';

const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000 } as const;

/** The longest session an application or policy may ask for. */
export const MAX_SESSION_DURATION_MS = 30 * UNIT_MS.d;

export const DEFAULT_SESSION_DURATION = '24h';

const DURATION = /^(?:([0-9]{1,5})d)?(?:([0-9]{1,6})h)?(?:([0-9]{1,7})m)?(?:([0-9]{1,9})s)?$/;

/**
 * `"24h"`, `"30m"`, `"45s"`, `"0s"`, `"7d"`, or units combined largest first (`"1h30m"`) →
 * milliseconds. `"0s"` is valid (no session is kept). Anything else, or more than `maxMs` (30 days), throws
 * GatehouseError 400 `invalid_duration`.
 */
export function parseDuration(text: string, maxMs: number = MAX_SESSION_DURATION_MS): number {
  const m = typeof text === 'string' && text.length > 0 ? DURATION.exec(text) : null;
  if (!m) {
    throw badRequest(
      'invalid_duration',
      `"${String(text).slice(0, 40)}" is not a duration (expected e.g. "24h", "30m", "45s", "7d", "1h30m" or "0s")`,
    );
  }
  const [, d, h, min, s] = m;
  const ms =
    Number(d ?? 0) * UNIT_MS.d +
    Number(h ?? 0) * UNIT_MS.h +
    Number(min ?? 0) * UNIT_MS.m +
    Number(s ?? 0) * UNIT_MS.s;
  if (ms > maxMs) {
    throw badRequest(
      'invalid_duration',
      `"${text}" is longer than the maximum of ${Math.round(maxMs / UNIT_MS.d)}d`,
    );
  }
  return ms;
}
