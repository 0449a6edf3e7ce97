/**
 * A write-preferring reader-writer lock that lives in four Int32 words of a
 * SharedArrayBuffer, so every thread that maps the buffer shares the same lock.
 *
 * # Semantics
 *
 * This lock allows any number of readers or at most one writer at any point in time. A
 * writer gets exclusive access; readers only get shared access. The lock is not tied to
 * any data: callers protect whatever region of shared memory they agree it guards.
 *
 * **Priority policy: write-preferring.** A writer first *announces* itself (increments
 * the writers-waiting count); from then on no new reader is admitted, by any acquire
 * form including `tryRead()`, until every announced writer has either acquired and
 * released the lock or given up at its deadline. Readers already inside finish normally,
 * then a waiting writer gets in. So a stream of readers can never starve a writer.
 * There is no queue: among waiting writers the order is unspecified (whoever wins the
 * compare-exchange after a wake-up), a `tryWrite()` / uncontended `writeLock()` may
 * overtake writers that are already waiting, and a continuous stream of writers can starve
 * readers.
 *
 * **Deadlines.** Every waiting acquire takes `timeoutMs`, a finite number > 0 (anything
 * else is a `RangeError`, checked before anything else). If the lock is not acquired by
 * the deadline the call throws (async forms: rejects with) `LockTimeoutError`; the waiter
 * then holds nothing, and a writer has withdrawn its announcement (waking readers it was
 * holding back), so the lock word is exactly as if the waiter had never come. The lock is
 * tried once more after the deadline passes, so a timeout means the lock really was
 * unavailable at the deadline.
 *
 * **Blocking vs async.** `readLock` / `writeLock` park the thread in `Atomics.wait`; they
 * are for worker threads only and throw `LockUsageError` on the main thread (even when the
 * lock is free), because the main thread must never block. `readLockAsync` /
 * `writeLockAsync` run the same algorithm on `Atomics.waitAsync` and work on any thread.
 * `tryRead` / `tryWrite` never wait: they return `false` iff the lock was observed
 * unavailable (a compare-exchange lost to a concurrent change is retried, never reported
 * as failure). `tryWrite` does not announce, so a failed `tryWrite` does not hold back
 * readers.
 *
 * **Ownership.** The write lock is owned by a *thread*: the holder's id
 * (`currentLockOwnerId()`, `threadId + 1`) is stored in OWNER, `writeUnlock` from any
 * other thread throws `LockUsageError`, and timeouts report it. Async tasks on one thread
 * share that id, so they are not told apart. Read locks are counted, not owned: a stray
 * `readUnlock` is only detected when the reader count is already 0 (a registered lock also
 * refuses one from a thread that holds no read lock on it).
 *
 * **Not reentrant.** A thread holding the write lock that calls a blocking acquire gets a
 * `LockUsageError` (it would otherwise wait for itself until the deadline); `tryRead` /
 * `tryWrite` just return `false`, and the async forms wait (another task on the same
 * thread may release). Taking the read lock twice on one thread works only while no
 * writer is waiting; a thread holding a read lock that calls `writeLock` waits for itself
 * until the deadline (registered locks: checked mode refuses both at the call, and the
 * deadlock detector breaks the wait). Don't.
 *
 * **Registry.** A lock built with `{ id, registry }` (see `lock-registry.ts`) records every
 * acquire, wait and release in the calling thread's registry record, counts contention in
 * the registry's metrics, honours checked mode (`LockOrderError` at the call, before
 * anything waits), can be failed by the deadlock detector (`DeadlockError`, leaving the lock
 * word exactly as a timeout does), and can be recovered if its holder dies
 * (`recovery.ts`). A registered writer also stores its record's *tag* in STATE (below).
 * Without a registry the lock behaves exactly as before and its words are the same.
 *
 * **Memory operations.** Every access to the lock words goes through a `LockMemory`
 * (`memory.ts`): `Atomics` in production, a simulated memory in the schedule explorer
 * (`test/support/schedule-explorer/`), which therefore runs this very code through every
 * interleaving it explores.
 *
 * # Layout (parking_lot `raw_rwlock.rs` style)
 *
 * | word       | bits  | field              | meaning                                     |
 * |------------|-------|--------------------|---------------------------------------------|
 * | 0 STATE    | 0–15  | readers / tag      | threads holding the read lock (READER_ONE); |
 * |            |       |                    | while WRITER_HELD: the writer's registry    |
 * |            |       |                    | tag (record index + 1), 0 if unregistered   |
 * | 0 STATE    | 16–29 | writers waiting    | announced writers (WRITER_WAITING_ONE)      |
 * | 0 STATE    | 30    | WRITER_HELD        | a writer holds the lock                     |
 * | 0 STATE    | 31    | —                  | always 0 (the word stays non-negative)      |
 * | 1 OWNER    | all   | owner id           | holder of the write lock, 0 when none       |
 * | 2 SLEEPERS | all   | sleepers           | threads parked in wait/waitAsync on STATE   |
 * | 3 —        | all   | reserved           | 0                                           |
 *
 * The tag makes "which thread holds the write lock" part of the same compare-exchange that
 * takes it, so a supervisor can release the write lock of a thread that was terminated at
 * any instruction (OWNER is stored after the compare-exchange and may be missing).
 *
 * Every admission decision is one compare-exchange on STATE, made by the pure predicates
 * below:
 *
 * | operation           | admitted when (`canRead` / `canWrite`)    | STATE transition         |
 * |---------------------|-------------------------------------------|--------------------------|
 * | read acquire        | !WRITER_HELD && writers waiting == 0      | s + READER_ONE           |
 * | write announce      | always (writers waiting < 16383)          | s + WRITER_WAITING_ONE   |
 * | write acquire       | readers == 0 && !WRITER_HELD              | s − WWO + WRITER_HELD + t|
 * | tryWrite (*)        | readers == 0 && !WRITER_HELD              | s + WRITER_HELD + t      |
 * | write give-up       | (deadline passed or deadlock victim)      | s − WRITER_WAITING_ONE   |
 * | readUnlock          | readers > 0 (else `LockUsageError`)       | s − READER_ONE           |
 * | writeUnlock         | OWNER == me (else `LockUsageError`)       | s & ~(WRITER_HELD | tag) |
 *
 * (WWO = `WRITER_WAITING_ONE`, t = the writer's tag. (*) Also the first, unannounced attempt
 * of `writeLock` / `writeLockAsync`, so an uncontended write acquire is a single
 * compare-exchange.) The announce is a compare-exchange loop rather than `Atomics.add` only
 * so that it can refuse to carry into WRITER_HELD; `readUnlock` is one so that a stray
 * unlock changes nothing.
 *
 * After a writeUnlock, a write give-up, or a readUnlock that released the last reader, the
 * releaser wakes every sleeper if SLEEPERS > 0. Those are the only transitions that can
 * turn a state some waiter refused into one it accepts; the others only add refusals.
 *
 * # Parking without lost wake-ups
 *
 *   waiter:   s = load(STATE); if s is refused: SLEEPERS += 1; wait(STATE, s, remaining);
 *             SLEEPERS -= 1; start over
 *   releaser: RMW on STATE; if load(SLEEPERS) > 0: notify(STATE, all)
 *
 * JS atomics are sequentially consistent: all of these operations (and the value check
 * inside `wait`) fall in one total order that every thread agrees on. Take a waiter W
 * that refused s and a releaser R whose RMW makes the state acceptable to W.
 * - If W's load of s came after R's RMW, s already includes R's release and W refused it
 *   anyway; R owes W nothing.
 * - Otherwise, if R's load sees SLEEPERS == 0, W's increment comes after that load, hence
 *   after R's RMW, and W's `wait` later still: it compares STATE with s, finds R's value
 *   (or a later one), returns "not-equal" at once, and W re-checks. (If the state has
 *   meanwhile come back to exactly s, it is again a state W refuses, and the same argument
 *   applies to whichever release makes it acceptable next.)
 * - Otherwise R sees W counted and notifies. `wait` checks the value and enqueues W in one
 *   critical section that `notify` also takes, so either W is already queued and is woken,
 *   or W's check comes after R's RMW and sees the new value.
 * No wake-up is lost. A stale SLEEPERS > 0 only costs a spurious notify. The schedule
 * explorer (`test/sync/model.test.ts`) checks this argument, mutual exclusion and write
 * preference on every interleaving of two and three threads within its bounds.
 *
 * The deadlock detector wakes a victim by setting its registry VICTIM word and notifying
 * STATE; that notify can land before the victim parks (STATE is unchanged, so `wait` does
 * not return): the detector therefore repeats it on every scan until the victim has left.
 *
 * The fast paths (uncontended tryRead / tryWrite / readUnlock / writeUnlock, and the
 * first attempt of every acquire) are a load and a compare-exchange and allocate nothing;
 * a registered lock adds a few stores to its thread's record (see `docs/locking.md`).
 */

