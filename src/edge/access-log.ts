/**
 * Every answered request is counted (metrics) and, when access logs are on, logged as one line.
 * accessLogEntry builds that line (pure).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Admission } from './admission.js';
import type { EdgeServerOptions } from './server.js';

type LogOptions = Pick<EdgeServerOptions, 'metrics' | 'logger' | 'accessLog'>;

/** The access log line of one request. */
export function accessLogEntry(
  method: string | undefined,
  path: string | undefined,
  client: string | undefined,
  admitted: Admission,
  status: number,
  durationMs: number,
  upstreamMs: number | undefined,
  access: string | undefined,
) {
  return {
    type: 'access',
    hostname: admitted.host?.hostname ?? 'unknown',
    method,
    path,
    status,
    cert_status: admitted.verdict?.status ?? 'none',
    cert_reason: admitted.verdict?.reason,
    ski: admitted.verdict?.cert?.ski ?? admitted.verdict?.ski,
    access,
    client,
    duration_ms: durationMs,
    upstream_ms: upstreamMs,
  };
}

/** Counts a request and logs it; `started` is performance.now() when it arrived (0 without logs). */
export function record(
  options: LogOptions,
  method: string | undefined,
  path: string | undefined,
  client: string | undefined,
  admitted: Admission,
  status: number,
  started: number,
  upstreamMs: number | undefined,
  access: string | undefined,
): void {
  options.metrics.request(
    admitted.host?.hostname ?? 'unknown',
    admitted.host?.mode ?? 'none',
    admitted.verdict?.status ?? 'none',
    status,
  );
  if (options.accessLog)
    options.logger.info(
      accessLogEntry(method, path, client, admitted, status, performance.now() - started, upstreamMs, access),
      'request',
    );
}

/**
 * record, once a request node:http parsed is answered. `client` is read when the request arrives:
 * by now `req.socket` may be null (undici consumed the body, the client left).
 */
export const finish = (
  options: LogOptions,
  req: IncomingMessage,
  res: ServerResponse,
  client: string | undefined,
  admitted: Admission,
  started: number,
  upstreamMs: number | undefined,
  access: string | undefined,
): void =>
  record(options, req.method, req.url, client, admitted, res.statusCode, started, upstreamMs, access);
