import type { FastifyError } from 'fastify';
import { type ErrorCode, isGatehouseError } from '../errors/index.js';
import { classifyDatabaseError } from '../store/index.js';
import type { ApiApp } from './context.js';
import { failure } from './envelope.js';

/** Fastify's own error codes mapped to our stable codes; anything unknown becomes a 500. */
const FASTIFY_CODES: Record<string, { status: number; code: ErrorCode }> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'unsupported_media_type' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'invalid_json' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'invalid_json' },
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'body_too_large' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'invalid_request' },
};

/** Seconds a client should wait before retrying when the database is unreachable or busy. */
export const DATABASE_RETRY_AFTER_S = 5;

/**
 * Turns every error into the envelope with a precise code and message. Stack traces and internal
 * messages never reach the client; 5xx errors are logged with their cause.
 */
export function installErrorHandling(app: ApiApp): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err.validation) {
      const first = err.validation[0];
      const where = `${err.validationContext ?? 'request'}${first?.instancePath ?? ''}`;
      const extra =
        first?.keyword === 'additionalProperties'
          ? ` (${String((first.params as { additionalProperty?: string }).additionalProperty)})`
          : '';
      return reply
        .status(400)
        .send(
          failure([
            { code: 'invalid_request', message: `${where} ${first?.message ?? 'is invalid'}${extra}` },
          ]),
        );
    }
    // The database failing is not a bug in the request: a clash is the client's 409, an outage
    // (or SQLite busy past its timeout) a 503 to retry, never a 500 with a stack trace.
    const dbFailure = isGatehouseError(err) && err.status < 500 ? null : classifyDatabaseError(err);
    if (dbFailure === 'unique_violation') {
      return reply
        .status(409)
        .send(
          failure([
            { code: 'conflict', message: 'the resource already exists (a concurrent request made it)' },
          ]),
        );
    }
    if (dbFailure === 'unavailable') {
      request.log.warn({ err: { message: err.message, code: err.code } }, 'database unavailable');
      return reply
        .status(503)
        .header('retry-after', String(DATABASE_RETRY_AFTER_S))
        .send(
          failure([{ code: 'database_unavailable', message: 'the database is unavailable; retry later' }]),
        );
    }
    if (isGatehouseError(err)) {
      if (err.status >= 500) request.log.error({ err }, 'request failed');
      const message = err.status >= 500 ? 'internal error' : err.message;
      return reply.status(err.status).send(failure([{ code: err.code, message }]));
    }
    const known = err.code ? FASTIFY_CODES[err.code] : undefined;
    if (known) return reply.status(known.status).send(failure([{ code: known.code, message: err.message }]));
    if (err instanceof SyntaxError || (err.statusCode === 400 && /JSON/i.test(err.message))) {
      return reply
        .status(400)
        .send(failure([{ code: 'invalid_json', message: `request body is not valid JSON: ${err.message}` }]));
    }
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
      return reply.status(err.statusCode).send(failure([{ code: 'invalid_request', message: err.message }]));
    }
    request.log.error({ err }, 'unhandled error');
    return reply.status(500).send(failure([{ code: 'internal_error', message: 'internal error' }]));
  });

  app.setNotFoundHandler((request, reply) =>
    reply
      .status(404)
      .send(
        failure([
          { code: 'not_found', message: `no route for ${request.method} ${request.url.split('?')[0]}` },
        ]),
      ),
  );
}
