import { isMainThread } from 'node:worker_threads';
import { currentLockOwnerId } from './thread-id.js';

/**
 * The shared-memory operations the lock algorithms are written against.
 *
 * `RwLock` and the lock registry never call `Atomics` directly: every load, read-modify-write,
 * wait and notify on shared memory goes through one of these methods. In production the
 * implementation is `atomicsMemory` (each method is the `Atomics` call of the same name, and
 * V8 inlines them: see `docs/locking.md` for the measured cost). The schedule explorer (test
 * tooling, `test/support/schedule-explorer/`) substitutes a simulated memory in which every
 * call is a scheduling point, so the code it explores is the code that ships, not a copy of
 * it. This interface is its only hook into production code.
 *
 * One `LockMemory` object belongs to one thread: `ownerId`, `canBlock` and `now` describe the
 * calling thread.
 */
export interface LockMemory {
  /** Lock-owner id of the calling thread (`threadId + 1`; 0 means "no owner"). */
  readonly ownerId: number;
  /** Whether the calling thread may park in `wait` (false on the main thread). */
  readonly canBlock: boolean;
  load(a: Int32Array, i: number): number;
  store(a: Int32Array, i: number, v: number): void;
  /**
   * A plain (non-atomic) store: no ordering with other threads' accesses. For bookkeeping
   * that only a later reader synchronised by other means (the thread's exit) depends on.
   */
  storePlain(a: Int32Array, i: number, v: number): void;
  /** Returns the old value, like `Atomics.compareExchange`. */
  cas(a: Int32Array, i: number, expected: number, replacement: number): number;
  /** Returns the old value. */
  add(a: Int32Array, i: number, v: number): number;
  /** Returns the old value. */
  sub(a: Int32Array, i: number, v: number): number;
  /** Returns the old value. */
  and(a: Int32Array, i: number, v: number): number;
  /** `Atomics.wait`: parks while `a[i] === v`, at most `timeoutMs`. */
  wait(a: Int32Array, i: number, v: number, timeoutMs: number): 'ok' | 'not-equal' | 'timed-out';
  /** `Atomics.waitAsync`. */
  waitAsync(a: Int32Array, i: number, v: number, timeoutMs: number): WaitAsyncResult;
  /** Wakes every waiter parked on `a[i]`; returns how many were woken. */
  notify(a: Int32Array, i: number): number;
  /** Milliseconds on this thread's monotonic clock (`performance.now()`). */
  now(): number;
}

// Node 20 has Atomics.waitAsync but the ES2023 lib we compile against does not declare it.
export type WaitAsyncResult =
  | { async: false; value: 'not-equal' | 'timed-out' }
  | { async: true; value: Promise<'ok' | 'timed-out'> };
const AtomicsWithWaitAsync = Atomics as unknown as {
  waitAsync(i32: Int32Array, index: number, value: number, timeoutMs: number): WaitAsyncResult;
};

/** The production `LockMemory` of the calling thread: plain `Atomics`. */
export const atomicsMemory: LockMemory = {
  ownerId: currentLockOwnerId(),
  canBlock: !isMainThread,
  load: (a, i) => Atomics.load(a, i),
  store: (a, i, v) => {
    Atomics.store(a, i, v);
  },
  storePlain: (a, i, v) => {
    a[i] = v;
  },
  cas: (a, i, e, r) => Atomics.compareExchange(a, i, e, r),
  add: (a, i, v) => Atomics.add(a, i, v),
  sub: (a, i, v) => Atomics.sub(a, i, v),
  and: (a, i, v) => Atomics.and(a, i, v),
  wait: (a, i, v, t) => Atomics.wait(a, i, v, t),
  waitAsync: (a, i, v, t) => AtomicsWithWaitAsync.waitAsync(a, i, v, t),
  notify: (a, i) => Atomics.notify(a, i),
  now: () => performance.now(),
};