import { DeadlockError, LockTimeoutError, LockUsageError } from './lock-errors.js';
import { describeLock, lockClassIndex } from './lock-ids.js';
import type { LockRegistry } from './lock-registry.js';
import { atomicsMemory, type LockMemory } from './memory.js';
import type { RegistryWriter } from './registry-writer.js';

export { currentLockOwnerId } from './thread-id.js';

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

/**
 * The readers field of state `s`: the number of threads (or async tasks) holding the read
 * lock — or, while `writerHeld(s)`, the registry tag of the writer.
 */
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

/** Registry tag of the writer holding the lock in state `s` (0: none or unregistered). */
export function writerTag(s: number): number {
  return writerHeld(s) ? s & READERS_MASK : 0;
}

/** Number of read-lock holders in state `s` (0 while a writer holds it). */
export function readerCount(s: number): number {
  return writerHeld(s) ? 0 : readers(s);
}

/** What a write release keeps of STATE: everything but WRITER_HELD and the writer's tag. */
const KEPT_BY_WRITE_RELEASE = ~(WRITER_HELD | READERS_MASK);

/** State `s` after its write lock is released (the `writeUnlock` transition). */
export function withoutWriter(s: number): number {
  return s & KEPT_BY_WRITE_RELEASE;
}

/**
 * State `s` with its reader count cleared; unchanged while a writer holds the lock (the field
 * is then the writer's tag). For recovery, which clears counts that dead threads left.
 */
