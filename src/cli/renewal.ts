// Keeps the certificates Gatehouse issued to itself current while `serve` runs: the control
// plane's server certificate and the org-issued certificates of edge hostnames.
import type { Authority } from '../authority/index.js';
import type { RunningApi } from '../api/index.js';
import { HostnameService } from '../edge/index.js';
import type { Logger } from '../observability/index.js';

export const RENEWAL_CHECK_MS = 60 * 60 * 1000;
const ACTOR = 'system:renewal';

export interface CertificateRenewal {
  /** One check now (also run at start and every `intervalMs`). */
  check(): Promise<void>;
  stop(): void;
}

export function startCertificateRenewal(options: {
  authority: Authority;
  /** The API to hand a renewed control-plane certificate to; omitted when the admin brought one. */
  api?: RunningApi;
  logger: Logger;
  intervalMs?: number;
}): CertificateRenewal {
  const { authority, api, logger } = options;
  const hostnames = new HostnameService(authority);
  let running: Promise<void> | null = null;

  const checkOnce = async () => {
    if (api) {
      const tls = await authority.renewControlPlaneTls(ACTOR);
      if (tls) {
        api.setTls(tls);
        logger.info('renewed the control-plane server certificate');
      }
    }
    const { renewed, customExpiring } = await hostnames.renewServerCertificates(ACTOR);
    if (renewed.length > 0) logger.info({ hostnames: renewed }, 'renewed hostname server certificates');
    for (const { hostname, notAfter } of customExpiring)
      logger.warn({ hostname, not_after: notAfter }, 'the admin-supplied server certificate expires soon');
  };
  // One check at a time; a failure is logged and retried at the next interval.
  const check = () =>
    (running ??= checkOnce()
      .catch((err: unknown) => logger.error({ err }, 'certificate renewal failed'))
      .finally(() => {
        running = null;
      }));

  void check();
  const timer = setInterval(() => void check(), options.intervalMs ?? RENEWAL_CHECK_MS);
  timer.unref();
  return { check, stop: () => clearInterval(timer) };
}
