import pg from 'pg';
import { StorageError, StorageUnavailableError } from '../errors.js';

/**
 * How a failure from `pg` maps to the storage errors. "Unavailable" is everything that says
 * the database could not be reached or did not answer in time, after which a write's
 * outcome is unknown, and a statement the server rolled back (retryable, outcome known:
 * nothing landed); anything else the server answered is a plain StorageError.
 */

/** Socket errors: no route, refused, reset, timed out. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

/** SQLSTATEs of a server going away, starting, or overloaded. */
const UNAVAILABLE_STATES = new Set([
  '57P01', // admin_shutdown (a fast shutdown terminated the connection)
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up or shutting down)
  '53300', // too_many_connections
]);

/**
 * SQLSTATEs of a statement the server rolled back and that may succeed if sent again: each
 * call is one statement (one implicit transaction), so nothing of it was committed.
 */
const ROLLED_BACK_STATES = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '57014', // query_canceled (statement_timeout)
  '55P03', // lock_not_available (lock_timeout)
]);

/** Messages pg gives its own failures (no code): pool wait, query_timeout, lost socket. */
const UNAVAILABLE_MESSAGES =
  /timeout exceeded when trying to connect|Query read timeout|Connection terminated|connection error|Client was closed/i;

export function isUnavailable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    if (NETWORK_CODES.has(code) || UNAVAILABLE_STATES.has(code) || code.startsWith('08')) {
      return true;
    }
  }
  return err instanceof Error && UNAVAILABLE_MESSAGES.test(err.message);
}

/**
 * True when the connection a failure came from may be broken and must not be reused: any
 * failure but an ordinary error the server answered with a SQLSTATE (22xxx bad data, 23xxx
 * a constraint, a rollback), after which the connection is fine.
 */
export function connectionSuspect(err: unknown): boolean {
  return !(err instanceof pg.DatabaseError && typeof err.code === 'string') || isUnavailable(err);
}

/** The storage error for a pg failure during `what` (storage errors pass through). */
export function toStorageError(err: unknown, what: string): StorageError {
  if (err instanceof StorageError) return err;
  const detail = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && ROLLED_BACK_STATES.has(code)) {
    return new StorageUnavailableError(`${what}: rolled back, may be retried: ${detail}`, {
      cause: err,
      outcomeUnknown: false,
    });
  }
  if (isUnavailable(err)) {
    return new StorageUnavailableError(`${what}: database unavailable: ${detail}`, { cause: err });
  }
  return new StorageError(`${what}: ${detail}`, { cause: err });
}
