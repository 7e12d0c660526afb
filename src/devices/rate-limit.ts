/**
 * Per-client fixed-window counters, in memory (one control-plane process): RFC 8628 §5.2 asks for
 * rate limits on user-code guesses and device-authorization requests. Bounded: past `maxKeys`
 * clients the oldest window is forgotten (an attacker rotating addresses gains nothing a fixed
 * per-address limit would not give them anyway).
 */
export class RateLimiter {
  readonly #windows = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly maxKeys = 10_000,
  ) {}

  #current(key: string, nowMs: number): { start: number; count: number } | undefined {
    const w = this.#windows.get(key);
    if (w && nowMs - w.start < this.windowMs) return w;
    if (w) this.#windows.delete(key);
    return undefined;
  }

  /** Whether `key` has used up its window. */
  exhausted(key: string, nowMs: number): boolean {
    return (this.#current(key, nowMs)?.count ?? 0) >= this.limit;
  }

  /** Counts one event for `key`; false when it is over the limit (the event is still counted). */
  take(key: string, nowMs: number): boolean {
    const w = this.#current(key, nowMs);
    if (w) {
      w.count++;
      return w.count <= this.limit;
    }
    if (this.#windows.size >= this.maxKeys) {
      const oldest = this.#windows.keys().next().value;
      if (oldest !== undefined) this.#windows.delete(oldest);
    }
    this.#windows.set(key, { start: nowMs, count: 1 });
    return this.limit >= 1;
  }

  /** Whole seconds until `key`'s window ends (at least 1). */
  retryAfterS(key: string, nowMs: number): number {
    const w = this.#current(key, nowMs);
    return w ? Math.max(1, Math.ceil((w.start + this.windowMs - nowMs) / 1000)) : 1;
  }
}
