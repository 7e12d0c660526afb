// Every driver-specific error test lives here, so that the rest of Gatehouse asks "what kind of
// database failure is this?" and never looks at a driver's codes (better-sqlite3 today; node:sqlite
// and pg are recognised too).

/** What a database error means to a caller: a uniqueness clash, or the database being unavailable. */
export type DatabaseFailure = 'unique_violation' | 'unavailable';

/** PostgreSQL SQLSTATE classes and codes that mean "try again later", not "your request is wrong". */
const PG_UNAVAILABLE_CLASSES = ['08', '53', '57', '58'];
const PG_UNAVAILABLE_CODES = new Set(['40001', '40P01', '55P03']);
/** Socket-level failures of the pg client (server stopped, restarted, unreachable). */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
const PG_CLIENT_MESSAGES =
  /Connection terminated|connection timeout|Client has encountered a connection error|Cannot use a pool after calling end/i;

interface DriverError {
  code?: unknown;
  errcode?: unknown;
  errstr?: unknown;
  message?: unknown;
  cause?: unknown;
  errors?: unknown;
}

function classifyOne(err: DriverError): DatabaseFailure | null {
  const code = typeof err.code === 'string' ? err.code : '';
  const message = typeof err.message === 'string' ? err.message : '';
  // PostgreSQL (pg): five-character SQLSTATE.
  if (/^[0-9A-Z]{5}$/.test(code)) {
    if (code === '23505') return 'unique_violation';
    if (PG_UNAVAILABLE_CODES.has(code) || PG_UNAVAILABLE_CLASSES.includes(code.slice(0, 2)))
      return 'unavailable';
    return null;
  }
  // better-sqlite3: SQLITE_CONSTRAINT_UNIQUE / _PRIMARYKEY, SQLITE_BUSY*, SQLITE_LOCKED*.
  if (code.startsWith('SQLITE_CONSTRAINT_UNIQUE') || code.startsWith('SQLITE_CONSTRAINT_PRIMARYKEY'))
    return 'unique_violation';
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return 'unavailable';
  // node:sqlite: code ERR_SQLITE_ERROR with the extended result code in `errcode`.
  if (code === 'ERR_SQLITE_ERROR' && typeof err.errcode === 'number') {
    // 2067 SQLITE_CONSTRAINT_UNIQUE, 1555 SQLITE_CONSTRAINT_PRIMARYKEY; 5 BUSY and 6 LOCKED (low byte).
    if (err.errcode === 2067 || err.errcode === 1555) return 'unique_violation';
    if ((err.errcode & 0xff) === 5 || (err.errcode & 0xff) === 6) return 'unavailable';
    return null;
  }
  if (NETWORK_CODES.has(code)) return 'unavailable';
  if (PG_CLIENT_MESSAGES.test(message)) return 'unavailable';
  return null;
}

/**
 * Classifies a thrown value, following `cause` chains and AggregateErrors (pg reports a refused
 * connection to every address it tried as one AggregateError). Null: not a database failure we
 * know, which callers must treat as a bug.
 */
export function classifyDatabaseError(err: unknown, depth = 0): DatabaseFailure | null {
  if (typeof err !== 'object' || err === null || depth > 5) return null;
  const e = err as DriverError;
  const own = classifyOne(e);
  if (own) return own;
  if (Array.isArray(e.errors)) {
    for (const inner of e.errors) {
      const found = classifyDatabaseError(inner, depth + 1);
      if (found) return found;
    }
  }
  return classifyDatabaseError(e.cause, depth + 1);
}

export const isUniqueViolation = (err: unknown): boolean => classifyDatabaseError(err) === 'unique_violation';

export const isDatabaseUnavailable = (err: unknown): boolean => classifyDatabaseError(err) === 'unavailable';
