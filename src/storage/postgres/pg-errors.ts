import { StorageError, StorageUnavailableError } from '../errors.js';

/**
 * How a failure from `pg` maps to the storage errors. "Unavailable" is everything that says
 * the database could not be reached or did not answer in time, after which a write's
 * outcome is unknown; anything else the server answered is a plain StorageError.
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

/** SQLSTATEs of a server going away, starting, overloaded, or a transaction to retry. */
const UNAVAILABLE_STATES = new Set([
  '57P01', // admin_shutdown (a fast shutdown terminated the connection)
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up or shutting down)
  '53300', // too_many_connections
  '40001', // serialization_failure
  '40P01', // deadlock_detected
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

/** The storage error for a pg failure during `what` (storage errors pass through). */
export function toStorageError(err: unknown, what: string): StorageError {
  if (err instanceof StorageError) return err;
  const detail = err instanceof Error ? err.message : String(err);
  if (isUnavailable(err)) {
    return new StorageUnavailableError(`${what}: database unavailable: ${detail}`, { cause: err });
  }
  return new StorageError(`${what}: ${detail}`, { cause: err });
}
