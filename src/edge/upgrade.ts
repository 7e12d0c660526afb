/**
 * Upgrades (WebSocket): admitted and judged like any request, then sent to the origin on a
 * connection of their own. A tunnel opens only on the origin's 101 Switching Protocols; any
 * other answer is relayed as a normal response and the client's connection goes back to the
 * HTTP parser, so every later request on it is admitted and sanitised on its own.
 */
import { type IncomingMessage, request as httpRequest, STATUS_CODES } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { record } from './access-log.js';
import { runAccess } from './access-reply.js';
import { admit } from './admission.js';
import { responseHeaders, upstreamHeaders } from './proxy.js';
import { originFailure, rawReply } from './responses.js';
import type { EdgeServerOptions } from './server.js';

/** How long an origin may take to answer an upgrade (the pools' headers timeout). */
const UPGRADE_ANSWER_TIMEOUT_MS = 60_000;
const NO_ANSWER = 'the origin did not answer';

/**
 * node:http's 'upgrade' event. `toHttp` hands the client's connection back to node:http's parser
 * (after an origin's answer other than 101).
 */
export function handleUpgrade(
  options: EdgeServerOptions,
  toHttp: (socket: TLSSocket) => void,
  req: IncomingMessage,
  client: Socket,
  head: Buffer,
): void {
  // node:http no longer watches this socket: an error without a listener would end the worker.
  const onClientError = () => client.destroy();
  client.on('error', onClientError);
  upgrade(options, toHttp, req, client, head, onClientError).catch((err: unknown) => {
    options.logger.error({ err }, 'upgrade failed');
    client.destroy();
  });
}

async function upgrade(
  options: EdgeServerOptions,
  toHttp: (socket: TLSSocket) => void,
  req: IncomingMessage,
  client: Socket,
  head: Buffer,
  onClientError: () => void,
): Promise<void> {
  const started = options.accessLog ? performance.now() : 0;
  const address = client.remoteAddress;
  const snapshot = options.snapshot();
  const admitted = admit(req, snapshot);
  const log = (status: number, access: string | undefined, upstreamMs?: number) =>
    record(options, req.method, req.url, address, admitted, status, started, upstreamMs, access);
  if (admitted.response) {
    const r = admitted.response;
    rawReply(client, r.status, { 'content-type': r.contentType }, r.body);
    return log(r.status, undefined);
  }
  let extra = admitted.headers;
  let access: string | undefined;
  // Upgrades go through Access like any request (no cookie can ride on a 101, the token can).
  if (snapshot.access.apps.hasHostname(admitted.host.hostname)) {
    const result = await runAccess(options, req, address, admitted.host, admitted.verdict, snapshot);
    access = result.kind;
    if ('reply' in result) {
      rawReply(client, result.reply.status, result.reply.headers, result.reply.body);
      return log(result.reply.status, access);
    }
    if (result.forward.assertion) extra = [...extra, ['gatehouse-jwt-assertion', result.forward.assertion]];
  }
  if (client.destroyed) return;
  const origin = admitted.host.origin;
  const headers = upstreamHeaders(req, admitted.host.stripped, extra);
  headers.connection = 'Upgrade';
  headers.upgrade = req.headers.upgrade ?? '';
  const t0 = performance.now();
  const upstream = (origin.protocol === 'https:' ? httpsRequest : httpRequest)({
    host: origin.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: Number(origin.port) || (origin.protocol === 'https:' ? 443 : 80),
    ...(origin.protocol === 'https:' ? { servername: origin.hostname } : {}),
    method: req.method,
    path: req.url,
    headers,
    agent: false,
  });
  upstream.setTimeout(UPGRADE_ANSWER_TIMEOUT_MS, () => upstream.destroy(new Error(NO_ANSWER)));
  let answered = false;
  const onClientClose = () => upstream.destroy();
  client.once('close', onClientClose);

  upstream.on('upgrade', (res: IncomingMessage, tunnel: Socket, tunnelHead: Buffer) => {
    answered = true;
    upstream.setTimeout(0);
    tunnel.setTimeout(0);
    if (client.destroyed) return tunnel.destroy();
    const lines = [`HTTP/1.1 101 ${STATUS_CODES[101]}`];
    for (let i = 0; i < res.rawHeaders.length; i += 2)
      lines.push(`${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}`);
    client.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (tunnelHead.length > 0) client.write(tunnelHead);
    if (head.length > 0) tunnel.write(head);
    tunnel.on('error', () => client.destroy());
    tunnel.once('close', () => client.destroy());
    client.once('close', () => tunnel.destroy());
    tunnel.pipe(client).pipe(tunnel);
    log(101, access, performance.now() - t0);
  });

  upstream.on('response', (res: IncomingMessage) => {
    answered = true;
    upstream.setTimeout(0);
    relayResponse(req, client, res, () => {
      log(res.statusCode ?? 0, access, performance.now() - t0);
      client.off('close', onClientClose);
      if (client.destroyed) return;
      if (/\bclose\b/i.test(req.headers.connection ?? '')) return void client.end();
      // Back to HTTP: what the client sent after the head is the next request.
      client.off('error', onClientError);
      if (head.length > 0) client.unshift(head);
      toHttp(client as TLSSocket);
    });
  });

  upstream.on('error', (err: Error) => {
    if (answered) return void client.destroy();
    options.logger.warn(
      { hostname: admitted.host.hostname, origin: origin.origin, err: err.message },
      'origin upgrade failed',
    );
    if (client.destroyed) return;
    const r = originFailure(
      err.message === NO_ANSWER ? 'gateway_timeout' : 'bad_gateway',
      req.headers.accept,
    );
    rawReply(client, r.status, { 'content-type': r.contentType }, r.body);
    log(r.status, access);
  });
  upstream.end();
}

/**
 * Relays an origin's answer to an upgrade it did not accept as a normal HTTP/1.1 response on the
 * raw client socket (node:http let go of it): hop-by-hop headers dropped, the body framed by
 * its Content-Length or chunked. `done` runs once it is all written.
 */
function relayResponse(req: IncomingMessage, client: Socket, res: IncomingMessage, done: () => void): void {
  const status = res.statusCode ?? 502;
  const out = responseHeaders(res.headers as Record<string, string | string[] | undefined>);
  const noBody = req.method === 'HEAD' || status === 204 || status === 304;
  const chunked = !noBody && out['content-length'] === undefined;
  const lines = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`];
  for (const [name, value] of Object.entries(out))
    for (const v of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${String(v)}`);
  if (chunked) lines.push('transfer-encoding: chunked');
  client.write(`${lines.join('\r\n')}\r\n\r\n`);
  res.on('data', (d: Buffer) => {
    if (noBody || client.destroyed) return;
    const ok = chunked
      ? client.write(`${d.length.toString(16)}\r\n${d.toString('latin1')}\r\n`, 'latin1')
      : client.write(d);
    if (!ok) {
      res.pause();
      client.once('drain', () => res.resume());
    }
  });
  res.on('error', () => client.destroy());
  res.on('aborted', () => client.destroy());
  res.on('end', () => {
    if (chunked && !client.destroyed) client.write('0\r\n\r\n');
    done();
  });
}
