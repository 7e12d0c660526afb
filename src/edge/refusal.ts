/**
 * The refusal path: a connection nothing on which can reach an origin (enforce mode and no valid
 * certificate, or no SNI / one not served here). node:https's per-connection HTTP machinery
 * (parser, request and response objects, keep-alive bookkeeping) is most of what such a
 * connection costs beyond its handshake, and in a flood of refused clients it is the edge's main
 * cost. Read the first request head, answer it exactly as a request on the normal path would be
 * answered (400, 421 or the 403 page), with `connection: close`, and close. Never forwards
 * anything: a request the strict reader finds unusual gets 400, one too large 431.
 */
import type https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { record } from './access-log.js';
import { admitOn } from './admission.js';
import { MAX_HEAD_BYTES, readRequestHead } from './request-head.js';
import { clientErrorResponse, edgeError, rawResponse } from './responses.js';
import type { EdgeServerOptions } from './server.js';

/**
 * How long a client may take to send its whole request head: node:http's headersTimeout on the
 * normal path, and the refusal path's own deadline.
 */
export const HEADERS_TIMEOUT_MS = 20_000;

/**
 * The refusal path of `server`: returns what takes a refused connection over. A refused
 * connection waiting for its request is idle: `server.closeIdleConnections()` closes it too.
 */
export function refusalPath(server: https.Server, options: EdgeServerOptions): (socket: TLSSocket) => void {
  const refusing = new Set<TLSSocket>();
  const closeIdleConnections = server.closeIdleConnections.bind(server);
  server.closeIdleConnections = () => {
    closeIdleConnections();
    for (const socket of refusing) socket.destroy();
  };

  return function refuseConnection(socket: TLSSocket): void {
    refusing.add(socket);
    const started = options.accessLog ? performance.now() : 0;
    // Usually the head comes in one record and is read in place. Otherwise the bytes are copied
    // once into one buffer, and each read looks only at what is new (no quadratic rescans).
    let first: Buffer | undefined;
    let gathered: Buffer | undefined;
    let length = 0;
    const onData = (chunk: Buffer) => {
      const searchFrom = length;
      let received: Buffer;
      if (!first) {
        first = chunk;
        received = chunk;
        length = chunk.length;
      } else {
        if (!gathered) {
          gathered = Buffer.allocUnsafe(MAX_HEAD_BYTES + 4);
          length = first.copy(gathered, 0, 0, Math.min(first.length, gathered.length));
        }
        length += chunk.copy(gathered, length, 0, Math.min(chunk.length, gathered.length - length));
        received = gathered.subarray(0, length);
      }
      const head = readRequestHead(received, searchFrom);
      if (head.kind === 'incomplete') return;
      socket.removeListener('data', onData); // later bytes (a body, pipelined requests) are dropped
      clearTimeout(deadline);
      let reply: string;
      if (head.kind !== 'request') {
        reply = clientErrorResponse(head.kind === 'too_large' ? 431 : 400);
      } else {
        const admitted = admitOn(socket, head.host, head.accept, options.snapshot());
        // Forwarding here would mean the configuration changed since the handshake (a CA added,
        // the hostname created): 421 invites the client to retry on a new connection.
        const response =
          admitted.response ??
          edgeError(
            421,
            'configuration_changed',
            'Misdirected Request: retry on a new connection',
            head.accept,
          );
        reply = rawResponse(response, head.method === 'HEAD');
        record(
          options,
          head.method,
          head.target,
          socket.remoteAddress,
          admitted.response ? admitted : { host: admitted.host, verdict: admitted.verdict, response },
          response.status,
          started,
          undefined,
          undefined,
        );
      }
      socket.end(reply, 'utf8');
      // As node:http does after a `connection: close` response: destroy once written.
      socket.once('finish', () => socket.destroy());
    };
    socket.on('data', onData);
    socket.on('error', () => socket.destroy());
    // A fixed deadline for the whole head, like node:http's headersTimeout (an idle timeout would
    // let a client trickle one byte at a time for days).
    const deadline = setTimeout(() => socket.destroy(), HEADERS_TIMEOUT_MS);
    socket.once('close', () => {
      clearTimeout(deadline);
      refusing.delete(socket);
    });
  };
}