export function withoutReaders(s: number): number {
  return writerHeld(s) ? s : s & ~READERS_MASK;
}

/** State `s` with no writer announced (recovery, as `withoutReaders`). */
export function withoutWritersWaiting(s: number): number {
  return s & ~WRITERS_WAITING_MASK;
}

/** Read admission: no writer holds the lock and none is waiting (write preference). */
export function canRead(s: number): boolean {
  return (s & (WRITER_HELD | WRITERS_WAITING_MASK)) === 0;
}

/** Write admission: no reader and no writer holds the lock. Waiting writers don't matter. */
export function canWrite(s: number): boolean {
  return (s & (WRITER_HELD | READERS_MASK)) === 0;
}

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

function writerOverflow(): LockUsageError {
  return new LockUsageError(`rwlock writers-waiting overflow (max ${MAX_WRITERS_WAITING})`);
}

export interface RwLockOptions {
  /** Stable lock id (`lock-ids.ts`); required with a registry. */
  id?: number;
  /** Record holdings and waits in this registry (this thread's view of it). */
  registry?: LockRegistry;
  /** Memory operations; default `atomicsMemory`. The schedule explorer passes its own. */
  memory?: LockMemory;
}

/** One waiting acquire (slow path). */
interface Waiter {
  readonly write: boolean;
  readonly timeoutMs: number;
  /** Registry entry of the attempt, -1 if none. */
  readonly entry: number;
  /** Thread-clock time the wait started. */
  readonly start: number;
  readonly deadline: number;
  /** Registry wait number (0: not recorded, cannot be made a deadlock victim). */
  seq: number;
  /** Time left when the last step decided to park. */
  remaining: number;
}

/** A reader-writer lock over `RWLOCK_WORDS` Int32 words at `base` of a shared Int32Array. */
export class RwLock {
  readonly i32: Int32Array;
  readonly base: number;
  /** Lock id (0 when none was given). */
  readonly id: number;
  protected readonly m: LockMemory;
  /** This thread's registry record (null: an unregistered lock). */
  protected readonly rec: RegistryWriter | null;
  private readonly stateAt: number;
  private readonly ownerAt: number;
  private readonly sleepersAt: number;

