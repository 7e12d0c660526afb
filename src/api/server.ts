import type { Server as TlsServer } from 'node:tls';
import { fileURLToPath } from 'node:url';
import type { AdminSignInConfig } from '../access/index.js';
import type { Authority, TlsMaterial } from '../authority/index.js';
import { formatHostPort } from '../config/index.js';
import type { EdgeWorkersStatus } from '../edge/index.js';
import { createMetrics, type Logger } from '../observability/index.js';
import { buildApi } from './app.js';
import type { ApiApp } from './context.js';
import type { Services } from './services.js';

export interface RunningApi {
  app: ApiApp;
  url: string;
  /** Serves new connections with another certificate (renewal); open connections keep theirs. */
  setTls(tls: TlsMaterial): void;
  close(): Promise<void>;
}

/** Starts the control-plane API on HTTPS with the given (or the org-issued) server certificate. */
export async function startApiServer(options: {
  authority: Authority;
  /** The services, built once where the server starts (default: from `authority`). */
  services?: Services;
  host: string;
  port: number;
  tls: TlsMaterial;
  logger: Logger;
  /** Extra metrics text to append to /metrics (the edge workers'). */
  extraMetrics?: () => Promise<string>;
  adminSignIn?: AdminSignInConfig;
  /** This node's edge workers, for /readyz. */
  edgeStatus?: () => EdgeWorkersStatus;
  /** The built console; defaults to dist/web beside this module. */
  webRoot?: string;
}): Promise<RunningApi> {
  const clientCas = await options.authority.orgCaChainPem();
  const metrics = createMetrics();
  const extra = options.extraMetrics;
  if (extra) metrics.render = async () => `${await metrics.registry.metrics()}\n${await extra()}`;
  const secureContext = (tls: TlsMaterial) => ({
    cert: tls.certificatePem + tls.chainPem,
    key: tls.privateKeyPem,
    ca: clientCas,
  });
  const app = await buildApi({
    authority: options.authority,
    ...(options.services ? { services: options.services } : {}),
    metrics,
    logger: options.logger,
    webRoot: options.webRoot ?? fileURLToPath(new URL('../web', import.meta.url)),
    ...(options.adminSignIn ? { adminSignIn: options.adminSignIn } : {}),
    ...(options.edgeStatus ? { edgeStatus: options.edgeStatus } : {}),
    tls: secureContext(options.tls),
  });
  await app.listen({
    host: options.host,
    port: options.port,
    // Fastify derives the scheme from its own `https` option, which the serverFactory bypasses.
    listenTextResolver: (address) => `API listening at ${address.replace(/^http:/, 'https:')}`,
  });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const displayHost = options.host === '0.0.0.0' || options.host === '::' ? 'localhost' : options.host;
  return {
    app,
    url: `https://${formatHostPort(displayHost, port)}`,
    // Fastify types its server as http.Server; with TLS it is the https.Server built in buildApi.
    setTls: (tls) => (app.server as unknown as TlsServer).setSecureContext(secureContext(tls)),
    close: () => app.close(),
  };
}
