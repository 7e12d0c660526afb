/**
 * The HTTP request path: admission, then the hostname's access applications if it has any, then
 * the origin (502/504 when it fails), then the access log. Callbacks, not promises, where no
 * access application runs: this is the hot path.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { finish } from './access-log.js';
import { runAccess } from './access-reply.js';
import { admit, type Admitted } from './admission.js';
import { upstreamHeaders } from './proxy.js';
import { originFailure, send } from './responses.js';
import type { EdgeServerOptions } from './server.js';
import type { EdgeSnapshot, HostRuntime } from './snapshot.js';

export function handleRequest(options: EdgeServerOptions, req: IncomingMessage, res: ServerResponse): void {
  const started = options.accessLog ? performance.now() : 0;
  const client = req.socket.remoteAddress;
  const snapshot = options.snapshot();
  const admitted = admit(req, snapshot);
  if (admitted.response) {
    send(res, admitted.response);
    req.resume();
    return finish(options, req, res, client, admitted, started, undefined, undefined);
  }
  if (snapshot.access.apps.hasHostname(admitted.host.hostname)) {
    handleWithAccess(options, req, res, client, admitted, snapshot, started).catch((err: unknown) => {
      // Never an unhandled rejection (it would end the worker and every connection on it).
      options.logger.error({ err, hostname: admitted.host.hostname }, 'request failed');
      res.destroy();
    });
    return;
  }
  forward(options, req, res, admitted.host, admitted.headers, undefined, (upstreamMs) =>
    finish(options, req, res, client, admitted, started, upstreamMs, undefined),
  );
}

/** A hostname with access applications: they decide before anything is forwarded. */
async function handleWithAccess(
  options: EdgeServerOptions,
  req: IncomingMessage,
  res: ServerResponse,
  client: string | undefined,
  admitted: Admitted,
  snapshot: EdgeSnapshot,
  started: number,
): Promise<void> {
  const result = await runAccess(options, req, client, admitted.host, admitted.verdict, snapshot);
  if ('reply' in result) {
    const { status, headers, body } = result.reply;
    res.writeHead(status, { ...headers, 'content-length': Buffer.byteLength(body) }).end(body);
    req.resume();
    return finish(options, req, res, client, admitted, started, undefined, result.kind);
  }
  const extra: [string, string][] = result.forward.assertion
    ? [...admitted.headers, ['gatehouse-jwt-assertion', result.forward.assertion]]
    : admitted.headers;
  forward(options, req, res, admitted.host, extra, result.forward.setCookie, (upstreamMs) =>
    finish(options, req, res, client, admitted, started, upstreamMs, result.kind),
  );
}

/**
 * Proxies to the origin; answers 502/504 itself when the origin fails. Calls `done` with the
 * upstream time once the response is complete.
 */
function forward(
  options: EdgeServerOptions,
  req: IncomingMessage,
  res: ServerResponse,
  host: HostRuntime,
  added: readonly (readonly [string, string])[],
  setCookie: readonly string[] | undefined,
  done: (upstreamMs: number) => void,
): void {
  const headers = upstreamHeaders(req, host.stripped, added);
  const t0 = performance.now();
  options.pools.forward(host.origin, req, res, headers, setCookie, (outcome) => {
    const upstreamMs = performance.now() - t0;
    options.metrics.upstreamSeconds.observe(host.hostname, upstreamMs / 1000);
    if (outcome.failure) {
      options.logger.warn(
        { hostname: host.hostname, origin: host.origin.origin, err: outcome.error.message },
        'origin request failed',
      );
      if (res.destroyed) {
        // The client left (mid-body, or before the answer): nothing to answer.
      } else if (!res.headersSent) {
        send(res, originFailure(outcome.failure, req.headers.accept));
      } else {
        res.destroy(outcome.error);
      }
    }
    done(upstreamMs);
  });
}