  /**
   * Views the lock at `base`; does not modify memory. The words must be zero (see `init`)
   * before the first thread uses the lock.
   */
  constructor(i32: Int32Array, base: number, options: RwLockOptions = {}) {
    if (!(i32 instanceof Int32Array) || !(i32.buffer instanceof SharedArrayBuffer)) {
      throw new TypeError('RwLock needs an Int32Array over a SharedArrayBuffer');
    }
    if (!Number.isInteger(base) || base < 0 || base + RWLOCK_WORDS > i32.length) {
      throw new RangeError(
        `RwLock base ${String(base)} out of range for an Int32Array of length ${i32.length}`,
      );
    }
    const id = options.id ?? 0;
    if (!Number.isInteger(id) || id < 0) throw new RangeError(`bad lock id ${String(id)}`);
    if (options.registry !== undefined && id === 0) {
      throw new TypeError('a registered RwLock needs a lock id (see lock-ids.ts)');
    }
    this.i32 = i32;
    this.base = base;
    this.id = id;
    this.m = options.memory ?? options.registry?.m ?? atomicsMemory;
    this.rec = options.registry?.writer ?? null;
    this.stateAt = base + STATE;
    this.ownerAt = base + OWNER;
    this.sleepersAt = base + SLEEPERS;
    options.registry?.attach(this);
  }

  /** Zeroes the lock's words (unlocked, no owner, no sleepers) and returns a view of it. */
  static init(i32: Int32Array, base: number, options?: RwLockOptions): RwLock {
    const lock = new RwLock(i32, base, options);
    for (let i = 0; i < RWLOCK_WORDS; i++) Atomics.store(i32, base + i, 0);
    return lock;
  }

  /** Owner id of the thread holding the write lock, 0 if none (or not yet recorded). */
  get ownerId(): number {
    return this.m.load(this.i32, this.ownerAt);
  }

  /** Current number of read-lock holders. */
  get readers(): number {
    return readerCount(this.m.load(this.i32, this.stateAt));
  }

  /** Current number of writers that announced themselves and are waiting. */
  get writersWaiting(): number {
    return writersWaiting(this.m.load(this.i32, this.stateAt));
  }

  /** Whether a writer currently holds the lock. */
  get isWriteLocked(): boolean {
    return writerHeld(this.m.load(this.i32, this.stateAt));
  }

  /** Takes the read lock if it is available now; never waits. */
  tryRead(): boolean {
    const rec = this.rec;
    if (rec === null) return this.readFast();
    rec.checkOrder(this.id, false, 'tryRead');
    const e = rec.beginAcquire(this.id, false);
    if (this.readFast()) {
      rec.acquired(e, this.id);
      return true;
    }
    rec.cancelAcquire(e);
    return false;
  }

  /** Takes the write lock if it is available now; never waits and does not announce. */
  tryWrite(): boolean {
    const rec = this.rec;
    if (rec === null) return this.writeFast(0);
    rec.checkOrder(this.id, false, 'tryWrite');
    const e = rec.beginAcquire(this.id, true);
    if (this.writeFast(rec.tag)) {
      rec.acquired(e, this.id);
      return true;
    }
    rec.cancelAcquire(e);
    return false;
  }

  /**
   * Takes the read lock, parking the thread until it is available or `timeoutMs` passes
   * (then throws `LockTimeoutError`). Workers only: throws `LockUsageError` on the main
   * thread, or if this thread holds the write lock. Registered locks may also throw
   * `LockOrderError` (checked mode, before anything changes) and `DeadlockError`.
   */
  readLock(timeoutMs: number): void {
    checkTimeout(timeoutMs);
    if (!this.m.canBlock) throw this.mainThreadBlock('readLock', 'readLockAsync');
    const rec = this.rec;
    let e = -1;
    if (rec !== null) {
      rec.checkOrder(this.id, true, 'readLock');
      e = rec.beginAcquire(this.id, false);
    }
    if (this.readFast()) {
      rec?.acquired(e, this.id);
      return;
    }
    this.checkNotOwner('readLock', e);
    const w = this.startWait(false, timeoutMs, e, false);
    for (let s = this.readStep(w); s >= 0; s = this.readStep(w)) this.park(s, w.remaining);
    this.finishWait(w);
  }

