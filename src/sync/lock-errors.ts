/**
 * Errors raised by the shared-memory locks in `src/sync`.
 *
 * Both carry a stable machine-readable `code` so that callers (the HTTP layer maps
 * `lock_timeout` to 503 + Retry-After) can branch without `instanceof` across realms.
 */

/** Which side of a reader-writer lock an operation was trying to acquire. */
export type LockMode = 'read' | 'write';

/**
 * A lock was not acquired before its deadline. The lock word is left consistent: the
 * timed-out waiter holds nothing and (for a writer) has withdrawn its waiting announcement.
 */
export class LockTimeoutError extends Error {
  readonly code = 'lock_timeout' as const;
  /** The side that was being acquired. */
  readonly mode: LockMode;
  /** The timeout the caller asked for, in milliseconds. */
  readonly timeoutMs: number;
  /**
   * Lock-owner id (see `currentLockOwnerId`) of the thread holding the write lock when the
   * wait gave up, or 0 if no writer was recorded (the lock was held by readers, or a
   * writer was in the instant between acquiring and recording itself).
   */
  readonly ownerId: number;

  constructor(mode: LockMode, timeoutMs: number, ownerId: number) {
    super(
      `${mode} lock not acquired within ${timeoutMs} ms` +
        (ownerId !== 0 ? ` (write lock held by thread ${ownerId})` : ''),
    );
    this.name = 'LockTimeoutError';
    this.mode = mode;
    this.timeoutMs = timeoutMs;
    this.ownerId = ownerId;
  }
}

/**
 * A lock was used in a way its contract forbids: releasing a lock the caller does not
 * hold, blocking on the main thread, re-acquiring a write lock the thread already owns, or
 * overflowing a counter. The lock is left unchanged.
 */
export class LockUsageError extends Error {
  readonly code = 'lock_usage' as const;

  constructor(message: string) {
    super(message);
    this.name = 'LockUsageError';
  }
}
