// Background work while `serve` runs: keeping the certificates Gatehouse issued to itself current
// (the control plane's server certificate, org-issued hostname certificates) and the org CRLs
// signed. With several nodes on one database exactly one of them does it at a time: the holder of
// a lease (a row with an expiry) that it renews every interval; when it dies the lease lapses and
// another node takes over within `3 × intervalMs`. Every node, holder or not, serves the
// control-plane certificate that is in the database.
import { hostname as osHostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Authority } from '../authority/index.js';
import { IDEMPOTENCY_TTL_MS, type RunningApi, type Services } from '../api/index.js';
import type { Logger } from '../observability/index.js';

export const RENEWAL_CHECK_MS = 60 * 60 * 1000;
export const BACKGROUND_LEASE = 'background';
const ACTOR = 'system:renewal';

export interface CertificateRenewal {
  /** One check now (also run at start and every `intervalMs`). */
  check(): Promise<void>;
  /** Stops the timer and gives the lease up so another node takes over at once. */
  stop(): Promise<void>;
}

/** Identifies this process as a lease holder (host, pid and a random part against pid reuse). */
export const newNodeId = () => `${osHostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;

export function startCertificateRenewal(options: {
  authority: Authority;
  /** The hostnames whose org-issued server certificates this renews (built where the server starts). */
  hostnames: Services['hostnames'];
  /** The API to hand a renewed control-plane certificate to; omitted when the admin brought one. */
  api?: RunningApi;
  /** The control-plane certificate the API serves now (PEM), to notice another node's renewal. */
  servedCertificatePem?: string;
  logger: Logger;
  intervalMs?: number;
  nodeId?: string;
}): CertificateRenewal {
  const { authority, api, logger, hostnames } = options;
  const intervalMs = options.intervalMs ?? RENEWAL_CHECK_MS;
  const nodeId = options.nodeId ?? newNodeId();
  let served = options.servedCertificatePem;
  let owner = false;
  let running: Promise<void> | null = null;

  /** Every node: serve what the database holds (another node may have renewed it). */
  const reloadControlPlane = async () => {
    if (!api || served === undefined) return;
    const stored = await authority.storedControlPlaneCertificate();
    if (stored === undefined || stored === served) return;
    const tls = await authority.controlPlaneTls();
    api.setTls(tls);
    served = tls.certificatePem;
    logger.info('serving the control-plane certificate renewed by another node');
  };

  const claimLease = async () => {
    const now = authority.now();
    const claimed = await authority.store.leases.claim(
      BACKGROUND_LEASE,
      nodeId,
      now.toISOString(),
      new Date(now.getTime() + 3 * intervalMs).toISOString(),
    );
    if (claimed !== owner)
      logger.info(
        { node: nodeId },
        claimed ? 'took over background work' : 'background work is another node’s now',
      );
    owner = claimed;
    return claimed;
  };

  const ownerWork = async () => {
    if (api) {
      const tls = await authority.renewControlPlaneTls(ACTOR);
      if (tls) {
        api.setTls(tls);
        served = tls.certificatePem;
        logger.info('renewed the control-plane server certificate');
      }
    }
    const { renewed, customExpiring } = await hostnames.renewServerCertificates(ACTOR);
    if (renewed.length > 0) logger.info({ hostnames: renewed }, 'renewed hostname server certificates');
    for (const { hostname, notAfter } of customExpiring)
      logger.warn({ hostname, not_after: notAfter }, 'the admin-supplied server certificate expires soon');
    await authority.store.idempotencyKeys.deleteOlderThan(
      new Date(authority.now().getTime() - IDEMPOTENCY_TTL_MS).toISOString(),
    );
    const crls = await authority.refreshCrls();
    if (crls.length > 0) logger.info({ crl_numbers: crls }, 're-signed CRLs');
  };

  const checkOnce = async () => {
    await reloadControlPlane();
    if (await claimLease()) await ownerWork();
  };
  // One check at a time; a failure (the database down) is logged and retried at the next interval.
  const check = () =>
    (running ??= checkOnce()
      .catch((err: unknown) => logger.error({ err }, 'background work failed'))
      .finally(() => {
        running = null;
      }));

  void check();
  const timer = setInterval(() => void check(), intervalMs);
  timer.unref();
  return {
    check,
    stop: async () => {
      clearInterval(timer);
      await running;
      if (owner) await authority.store.leases.release(BACKGROUND_LEASE, nodeId).catch(() => undefined);
    },
  };
}