  /**
   * Takes the write lock, parking the thread until it is available or `timeoutMs` passes
   * (then throws `LockTimeoutError`). While waiting, the writer's announcement keeps new
   * readers out. Workers only: throws `LockUsageError` on the main thread, or if this
   * thread already holds the write lock. Registered locks may also throw `LockOrderError`
   * and `DeadlockError`.
   */
  writeLock(timeoutMs: number): void {
    checkTimeout(timeoutMs);
    if (!this.m.canBlock) throw this.mainThreadBlock('writeLock', 'writeLockAsync');
    const rec = this.rec;
    let e = -1;
    let tag = 0;
    if (rec !== null) {
      rec.checkOrder(this.id, true, 'writeLock');
      e = rec.beginAcquire(this.id, true);
      tag = rec.tag;
    }
    if (this.writeFast(tag)) {
      rec?.acquired(e, this.id);
      return;
    }
    this.checkNotOwner('writeLock', e);
    const w = this.startWait(true, timeoutMs, e, false);
    for (let s = this.writeStep(w, tag); s >= 0; s = this.writeStep(w, tag)) {
      this.park(s, w.remaining);
    }
    this.finishWait(w);
  }

  /** Like `readLock` but waits with `Atomics.waitAsync`; allowed on any thread. */
  async readLockAsync(timeoutMs: number): Promise<void> {
    checkTimeout(timeoutMs);
    const rec = this.rec;
    const e = rec === null ? -1 : rec.beginAcquire(this.id, false);
    if (this.readFast()) {
      rec?.acquired(e, this.id);
      return;
    }
    const w = this.startWait(false, timeoutMs, e, true);
    const keepAlive = setInterval(keepAliveTick, KEEP_ALIVE_MS);
    try {
      for (let s = this.readStep(w); s >= 0; s = this.readStep(w)) {
        await this.parkAsync(s, w.remaining);
      }
    } finally {
      clearInterval(keepAlive);
    }
    this.finishWait(w);
  }

  /** Like `writeLock` but waits with `Atomics.waitAsync`; allowed on any thread. */
  async writeLockAsync(timeoutMs: number): Promise<void> {
    checkTimeout(timeoutMs);
    const rec = this.rec;
    const e = rec === null ? -1 : rec.beginAcquire(this.id, true);
    const tag = rec === null ? 0 : rec.tag;
    if (this.writeFast(tag)) {
      rec?.acquired(e, this.id);
      return;
    }
    const w = this.startWait(true, timeoutMs, e, true);
    const keepAlive = setInterval(keepAliveTick, KEEP_ALIVE_MS);
    try {
      for (let s = this.writeStep(w, tag); s >= 0; s = this.writeStep(w, tag)) {
        await this.parkAsync(s, w.remaining);
      }
    } finally {
      clearInterval(keepAlive);
    }
    this.finishWait(w);
  }

  /**
   * Releases one read lock. Throws `LockUsageError` (and changes nothing) if no read lock
   * is held (a registered lock: if this thread holds none). Wakes sleepers when the last
   * reader leaves.
   */
  readUnlock(): void {
    const m = this.m;
    const i32 = this.i32;
    const rec = this.rec;
    let e = -1;
    let tracked = false;
    if (rec !== null) {
      const s0 = m.load(i32, this.stateAt);
      if (writerHeld(s0) || readers(s0) === 0) throw this.strayReadUnlock(s0);
      e = rec.findHeld(this.id, false);
      if (e >= 0) {
        tracked = true;
        rec.releasing(e);
      } else if (rec.untracked) {
        tracked = true;
      } else {
        throw new LockUsageError(
          `readUnlock: this thread holds no read lock on ${describeLock(this.id)}`,
        );
      }
    }
    for (;;) {
      const s = m.load(i32, this.stateAt);
      const n = readers(s);
      if (writerHeld(s) || n === 0) {
        if (e >= 0) rec?.stillHeld(e);
        throw this.strayReadUnlock(s);
      }
      if (m.cas(i32, this.stateAt, s, s - READER_ONE) === s) {
        if (n === 1) this.wakeSleepers();
        if (tracked) rec?.released(e, this.id);
        return;
      }
    }
  }

