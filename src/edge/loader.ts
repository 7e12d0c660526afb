import { compileAccess, keysFromRows, REVOCATION_HORIZON_MS } from '../access/index.js';
import { type Authority, revokedListedUntilExpiredBy } from '../authority/index.js';
import type { Logger } from '../observability/index.js';
import type { Store } from '../store/index.js';
import type { EdgeMetrics } from './metrics.js';
import { compileSnapshot, type EdgeSnapshot } from './snapshot.js';

/** How often an edge checks the config version: changes reach it within this (plus a reload). */
export const CONFIG_POLL_MS = 250;

/** Loads and compiles the current configuration, reusing what did not change since `previous`. */
export async function loadSnapshot(
  store: Store,
  authority: Authority,
  previous?: EdgeSnapshot,
): Promise<EdgeSnapshot> {
  // Read the version first: a change that lands while we read is picked up by the next poll.
  const version = await store.configVersion.current();
  const now = authority.now();
  const [hostnames, authorities, attachedCrls, revokedSerials, tls, apps, serviceTokens, signingKeys, idps] =
    await Promise.all([
      store.hostnames.all(),
      store.authorities.all(),
      store.attachedCrls.all(),
      store.revokedSerials.all(revokedListedUntilExpiredBy(now)),
      authority.controlPlaneTls(),
      store.accessApps.all(),
      store.serviceTokens.all(),
      store.signingKeys.all(),
      store.identityProviders.all(),
    ]);
  const [caIdsByHostname, sessionRevocations] = await Promise.all([
    store.hostnames.caIds(),
    store.sessionRevocations.since(new Date(now.getTime() - REVOCATION_HORIZON_MS).toISOString()),
  ]);
  return compileSnapshot(
    {
      version,
      hostnames,
      caIdsByHostname,
      authorities,
      attachedCrls,
      revokedSerials,
      openKey: (sealed, aad) => authority.openKey(sealed, aad),
      defaultTls: { cert: tls.certificatePem + tls.chainPem, key: tls.privateKeyPem },
      access: compileAccess({
        issuer: authority.org.public_url,
        apps,
        serviceTokens,
        signingKeys: keysFromRows(signingKeys, authority),
        idps,
        sessionRevocations,
        openSecret: (sealed, aad) => authority.openKey(sealed, aad),
        loginStateKey: authority.derivedKey('oidc-login-state'),
        now,
      }),
    },
    previous,
  );
}

/**
 * Keeps the current snapshot: polls the config version (one indexed single-row read, never per
 * request) and swaps in a freshly compiled snapshot when it moves. Connections in flight keep
 * working; their next request is judged by the new snapshot.
 */
export class SnapshotHolder {
  #current: EdgeSnapshot;
  #timer: NodeJS.Timeout | undefined;
  #reloading = false;

  private constructor(
    private readonly store: Store,
    private readonly authority: Authority,
    private readonly logger: Logger,
    private readonly metrics: EdgeMetrics | undefined,
    initial: EdgeSnapshot,
  ) {
    this.#current = initial;
    metrics?.configVersion.set(initial.version);
  }

  static async start(
    store: Store,
    authority: Authority,
    logger: Logger,
    metrics?: EdgeMetrics,
    pollMs = CONFIG_POLL_MS,
  ): Promise<SnapshotHolder> {
    const holder = new SnapshotHolder(
      store,
      authority,
      logger,
      metrics,
      await loadSnapshot(store, authority),
    );
    holder.#timer = setInterval(() => void holder.check(), pollMs);
    holder.#timer.unref();
    return holder;
  }

  get current(): EdgeSnapshot {
    return this.#current;
  }

  async check(): Promise<void> {
    if (this.#reloading) return;
    this.#reloading = true;
    try {
      const version = await this.store.configVersion.current();
      if (version === this.#current.version) return;
      this.#current = await loadSnapshot(this.store, this.authority, this.#current);
      this.metrics?.configReloads.inc({ result: 'ok' });
      this.metrics?.configVersion.set(this.#current.version);
      this.logger.info(
        { version: this.#current.version, hostnames: this.#current.hosts.size },
        'edge configuration reloaded',
      );
    } catch (err) {
      // Keep serving the last good snapshot: a bad reload must not take the edge down.
      this.metrics?.configReloads.inc({ result: 'error' });
      this.logger.error({ err }, 'edge configuration reload failed; keeping the previous snapshot');
    } finally {
      this.#reloading = false;
    }
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
