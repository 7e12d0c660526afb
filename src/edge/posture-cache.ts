import type { Logger } from '../observability/index.js';
import type { Store } from '../store/index.js';
import { CONFIG_POLL_MS } from './loader.js';

const NONE: ReadonlySet<string> = new Set();

/**
 * Which device posture rules each registration certificate passes, and the assurance level of
 * the active registration each certificate belongs to, in memory: access decisions never query
 * the database. Registrations made, renewed or ended move the posture version too. Polls the posture version (one single-row read per interval, apart
 * from the config version so that frequent reports never recompile the TLS snapshot) and reloads
 * the passing results when it moves; expiry is checked per lookup, so a result lapses on time
 * even without a reload.
 */
export class PostureCache {
  /** Certificate SHA-256 (hex) → rule id → expiry in ms (Infinity: until replaced). */
  #byCertificate = new Map<string, Map<string, number>>();
  /** Certificate SHA-256 (hex) → assurance level of its active registration. */
  #assurance = new Map<string, string>();
  #version = -1;
  #timer: NodeJS.Timeout | undefined;
  #reloading = false;

  private constructor(
    private readonly store: Store,
    private readonly logger: Logger,
  ) {}

  static async start(store: Store, logger: Logger, pollMs = CONFIG_POLL_MS): Promise<PostureCache> {
    const cache = new PostureCache(store, logger);
    await cache.check();
    cache.#timer = setInterval(() => void cache.check(), pollMs);
    cache.#timer.unref();
    return cache;
  }

  /** The rules the device behind this certificate passes at `nowMs`. */
  passing(certificateSha256: string, nowMs: number): ReadonlySet<string> {
    const rules = this.#byCertificate.get(certificateSha256);
    if (!rules) return NONE;
    const out = new Set<string>();
    for (const [id, expires] of rules) if (expires > nowMs) out.add(id);
    return out;
  }

  /**
   * The assurance level of the active registration whose current, unrevoked certificate this
   * is; undefined for any other certificate (ended registration, plain issued certificate).
   */
  assurance(certificateSha256: string): string | undefined {
    return this.#assurance.get(certificateSha256);
  }

  async check(): Promise<void> {
    if (this.#reloading) return;
    this.#reloading = true;
    try {
      // The version first: a report landing while we read is picked up by the next poll.
      const version = await this.store.postureVersion.current();
      if (version === this.#version) return;
      const [rows, assurances] = await Promise.all([
        this.store.postureResults.passing(new Date().toISOString()),
        this.store.registrations.activeAssurances(),
      ]);
      const next = new Map<string, Map<string, number>>();
      for (const row of rows) {
        const rules = next.get(row.certificate_fingerprint) ?? new Map<string, number>();
        rules.set(row.rule_id, row.expires_at === null ? Infinity : Date.parse(row.expires_at));
        next.set(row.certificate_fingerprint, rules);
      }
      this.#byCertificate = next;
      this.#assurance = new Map(assurances.map((r) => [r.certificate_fingerprint, r.assurance]));
      this.#version = version;
    } catch (err) {
      // Keep the last good view; a failed first load leaves it empty (fail closed).
      this.logger.error({ err }, 'posture cache reload failed; keeping the previous one');
    } finally {
      this.#reloading = false;
    }
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