  /**
   * Releases the write lock. Throws `LockUsageError` (and changes nothing) unless the
   * calling thread holds it. Wakes all sleepers.
   */
  writeUnlock(): void {
    const m = this.m;
    const i32 = this.i32;
    const me = m.ownerId;
    const owner = m.load(i32, this.ownerAt);
    if (owner !== me || !writerHeld(m.load(i32, this.stateAt))) {
      throw new LockUsageError(
        owner === 0 || owner === me
          ? `writeUnlock: thread ${me} does not hold the write lock`
          : `writeUnlock: the write lock is held by thread ${owner}, not by thread ${me}`,
      );
    }
    const rec = this.rec;
    let e = -1;
    let tracked = false;
    if (rec !== null) {
      e = rec.findHeld(this.id, true);
      tracked = e >= 0 || rec.untracked;
      if (e >= 0) rec.releasing(e);
    }
    m.store(i32, this.ownerAt, 0);
    m.and(i32, this.stateAt, KEPT_BY_WRITE_RELEASE);
    this.wakeSleepers();
    if (tracked) rec?.released(e, this.id);
  }

  /** Read admission predicate; the schedule explorer's broken variant overrides it. */
  protected admitsReader(s: number): boolean {
    return canRead(s);
  }

  /** Waiter side of the parking protocol: sleep while STATE is still `s`. */
  protected park(s: number, remainingMs: number): void {
    const m = this.m;
    m.add(this.i32, this.sleepersAt, 1);
    m.wait(this.i32, this.stateAt, s, remainingMs);
    m.sub(this.i32, this.sleepersAt, 1);
  }

  /** `park` on `Atomics.waitAsync`. */
  protected async parkAsync(s: number, remainingMs: number): Promise<void> {
    const m = this.m;
    m.add(this.i32, this.sleepersAt, 1);
    try {
      const result = m.waitAsync(this.i32, this.stateAt, s, remainingMs);
      if (result.async) await result.value;
    } finally {
      m.sub(this.i32, this.sleepersAt, 1);
    }
  }

  /** Releaser side of the parking protocol: called after the RMW on STATE. */
  protected wakeSleepers(): void {
    const m = this.m;
    if (m.load(this.i32, this.sleepersAt) > 0) m.notify(this.i32, this.stateAt);
  }

  /** Reader fast path: admitted now or not, never waits. */
  private readFast(): boolean {
    const m = this.m;
    for (;;) {
      const s = m.load(this.i32, this.stateAt);
      if (!this.admitsReader(s)) return false;
      if (this.casRead(s)) return true;
    }
  }

  /** Writer fast path (unannounced): free now or not, never waits. */
  private writeFast(tag: number): boolean {
    const m = this.m;
    for (;;) {
      const s = m.load(this.i32, this.stateAt);
      if (!canWrite(s)) return false;
      if (m.cas(this.i32, this.stateAt, s, s + WRITER_HELD + tag) === s) {
        m.store(this.i32, this.ownerAt, m.ownerId);
        return true;
      }
    }
  }

  /** One admission attempt for a reader at observed state `s` (which it admits). */
  private casRead(s: number): boolean {
    if (readers(s) === MAX_READERS) throw readerOverflow();
    return this.m.cas(this.i32, this.stateAt, s, s + READER_ONE) === s;
  }

  /**
   * Starts a slow path: records the wait and, for a writer, announces it (from then on no
   * new reader is admitted).
   */
  private startWait(write: boolean, timeoutMs: number, entry: number, async: boolean): Waiter {
    const m = this.m;
    const start = m.now();
    const w: Waiter = {
      write,
      timeoutMs,
      entry,
      start,
      deadline: start + timeoutMs,
      seq: 0,
      remaining: timeoutMs,
    };
    const rec = this.rec;
    if (rec !== null) w.seq = rec.beginWait(this.id, write, async, start);
    if (write) {
      if (!this.announceWriter()) {
        this.endWait(w);
        rec?.cancelAcquire(entry);
        throw writerOverflow();
      }
      rec?.announced(w.seq, async);
    }
    return w;
  }

