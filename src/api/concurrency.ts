// Two generic guards for clients and admins that collide or retry, kept out of the route files:
//
// - Optimistic concurrency: GET/PUT/POST answers for hostnames, access applications (with their
//   policies) and posture rules carry an ETag (a hash of the resource as served); a PUT or DELETE
//   with If-Match that no longer matches the stored resource is refused with 412, so one admin's
//   edit does not silently overwrite another's made meanwhile.
// - Idempotency-Key on issuance, revocation and device registration: the first answer is kept (24
//   h) and replayed to a retry with the same key and body, so a client that lost the answer does
//   not issue or register twice.
import { createHash } from 'node:crypto';
import { GatehouseError } from '../errors/index.js';
import type { Store } from '../store/index.js';
import type { ApiApp } from './context.js';
import { failure } from './envelope.js';

const ETAG_ROUTES = new Set([
  '/api/v1/hostnames/:id',
  '/api/v1/access/apps/:id',
  '/api/v1/devices/posture/:id',
]);
const ETAG_COLLECTIONS = new Set(['/api/v1/hostnames', '/api/v1/access/apps', '/api/v1/devices/posture']);
const IDEMPOTENT = new Set([
  'POST /api/v1/client_certificates',
  'DELETE /api/v1/client_certificates/:id',
  'POST /api/v1/registrations',
]);
export const IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000;
const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** The ETag of an envelope's `result` (pure): the same resource served by GET, PUT or POST. */
export function etagOf(payload: string): string | undefined {
  try {
    const parsed = JSON.parse(payload) as { result?: unknown };
    if (parsed.result === undefined || parsed.result === null) return undefined;
    return `"${sha256(JSON.stringify(parsed.result)).slice(0, 32)}"`;
  } catch {
    return undefined;
  }
}

/** Whether an If-Match header accepts `etag` (RFC 9110: a list, or `*`; weak tags never match). */
export function ifMatchAccepts(header: string, etag: string | undefined): boolean {
  const tags = header.split(',').map((t) => t.trim());
  if (tags.includes('*')) return etag !== undefined;
  return etag !== undefined && tags.includes(etag);
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set when this request answers an Idempotency-Key: the stored row's id. */
    idempotencyId?: string;
  }
}

export function installConcurrencyGuards(app: ApiApp, store: Store, now: () => Date): void {
  app.addHook('preHandler', async (request, reply) => {
    const route = request.routeOptions.url ?? '';
    const ifMatch = request.headers['if-match'];
    if (ifMatch && ETAG_ROUTES.has(route) && (request.method === 'PUT' || request.method === 'DELETE')) {
      // The current representation, through the same route and credentials as the client's.
      const current = await app.inject({
        method: 'GET',
        url: request.url,
        headers: {
          ...(request.headers.authorization ? { authorization: request.headers.authorization } : {}),
          ...(request.headers.cookie ? { cookie: request.headers.cookie } : {}),
          'gatehouse-csrf': '1',
        },
      });
      if (current.statusCode === 200 && !ifMatchAccepts(ifMatch, etagOf(current.body))) {
        return reply
          .status(412)
          .header('etag', etagOf(current.body) ?? '')
          .send(
            failure([
              {
                code: 'precondition_failed',
                message:
                  'the resource changed since you read it (If-Match does not match its ETag); read it again',
              },
            ]),
          );
      }
    }

    const key = request.headers['idempotency-key'];
    if (key === undefined || !IDEMPOTENT.has(`${request.method} ${route}`)) return;
    if (typeof key !== 'string' || !KEY_PATTERN.test(key))
      throw new GatehouseError(
        'invalid_idempotency_key',
        'Idempotency-Key must be 1 to 255 visible ASCII characters',
      );
    // Scoped to the caller's credentials and the exact URL: a key never reveals another's answer.
    const id = sha256(`${request.method} ${request.url}\n${request.headers.authorization ?? ''}\n${key}`);
    const requestHash = sha256(JSON.stringify(request.body ?? null));
    const previous = await store.idempotencyKeys.get(id);
    if (!previous && (await store.idempotencyKeys.claim(id, requestHash, now().toISOString()))) {
      request.idempotencyId = id;
      return;
    }
    const stored = previous ?? (await store.idempotencyKeys.get(id));
    if (stored && stored.request_hash !== requestHash)
      throw new GatehouseError(
        'idempotency_key_reused',
        'this Idempotency-Key was used with another request body',
        422,
      );
    if (!stored || stored.status === null || stored.body === null) {
      reply.header('retry-after', '1');
      throw new GatehouseError(
        'idempotency_key_in_progress',
        'a request with this Idempotency-Key is still running',
        409,
      );
    }
    return reply
      .status(stored.status)
      .header('idempotent-replayed', 'true')
      .type('application/json; charset=utf-8')
      .send(stored.body);
  });

  app.addHook('onSend', async (request, reply, payload) => {
    const route = request.routeOptions.url ?? '';
    if (typeof payload === 'string' && reply.statusCode < 300) {
      const single = ETAG_ROUTES.has(route) && (request.method === 'GET' || request.method === 'PUT');
      const created = ETAG_COLLECTIONS.has(route) && request.method === 'POST';
      const etag = single || created ? etagOf(payload) : undefined;
      if (etag) reply.header('etag', etag);
    }
    const id = request.idempotencyId;
    if (id) {
      // A server-side failure (the database down) is not an answer: the retry runs again.
      if (reply.statusCode >= 500 || typeof payload !== 'string')
        await store.idempotencyKeys.forget(id).catch(() => undefined);
      else await store.idempotencyKeys.complete(id, reply.statusCode, payload).catch(() => undefined);
    }
    return payload;
  });
}
