/**
 * The edge's TLS server, as wiring: the listener's settings, then which part takes what.
 *
 * - a new connection: admission.ts (admitConnection) decides whether it gets node:https's HTTP
 *   machinery or the refusal path (refusal.ts);
 * - a request: forward.ts (admission, access-reply.ts, the origin, access-log.ts);
 * - an upgrade: upgrade.ts; a request node:http cannot parse: 400/408/431 here.
 */
import type { IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { InternalError } from '../errors/index.js';
import type { Logger } from '../observability/index.js';
import { admitConnection } from './admission.js';
import { handleRequest } from './forward.js';
import type { EdgeMetrics } from './metrics.js';
import type { UpstreamPools } from './proxy.js';
import { HEADERS_TIMEOUT_MS, refusalPath } from './refusal.js';
import { clientErrorResponse } from './responses.js';
import { EDGE_SECURE_OPTIONS, type EdgeSnapshot } from './snapshot.js';
import { handleUpgrade } from './upgrade.js';

export interface EdgeServerOptions {
  snapshot: () => EdgeSnapshot;
  pools: UpstreamPools;
  metrics: EdgeMetrics;
  logger: Logger;
  accessLog: boolean;
  /** Device posture rules the device behind a certificate (SHA-256 hex) passes now, from memory. */
  posture?: (certificateSha256: string, nowMs: number) => ReadonlySet<string>;
  /** Assurance level of the active registration a certificate (SHA-256 hex) belongs to, from memory. */
  deviceAssurance?: (certificateSha256: string) => string | undefined;
}

export function createEdgeServer(options: EdgeServerOptions): https.Server {
  const server = https.createServer(
    {
      SNICallback: (servername, cb) => {
        const snapshot = options.snapshot();
        cb(null, snapshot.hosts.get(servername.toLowerCase())?.secureContext ?? snapshot.defaultContext);
      },
      // Ask every client for a certificate; the per-hostname decision is made after the handshake
      // so report mode can forward failures and enforce mode can answer with a 403 page.
      requestCert: true,
      rejectUnauthorized: false,
      secureOptions: EDGE_SECURE_OPTIONS,
      minVersion: 'TLSv1.2',
      // Clients without SNI (or with one the edge does not serve) get this certificate and a 421.
      cert: options.snapshot().defaultTls.cert,
      key: options.snapshot().defaultTls.key,
      maxHeaderSize: 16 * 1024,
      requestTimeout: 60_000,
      headersTimeout: HEADERS_TIMEOUT_MS,
      keepAliveTimeout: 30_000,
    },
    (req, res) => handleRequest(options, req, res),
  );

  // node:https attaches its HTTP machinery to each connection in one 'secureConnection' listener;
  // connections refused whatever they ask skip it (see refusal.ts).
  const [listener, ...unexpected] = server.listeners('secureConnection');
  if (typeof listener !== 'function' || unexpected.length > 0)
    throw new InternalError('node:https no longer has exactly one secureConnection listener');
  const httpConnection = listener as (this: https.Server, socket: TLSSocket) => void;
  server.removeListener('secureConnection', httpConnection);
  const toHttp = (socket: TLSSocket) => httpConnection.call(server, socket);
  const refuseConnection = refusalPath(server, options);

  server.on('secureConnection', (socket: TLSSocket) => {
    if (admitConnection(socket, options.snapshot(), options.metrics)) httpConnection.call(server, socket);
    else refuseConnection(socket);
  });

  // Malformed requests (smuggling attempts, obs-fold, bad chunking, oversized headers) are caught
  // by Node's strict parser before any handler runs: answer 400 and close, never forward.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (!socket.writable) return socket.destroy();
    const status =
      err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    socket.end(clientErrorResponse(status));
  });

  server.on('upgrade', (req: IncomingMessage, client: Socket, head: Buffer) =>
    handleUpgrade(options, toHttp, req, client, head),
  );

  return server;
}