  /**
   * The reader's slow-path loop, up to the next park: returns -1 once the lock is taken, or
   * the refused state to park on (with `w.remaining` set). Throws when the wait is over.
   */
  private readStep(w: Waiter): number {
    const m = this.m;
    for (;;) {
      const s = m.load(this.i32, this.stateAt);
      if (this.admitsReader(s)) {
        if (this.casRead(s)) return -1;
        continue;
      }
      const stop = this.shouldStop(w);
      if (stop !== null) throw stop;
      return s;
    }
  }

  /** The announced writer's slow-path loop, like `readStep`. */
  private writeStep(w: Waiter, tag: number): number {
    const m = this.m;
    const i32 = this.i32;
    for (;;) {
      const s = m.load(i32, this.stateAt);
      if (canWrite(s)) {
        if (m.cas(i32, this.stateAt, s, s - WRITER_WAITING_ONE + WRITER_HELD + tag) === s) {
          m.store(i32, this.ownerAt, m.ownerId);
          return -1;
        }
        continue;
      }
      const stop = this.shouldStop(w);
      if (stop !== null) throw stop;
      return s;
    }
  }

  /**
   * After a refusal: the error to throw if the deadline passed or the deadlock detector
   * chose this wait (having undone the wait: the lock word is as if it never came), else
   * null with `w.remaining` set.
   */
  private shouldStop(w: Waiter): Error | null {
    const remaining = w.deadline - this.m.now();
    const rec = this.rec;
    let victim = false;
    if (remaining > 0) {
      if (rec === null || !rec.aborted(w.seq)) {
        w.remaining = remaining;
        return null;
      }
      victim = true;
    }
    const ownerId = this.m.load(this.i32, this.ownerAt);
    if (w.write) this.withdrawWriter();
    const waited = this.endWait(w);
    rec?.cancelAcquire(w.entry);
    const mode = w.write ? 'write' : 'read';
    const cls = lockClassIndex(this.id);
    if (victim) {
      rec?.stats?.deadlocked(cls);
      return new DeadlockError(mode, this.id, waited, describeLock(this.id));
    }
    rec?.stats?.timedOut(cls);
    return new LockTimeoutError(mode, w.timeoutMs, ownerId);
  }

  /** Retracts the wait record and counts the wait; returns how long it lasted (ms). */
  private endWait(w: Waiter): number {
    const waited = this.m.now() - w.start;
    const rec = this.rec;
    if (rec !== null) {
      rec.endWait(w.seq);
      rec.stats?.waited(lockClassIndex(this.id), waited);
    }
    return waited;
  }

  /** The slow path took the lock. */
  private finishWait(w: Waiter): void {
    this.endWait(w);
    this.rec?.acquired(w.entry, this.id);
  }

  /**
   * Adds this writer to the writers-waiting count. Equivalent to
   * `Atomics.add(WRITER_WAITING_ONE)`, but as a compare-exchange so that the 14-bit field
   * can never carry into WRITER_HELD. Returns false (changing nothing) if the field is full.
   */
  private announceWriter(): boolean {
    const m = this.m;
    for (;;) {
      const s = m.load(this.i32, this.stateAt);
      if (writersWaiting(s) === MAX_WRITERS_WAITING) return false;
      if (m.cas(this.i32, this.stateAt, s, s + WRITER_WAITING_ONE) === s) return true;
    }
  }

  /** Undoes `announceWriter` after a timeout; readers it held back must re-check. */
  private withdrawWriter(): void {
    this.m.sub(this.i32, this.stateAt, WRITER_WAITING_ONE);
    this.wakeSleepers();
  }

  private checkNotOwner(op: string, entry: number): void {
    const m = this.m;
    if (m.load(this.i32, this.ownerAt) === m.ownerId) {
      this.rec?.cancelAcquire(entry);
      throw new LockUsageError(`${op}: this thread holds the write lock; waiting would deadlock`);
    }
  }

  private strayReadUnlock(s: number): LockUsageError {
    return new LockUsageError(
      writerHeld(s)
        ? 'readUnlock: the lock is write-locked, not read-locked'
        : 'readUnlock: no read lock is held',
    );
  }

  private mainThreadBlock(op: string, asyncOp: string): LockUsageError {
    return new LockUsageError(
      `${op} would block the main thread; use try${op === 'readLock' ? 'Read' : 'Write'}() ` +
        `or ${asyncOp}() there`,
    );
  }
}
