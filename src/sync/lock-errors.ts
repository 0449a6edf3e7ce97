/**
 * Errors raised by the shared-memory locks in `src/sync`.
 *
 * All carry a stable machine-readable `code` so that callers (the HTTP layer maps
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

  constructor(
    /** The side that was being acquired. */
    readonly mode: LockMode,
    /** The timeout the caller asked for, in milliseconds. */
    readonly timeoutMs: number,
    /**
     * Lock-owner id (see `currentLockOwnerId`) of the thread holding the write lock when
     * the wait gave up, or 0 if no writer was recorded (the lock was held by readers, or a
     * writer was in the instant between acquiring and recording itself).
     */
    readonly ownerId: number,
  ) {
    super(
      `${mode} lock not acquired within ${timeoutMs} ms` +
        (ownerId !== 0 ? ` (write lock held by thread ${ownerId})` : ''),
    );
    this.name = 'LockTimeoutError';
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

/** Which lock-order rule a `LockOrderError` reports. */
export type LockOrderRule = 'reentrant' | 'rank' | 'cache-across-wait';

/**
 * Checked mode refused an acquire that breaks the lock-order rules (see `lock-ids.ts`): the
 * thread already holds the lock, or holds a lock of equal or higher rank, or would wait for
 * a context lock while holding the cache lock. Thrown at the call, before anything waits or
 * changes: the lock and the registry are left as they were.
 */
export class LockOrderError extends Error {
  readonly code = 'lock_order' as const;

  constructor(
    readonly rule: LockOrderRule,
    /** Id of the lock being acquired. */
    readonly lockId: number,
    /** Id of the held lock that forbids it. */
    readonly heldLockId: number,
    message: string,
  ) {
    super(message);
    this.name = 'LockOrderError';
  }
}

/**
 * The deadlock detector chose this waiter to break a wait-for cycle. Like a timeout, the
 * waiter holds nothing it was waiting for and a writer has withdrawn its announcement; the
 * locks the thread held *before* the call are still held, and releasing them (in `finally`)
 * is what lets the other threads of the cycle proceed. The server answers 503, as for a
 * timeout.
 */
export class DeadlockError extends Error {
  readonly code = 'lock_deadlock' as const;

  constructor(
    readonly mode: LockMode,
    /** Id of the lock the victim was waiting for. */
    readonly lockId: number,
    /** How long it had waited, in milliseconds. */
    readonly waitedMs: number,
    description: string,
  ) {
    super(
      `${mode} lock ${description} abandoned after ${Math.round(waitedMs)} ms: ` +
        'this waiter was chosen to break a deadlock',
    );
    this.name = 'DeadlockError';
  }
}
