import type { ErrorCode } from './codes.js';

export { ERROR_CODES, type ErrorCode, errorCodeList, type ErrorDomain } from './codes.js';

/**
 * One error type for every expected failure. `code` is the stable, machine-readable reason that
 * API clients see in the envelope, one of the catalogue in codes.ts; `status` is the HTTP status it
 * maps to. Anything that is not a GatehouseError is a bug and is reported as a generic 500 without
 * details.
 */
export class GatehouseError extends Error {
  readonly code: ErrorCode;
  readonly status: number;

  constructor(code: ErrorCode, message: string, status = 400, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GatehouseError';
    this.code = code;
    this.status = status;
  }
}

export const badRequest = (code: ErrorCode, message: string, cause?: unknown) =>
  new GatehouseError(code, message, 400, { cause });
export const notFound = (what: string, id: string) =>
  new GatehouseError('not_found', `${what} ${id} does not exist`, 404);
export const conflict = (code: ErrorCode, message: string) => new GatehouseError(code, message, 409);

/**
 * A broken invariant: a programmer error (or a dependency that changed under us), never a user's.
 * Reported as a generic 500 like any non-GatehouseError; the name says it was foreseen.
 */
export class InternalError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'InternalError';
  }
}

export function isGatehouseError(err: unknown): err is GatehouseError {
  return err instanceof GatehouseError;
}

/** Text for HTML pages (the edge's block page, the device-login pages): escapes & < > " '. */
export const escapeHtml = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  );
