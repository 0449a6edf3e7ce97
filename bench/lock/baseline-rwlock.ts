/**
 * The RwLock as it was before the registry and the LockMemory refactor (commit e308e39:
 * direct `Atomics` calls, no registry), kept verbatim apart from this comment and its
 * imports, only so that `bench/lock` can measure what the refactor costs. Not used by the
 * server.
 */
import { isMainThread } from 'node:worker_threads';
import { LockTimeoutError, LockUsageError } from '../../src/sync/lock-errors.js';
import { currentLockOwnerId } from '../../src/sync/thread-id.js';

/** Number of Int32 words one lock occupies. */
export const RWLOCK_WORDS = 4;

/** Word offsets from a lock's base. */
export const STATE = 0;
export const OWNER = 1;
export const SLEEPERS = 2;
export const RESERVED = 3;

/** STATE fields. */
export const READER_ONE = 1;
export const READERS_MASK = 0xffff;
export const WRITER_WAITING_ONE = 1 << 16;
export const WRITERS_WAITING_MASK = 0x3fff << 16;
export const WRITER_HELD = 1 << 30;
export const MAX_READERS = READERS_MASK;
export const MAX_WRITERS_WAITING = WRITERS_WAITING_MASK >>> 16;

/** Number of threads (or async tasks) holding the read lock in state `s`. */
export function readers(s: number): number {
  return s & READERS_MASK;
}

/** Number of announced writers waiting in state `s`. */
export function writersWaiting(s: number): number {
  return (s & WRITERS_WAITING_MASK) >>> 16;
}

/** Whether a writer holds the lock in state `s`. */
export function writerHeld(s: number): boolean {
  return (s & WRITER_HELD) !== 0;
}

/** Read admission: no writer holds the lock and none is waiting (write preference). */
export function canRead(s: number): boolean {
  return (s & (WRITER_HELD | WRITERS_WAITING_MASK)) === 0;
}

/** Write admission: no reader and no writer holds the lock. Waiting writers don't matter. */
export function canWrite(s: number): boolean {
  return (s & (WRITER_HELD | READERS_MASK)) === 0;
}

// Node 20 has Atomics.waitAsync but the ES2023 lib we compile against does not declare it.
type WaitAsyncResult =
  | { async: false; value: 'not-equal' | 'timed-out' }
  | { async: true; value: Promise<'ok' | 'timed-out'> };
const AtomicsWithWaitAsync = Atomics as unknown as {
  waitAsync(i32: Int32Array, index: number, value: number, timeoutMs: number): WaitAsyncResult;
};

// In Node 20 a pending Atomics.waitAsync does not keep the event loop alive
// (nodejs/node#44729), so an async waiter with nothing else pending could see its thread
// exit under it. A ref'd interval is held for the duration of an async slow path.
const KEEP_ALIVE_MS = 1 << 30;
function keepAliveTick(): void {}

function checkTimeout(timeoutMs: number): void {
  if (!(Number.isFinite(timeoutMs) && timeoutMs > 0)) {
    throw new RangeError(`timeoutMs must be a finite number > 0, got ${String(timeoutMs)}`);
  }
}

function readerOverflow(): LockUsageError {
  return new LockUsageError(`rwlock reader count overflow (max ${MAX_READERS})`);
}

/** A reader-writer lock over `RWLOCK_WORDS` Int32 words at `base` of a shared Int32Array. */
export class BaselineRwLock {
  private readonly i32: Int32Array;
  private readonly stateAt: number;
  private readonly ownerAt: number;
  private readonly sleepersAt: number;

  /**
   * Views the lock at `base`; does not modify memory. The words must be zero (see `init`)
   * before the first thread uses the lock.
   */
  constructor(i32: Int32Array, base: number) {
    if (!(i32 instanceof Int32Array) || !(i32.buffer instanceof SharedArrayBuffer)) {
      throw new TypeError('RwLock needs an Int32Array over a SharedArrayBuffer');
    }
    if (!Number.isInteger(base) || base < 0 || base + RWLOCK_WORDS > i32.length) {
      throw new RangeError(
        `RwLock base ${String(base)} out of range for an Int32Array of length ${i32.length}`,
      );
    }
    this.i32 = i32;
    this.stateAt = base + STATE;
    this.ownerAt = base + OWNER;
    this.sleepersAt = base + SLEEPERS;
  }

  /** Zeroes the lock's words (unlocked, no owner, no sleepers) and returns a view of it. */
  static init(i32: Int32Array, base: number): BaselineRwLock {
    const lock = new BaselineRwLock(i32, base);
    for (let i = 0; i < RWLOCK_WORDS; i++) Atomics.store(i32, base + i, 0);
    return lock;
  }

  /** Owner id of the thread holding the write lock, 0 if none (or not yet recorded). */
  get ownerId(): number {
    return Atomics.load(this.i32, this.ownerAt);
  }

  /** Current number of read-lock holders. */
  get readers(): number {
    return readers(Atomics.load(this.i32, this.stateAt));
  }

  /** Current number of writers that announced themselves and are waiting. */
  get writersWaiting(): number {
    return writersWaiting(Atomics.load(this.i32, this.stateAt));
  }

  /** Whether a writer currently holds the lock. */
  get isWriteLocked(): boolean {
    return writerHeld(Atomics.load(this.i32, this.stateAt));
  }

  /** Takes the read lock if it is available now; never waits. */
  tryRead(): boolean {
    for (;;) {
      const s = Atomics.load(this.i32, this.stateAt);
      if (!canRead(s)) return false;
      if (this.casRead(s)) return true;
    }
  }

  /** Takes the write lock if it is available now; never waits and does not announce. */
  tryWrite(): boolean {
    for (;;) {
      const s = Atomics.load(this.i32, this.stateAt);
      if (!canWrite(s)) return false;
      if (Atomics.compareExchange(this.i32, this.stateAt, s, s + WRITER_HELD) === s) {
        Atomics.store(this.i32, this.ownerAt, currentLockOwnerId());
        return true;
      }
    }
  }

  /**
   * Takes the read lock, parking the thread until it is available or `timeoutMs` passes
   * (then throws `LockTimeoutError`). Workers only: throws `LockUsageError` on the main
   * thread, or if this thread holds the write lock.
   */
  readLock(timeoutMs: number): void {
    checkTimeout(timeoutMs);
    if (isMainThread) throw this.mainThreadBlock('readLock', 'readLockAsync');
    if (this.tryRead()) return;
    this.checkNotOwner('readLock');
    const i32 = this.i32;
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const s = Atomics.load(i32, this.stateAt);
      if (canRead(s)) {
        if (this.casRead(s)) return;
        continue;
      }
      const remaining = deadline - performance.now();
      if (remaining <= 0) {
        throw new LockTimeoutError('read', timeoutMs, Atomics.load(i32, this.ownerAt));
      }
      this.park(s, remaining);
    }
  }

  /**
   * Takes the write lock, parking the thread until it is available or `timeoutMs` passes
   * (then throws `LockTimeoutError`). While waiting, the writer's announcement keeps new
   * readers out. Workers only: throws `LockUsageError` on the main thread, or if this
   * thread already holds the write lock.
   */
  writeLock(timeoutMs: number): void {
    checkTimeout(timeoutMs);
    if (isMainThread) throw this.mainThreadBlock('writeLock', 'writeLockAsync');
    if (this.tryWrite()) return;
    this.checkNotOwner('writeLock');
    const i32 = this.i32;
    const deadline = performance.now() + timeoutMs;
    this.announceWriter();
    for (;;) {
      const s = Atomics.load(i32, this.stateAt);
      if (canWrite(s)) {
        if (this.casWrite(s)) return;
        continue;
      }
      const remaining = deadline - performance.now();
      if (remaining <= 0) {
        const ownerId = Atomics.load(i32, this.ownerAt);
        this.withdrawWriter();
        throw new LockTimeoutError('write', timeoutMs, ownerId);
      }
      this.park(s, remaining);
    }
  }

  /** Like `readLock` but waits with `Atomics.waitAsync`; allowed on any thread. */
  async readLockAsync(timeoutMs: number): Promise<void> {
    checkTimeout(timeoutMs);
    if (this.tryRead()) return;
    const i32 = this.i32;
    const deadline = performance.now() + timeoutMs;
    const keepAlive = setInterval(keepAliveTick, KEEP_ALIVE_MS);
    try {
      for (;;) {
        const s = Atomics.load(i32, this.stateAt);
        if (canRead(s)) {
          if (this.casRead(s)) return;
          continue;
        }
        const remaining = deadline - performance.now();
        if (remaining <= 0) {
          throw new LockTimeoutError('read', timeoutMs, Atomics.load(i32, this.ownerAt));
        }
        await this.parkAsync(s, remaining);
      }
    } finally {
      clearInterval(keepAlive);
    }
  }

  /** Like `writeLock` but waits with `Atomics.waitAsync`; allowed on any thread. */
  async writeLockAsync(timeoutMs: number): Promise<void> {
    checkTimeout(timeoutMs);
    if (this.tryWrite()) return;
    const i32 = this.i32;
    const deadline = performance.now() + timeoutMs;
    const keepAlive = setInterval(keepAliveTick, KEEP_ALIVE_MS);
    try {
      this.announceWriter();
      for (;;) {
        const s = Atomics.load(i32, this.stateAt);
        if (canWrite(s)) {
          if (this.casWrite(s)) return;
          continue;
        }
        const remaining = deadline - performance.now();
        if (remaining <= 0) {
          const ownerId = Atomics.load(i32, this.ownerAt);
          this.withdrawWriter();
          throw new LockTimeoutError('write', timeoutMs, ownerId);
        }
        await this.parkAsync(s, remaining);
      }
    } finally {
      clearInterval(keepAlive);
    }
  }

  /**
   * Releases one read lock. Throws `LockUsageError` (and changes nothing) if no read lock
   * is held. Wakes sleepers when the last reader leaves.
   */
  readUnlock(): void {
    const i32 = this.i32;
    for (;;) {
      const s = Atomics.load(i32, this.stateAt);
      const n = readers(s);
      if (n === 0) {
        throw new LockUsageError(
          writerHeld(s)
            ? 'readUnlock: the lock is write-locked, not read-locked'
            : 'readUnlock: no read lock is held',
        );
      }
      if (Atomics.compareExchange(i32, this.stateAt, s, s - READER_ONE) === s) {
        if (n === 1) this.wakeSleepers();
        return;
      }
    }
  }

  /**
   * Releases the write lock. Throws `LockUsageError` (and changes nothing) unless the
   * calling thread holds it. Wakes all sleepers.
   */
  writeUnlock(): void {
    const i32 = this.i32;
    const me = currentLockOwnerId();
    const owner = Atomics.load(i32, this.ownerAt);
    if (owner !== me || !writerHeld(Atomics.load(i32, this.stateAt))) {
      throw new LockUsageError(
        owner === 0 || owner === me
          ? `writeUnlock: thread ${me} does not hold the write lock`
          : `writeUnlock: the write lock is held by thread ${owner}, not by thread ${me}`,
      );
    }
    Atomics.store(i32, this.ownerAt, 0);
    Atomics.and(i32, this.stateAt, ~WRITER_HELD);
    this.wakeSleepers();
  }

  /** One admission attempt for a reader at observed state `s` (which `canRead`). */
  private casRead(s: number): boolean {
    if (readers(s) === MAX_READERS) throw readerOverflow();
    return Atomics.compareExchange(this.i32, this.stateAt, s, s + READER_ONE) === s;
  }

  /** One admission attempt for an announced writer at observed state `s` (`canWrite`). */
  private casWrite(s: number): boolean {
    const next = s - WRITER_WAITING_ONE + WRITER_HELD;
    if (Atomics.compareExchange(this.i32, this.stateAt, s, next) !== s) return false;
    Atomics.store(this.i32, this.ownerAt, currentLockOwnerId());
    return true;
  }

  /**
   * Adds this writer to the writers-waiting count. Equivalent to
   * `Atomics.add(WRITER_WAITING_ONE)`, but as a compare-exchange so that the 14-bit field
   * can never carry into WRITER_HELD.
   */
  private announceWriter(): void {
    for (;;) {
      const s = Atomics.load(this.i32, this.stateAt);
      if (writersWaiting(s) === MAX_WRITERS_WAITING) {
        throw new LockUsageError(`rwlock writers-waiting overflow (max ${MAX_WRITERS_WAITING})`);
      }
      const next = s + WRITER_WAITING_ONE;
      if (Atomics.compareExchange(this.i32, this.stateAt, s, next) === s) return;
    }
  }

  /** Undoes `announceWriter` after a timeout; readers it held back must re-check. */
  private withdrawWriter(): void {
    Atomics.sub(this.i32, this.stateAt, WRITER_WAITING_ONE);
    this.wakeSleepers();
  }

  /** Releaser side of the parking protocol: called after the RMW on STATE. */
  private wakeSleepers(): void {
    if (Atomics.load(this.i32, this.sleepersAt) > 0) Atomics.notify(this.i32, this.stateAt);
  }

  /** Waiter side: sleep while STATE is still `s`, at most `remainingMs`. */
  private park(s: number, remainingMs: number): void {
    Atomics.add(this.i32, this.sleepersAt, 1);
    Atomics.wait(this.i32, this.stateAt, s, remainingMs);
    Atomics.sub(this.i32, this.sleepersAt, 1);
  }

  private async parkAsync(s: number, remainingMs: number): Promise<void> {
    Atomics.add(this.i32, this.sleepersAt, 1);
    try {
      const result = AtomicsWithWaitAsync.waitAsync(this.i32, this.stateAt, s, remainingMs);
      if (result.async) await result.value;
    } finally {
      Atomics.sub(this.i32, this.sleepersAt, 1);
    }
  }

  private checkNotOwner(op: string): void {
    if (Atomics.load(this.i32, this.ownerAt) === currentLockOwnerId()) {
      throw new LockUsageError(`${op}: this thread holds the write lock; waiting would deadlock`);
    }
  }

  private mainThreadBlock(op: string, asyncOp: string): LockUsageError {
    return new LockUsageError(
      `${op} would block the main thread; use try${op === 'readLock' ? 'Read' : 'Write'}() ` +
        `or ${asyncOp}() there`,
    );
  }
}
