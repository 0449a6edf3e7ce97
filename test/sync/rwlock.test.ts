import { setTimeout as delay } from 'node:timers/promises';
import { isMainThread, threadId, Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { LockTimeoutError, LockUsageError } from '../../src/sync/lock-errors.js';
import {
  canRead,
  canWrite,
  currentLockOwnerId,
  MAX_READERS,
  MAX_WRITERS_WAITING,
  OWNER,
  RWLOCK_WORDS,
  RwLock,
  readers,
  SLEEPERS,
  STATE,
  WRITER_HELD,
  WRITER_WAITING_ONE,
  writerHeld,
  writersWaiting,
} from '../../src/sync/rwlock.js';
import {
  type CommandOp,
  type RendezvousResult,
  STRESS,
  type StressResult,
  type WorkerInput,
  type WorkerReply,
} from '../fixtures/rwlock-protocol.js';
import type { WireError, WireReply } from '../fixtures/wire-error.js';

const WORKER_URL = new URL('../fixtures/rwlock-worker.js', import.meta.url);

/** Every worker a test starts; all are terminated after each test, pass or fail. */
const live = new Set<Worker>();

afterEach(async () => {
  const workers = [...live];
  live.clear();
  await Promise.all(workers.map((w) => w.terminate()));
});

function spawn(input: WorkerInput): Worker {
  const worker = new Worker(WORKER_URL, { workerData: input });
  live.add(worker);
  return worker;
}

function newLock(words = RWLOCK_WORDS): { sab: SharedArrayBuffer; i32: Int32Array; lock: RwLock } {
  const sab = new SharedArrayBuffer(words * Int32Array.BYTES_PER_ELEMENT);
  const i32 = new Int32Array(sab);
  return { sab, i32, lock: RwLock.init(i32, 0) };
}

/** Polls `pred` (without blocking the event loop) until it holds; fails after a bound. */
async function until(pred: () => boolean, what: string, boundMs = 10_000): Promise<void> {
  const deadline = performance.now() + boundMs;
  while (!pred()) {
    if (performance.now() > deadline) throw new Error(`gave up waiting for: ${what}`);
    await delay(1);
  }
}

/** The first non-command message a worker sends (its result), or its failure. */
function resultOf<T>(worker: Worker, kind: 'rendezvous' | 'stress'): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    worker.on('message', (m: WorkerReply) => {
      if ('kind' in m && m.kind === kind) resolve(m.result as T);
      else if ('kind' in m && m.kind === 'failed') {
        reject(new Error(`worker failed: ${m.error.name}: ${m.error.message}`));
      }
    });
    worker.on('error', reject);
    worker.on('exit', (code) => reject(new Error(`worker exited with code ${code}`)));
  });
}

/**
 * A worker that performs lock operations on request, one at a time (a blocking operation
 * blocks the worker, so later requests queue behind it). `call` never rejects: a worker
 * that dies answers every outstanding call with an error reply.
 */
class LockThread {
  readonly worker: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, (reply: WireReply) => void>();

  constructor(sab: SharedArrayBuffer, base = 0) {
    this.worker = spawn({ role: 'commands', sab, base });
    this.worker.on('message', (reply: WireReply) => {
      this.pending.get(reply.id)?.(reply);
      this.pending.delete(reply.id);
    });
    const die = (error: WireError): void => {
      for (const [id, settle] of this.pending) settle({ id, ok: false, error });
      this.pending.clear();
    };
    this.worker.on('error', (e) => die({ name: e.name, message: e.message }));
    this.worker.on('exit', (code) => die({ name: 'WorkerExit', message: `exit ${code}` }));
  }

  /** Lock-owner id the worker records: its threadId + 1. */
  get ownerId(): number {
    return this.worker.threadId + 1;
  }

  call(op: CommandOp, timeoutMs?: number): Promise<WireReply> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.worker.postMessage(timeoutMs === undefined ? { id, op } : { id, op, timeoutMs });
    });
  }

  /** Runs `op` and expects it to succeed; returns its value. */
  async ok(op: CommandOp, timeoutMs?: number): Promise<boolean | number | null> {
    return expectOk(await this.call(op, timeoutMs));
  }
}

function expectOk(reply: WireReply): boolean | number | null {
  if (!reply.ok)
    throw new Error(`expected success, got ${reply.error.name}: ${reply.error.message}`);
  return reply.value;
}

function expectError(reply: WireReply): WireError {
  if (reply.ok) throw new Error(`expected an error, got success (${String(reply.value)})`);
  return reply.error;
}

/** Starts `n` command workers and waits until each runs (and checks its owner id). */
async function lockThreads(sab: SharedArrayBuffer, n: number): Promise<LockThread[]> {
  const threads = Array.from({ length: n }, () => new LockThread(sab));
  for (const t of threads) expect(await t.ok('whoami')).toBe(t.ownerId);
  return threads;
}

/** Tracks whether a promise has settled, without awaiting it. */
function track<T>(p: Promise<T>): { promise: Promise<T>; settled: () => boolean } {
  let done = false;
  const promise = p.finally(() => {
    done = true;
  });
  return { promise, settled: () => done };
}

/**
 * Three threads on a new lock: A holds the read lock and W waits to write (giving up after
 * `writerTimeoutMs`); C is free.
 */
async function readerThenWriter(writerTimeoutMs: number) {
  const { sab, i32, lock } = newLock();
  const [a, w, c] = (await lockThreads(sab, 3)) as [LockThread, LockThread, LockThread];
  expect(await a.ok('readLock', 5_000)).toBeNull();
  const writer = track(w.call('writeLock', writerTimeoutMs));
  await until(() => lock.writersWaiting === 1, 'writer announced');
  return { i32, lock, a, w, c, writer };
}

describe('RwLock state word helpers', () => {
  it('decode the fields of a state word', () => {
    const s = 3 + 2 * WRITER_WAITING_ONE + WRITER_HELD;
    expect(readers(s)).toBe(3);
    expect(writersWaiting(s)).toBe(2);
    expect(writerHeld(s)).toBe(true);
    expect(readers(MAX_READERS)).toBe(MAX_READERS);
    expect(writersWaiting(MAX_WRITERS_WAITING * WRITER_WAITING_ONE)).toBe(MAX_WRITERS_WAITING);
    expect(writerHeld(MAX_READERS + MAX_WRITERS_WAITING * WRITER_WAITING_ONE)).toBe(false);
  });

  it('admit readers only with no writer holding or waiting, writers only when free', () => {
    expect(canRead(0)).toBe(true);
    expect(canRead(5)).toBe(true);
    expect(canRead(5 + WRITER_WAITING_ONE)).toBe(false);
    expect(canRead(WRITER_HELD)).toBe(false);
    expect(canWrite(0)).toBe(true);
    expect(canWrite(3 * WRITER_WAITING_ONE)).toBe(true);
    expect(canWrite(1)).toBe(false);
    expect(canWrite(WRITER_HELD)).toBe(false);
  });
});

describe('RwLock on one thread', () => {
  it('tryRead and tryWrite follow reader/writer exclusion', () => {
    const { i32, lock } = newLock();
    expect(lock.tryRead()).toBe(true);
    expect(lock.tryRead()).toBe(true);
    expect(lock.readers).toBe(2);
    expect(lock.tryWrite()).toBe(false);
    lock.readUnlock();
    expect(lock.tryWrite()).toBe(false);
    lock.readUnlock();
    expect(lock.tryWrite()).toBe(true);
    expect(lock.isWriteLocked).toBe(true);
    expect(lock.ownerId).toBe(currentLockOwnerId());
    expect(currentLockOwnerId()).toBe(threadId + 1);
    expect(lock.tryRead()).toBe(false);
    expect(lock.tryWrite()).toBe(false);
    lock.writeUnlock();
    expect(lock.isWriteLocked).toBe(false);
    expect(Array.from(i32)).toEqual([0, 0, 0, 0]);
  });

  it('tryRead refuses while a writer waits; tryWrite neither announces nor cares', () => {
    const { i32, lock } = newLock();
    Atomics.add(i32, STATE, WRITER_WAITING_ONE); // as an announced writer would
    expect(lock.writersWaiting).toBe(1);
    expect(lock.tryRead()).toBe(false);
    expect(lock.tryWrite()).toBe(true);
    expect(lock.writersWaiting).toBe(1);
    lock.writeUnlock();
    Atomics.sub(i32, STATE, WRITER_WAITING_ONE);
    expect(lock.tryWrite()).toBe(true);
    expect(lock.writersWaiting).toBe(0);
    lock.writeUnlock();
    expect(Atomics.load(i32, STATE)).toBe(0);
  });

  it('rejects releasing a lock that is not held, changing nothing', () => {
    const { i32, lock } = newLock();
    expect(() => lock.readUnlock()).toThrow(LockUsageError);
    expect(() => lock.writeUnlock()).toThrow(LockUsageError);
    expect(Array.from(i32)).toEqual([0, 0, 0, 0]);

    expect(lock.tryRead()).toBe(true);
    expect(() => lock.writeUnlock()).toThrow(LockUsageError);
    expect(Atomics.load(i32, STATE)).toBe(1);
    lock.readUnlock();

    expect(lock.tryWrite()).toBe(true);
    let err: unknown;
    try {
      lock.readUnlock();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LockUsageError);
    expect((err as LockUsageError).code).toBe('lock_usage');
    expect(Atomics.load(i32, STATE)).toBe(WRITER_HELD);
    lock.writeUnlock();

    // Held by another thread (owner 99): this thread may not release it.
    Atomics.store(i32, STATE, WRITER_HELD);
    Atomics.store(i32, OWNER, 99);
    expect(() => lock.writeUnlock()).toThrow(/held by thread 99/);
    expect(Array.from(i32)).toEqual([WRITER_HELD, 99, 0, 0]);
  });

  it('rejects non-finite or non-positive timeouts with RangeError', async () => {
    const { i32, lock } = newLock();
    for (const bad of [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN, 0, -1]) {
      expect(() => lock.readLock(bad)).toThrow(RangeError);
      expect(() => lock.writeLock(bad)).toThrow(RangeError);
      await expect(lock.readLockAsync(bad)).rejects.toThrow(RangeError);
      await expect(lock.writeLockAsync(bad)).rejects.toThrow(RangeError);
    }
    expect(Array.from(i32)).toEqual([0, 0, 0, 0]);
  });

  it.skipIf(!isMainThread)('refuses blocking acquires on the main thread', () => {
    const { i32, lock } = newLock();
    expect(() => lock.readLock(1000)).toThrow(LockUsageError);
    expect(() => lock.writeLock(1000)).toThrow(LockUsageError);
    expect(Array.from(i32)).toEqual([0, 0, 0, 0]);
  });

  it('async acquires time out with the lock left as it was', async () => {
    const { i32, lock } = newLock();
    expect(lock.tryWrite()).toBe(true);
    const read = lock.readLockAsync(30);
    await expect(read).rejects.toBeInstanceOf(LockTimeoutError);
    await expect(read).rejects.toMatchObject({
      code: 'lock_timeout',
      mode: 'read',
      timeoutMs: 30,
      ownerId: currentLockOwnerId(),
    });
    await expect(lock.writeLockAsync(30)).rejects.toMatchObject({ mode: 'write', timeoutMs: 30 });
    expect(Array.from(i32)).toEqual([WRITER_HELD, currentLockOwnerId(), 0, 0]);
    lock.writeUnlock();
    await lock.readLockAsync(30);
    lock.readUnlock();
    await lock.writeLockAsync(30);
    lock.writeUnlock();
    expect(Array.from(i32)).toEqual([0, 0, 0, 0]);
  });

  it('refuses to overflow the reader and writers-waiting counts', async () => {
    const { i32, lock } = newLock();
    Atomics.store(i32, STATE, MAX_READERS);
    expect(() => lock.tryRead()).toThrow(LockUsageError);
    await expect(lock.readLockAsync(10)).rejects.toThrow(LockUsageError);
    expect(Atomics.load(i32, STATE)).toBe(MAX_READERS);
    const full = 1 + MAX_WRITERS_WAITING * WRITER_WAITING_ONE;
    Atomics.store(i32, STATE, full);
    await expect(lock.writeLockAsync(10)).rejects.toThrow(LockUsageError);
    expect(Atomics.load(i32, STATE)).toBe(full);
    expect(writerHeld(full)).toBe(false);
  });

  it('validates its view and keeps adjacent locks independent', () => {
    expect(() => new RwLock(new Int32Array(8), 0)).toThrow(TypeError);
    const i32 = new Int32Array(new SharedArrayBuffer(8 * 4)).fill(7);
    for (const base of [-1, 5, 1.5, Number.NaN]) {
      expect(() => new RwLock(i32, base)).toThrow(RangeError);
    }
    const second = RwLock.init(i32, 4);
    expect(Array.from(i32)).toEqual([7, 7, 7, 7, 0, 0, 0, 0]);
    const first = RwLock.init(i32, 0);
    expect(first.tryWrite()).toBe(true);
    expect(second.tryWrite()).toBe(true);
    first.writeUnlock();
    expect(second.isWriteLocked).toBe(true);
    second.writeUnlock();
    expect(Array.from(i32)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  });
});

// Waits in these tests have lock deadlines longer than this bound, so a lost wake-up
// fails the test (instead of being papered over by a deadline) in bounded time.
describe('RwLock across worker threads', { timeout: 15_000 }, () => {
  it('lets two readers be inside the read section at the same instant', async () => {
    const arrivedAt = RWLOCK_WORDS;
    const { sab, i32 } = newLock(RWLOCK_WORDS + 1);
    const input: WorkerInput = { role: 'rendezvous', sab, base: 0, arrivedAt, timeoutMs: 10_000 };
    const a = spawn(input);
    const b = spawn(input);
    const results = await Promise.all([
      resultOf<RendezvousResult>(a, 'rendezvous'),
      resultOf<RendezvousResult>(b, 'rendezvous'),
    ]);
    for (const r of results) expect(r.arrivedSeen).toBeGreaterThanOrEqual(2);
    expect(Math.max(...results.map((r) => r.readersAtArrival))).toBe(2);
    expect(Atomics.load(i32, arrivedAt)).toBe(2);
    expect(Array.from(i32.subarray(0, RWLOCK_WORDS))).toEqual([0, 0, 0, 0]);
  });

  it('keeps readers and writers exclusive over 100,000 sections on 4 threads', async () => {
    const workers = 4;
    const iterations = 25_000;
    const sab = new SharedArrayBuffer(STRESS.words * Int32Array.BYTES_PER_ELEMENT);
    const i32 = new Int32Array(sab);
    RwLock.init(i32, STRESS.lock);
    const results = Array.from({ length: workers }, (_, k) => {
      const w = spawn({
        role: 'stress',
        sab,
        iterations,
        seed: 0x9e3779b9 ^ (k + 1),
        writePercent: 20 + 10 * k,
        timeoutMs: 60_000,
      });
      return resultOf<StressResult>(w, 'stress');
    });
    await until(() => Atomics.load(i32, STRESS.ready) === workers, 'stress workers ready');
    Atomics.store(i32, STRESS.go, 1);
    Atomics.notify(i32, STRESS.go);
    const done = await Promise.all(results);

    const sum = (f: (r: StressResult) => number): number => done.reduce((n, r) => n + f(r), 0);
    expect(sum((r) => r.reads + r.writes)).toBe(workers * iterations);
    expect(sum((r) => r.writes)).toBeGreaterThan(0);
    expect(sum((r) => r.reads)).toBeGreaterThan(0);
    expect(sum((r) => r.tryHits)).toBeGreaterThan(0);
    expect(sum((r) => r.asyncOps)).toBeGreaterThan(0);
    expect(Atomics.load(i32, STRESS.violations)).toBe(0);
    expect(Atomics.load(i32, STRESS.counter)).toBe(sum((r) => r.writes));
    expect(Atomics.load(i32, STRESS.readersIn)).toBe(0);
    expect(Atomics.load(i32, STRESS.writersIn)).toBe(0);
    expect(Atomics.load(i32, STRESS.guardBefore)).toBe(0);
    expect(Atomics.load(i32, STRESS.guardAfter)).toBe(0);
    const lockWords = i32.subarray(STRESS.lock, STRESS.lock + RWLOCK_WORDS);
    expect(Array.from(lockWords)).toEqual([0, 0, 0, 0]);
  });

  it('prefers a waiting writer over new readers', async () => {
    const { i32, lock, a, w, c, writer } = await readerThenWriter(30_000);

    // The announced writer keeps new readers out while the lock is only read-locked.
    expect(await c.ok('tryRead')).toBe(false);
    const timedOut = expectError(await c.call('readLock', 50));
    expect(timedOut).toMatchObject({ name: 'LockTimeoutError', mode: 'read', ownerId: 0 });
    expect(lock.readers).toBe(1);
    expect(lock.writersWaiting).toBe(1);
    const reader = track(c.call('readLock', 30_000));
    await until(() => Atomics.load(i32, SLEEPERS) === 2, 'writer and reader parked');
    expect(writer.settled()).toBe(false);

    // A leaves: W, not C, gets in.
    expect(await a.ok('readUnlock')).toBeNull();
    expectOk(await writer.promise);
    expect(lock.isWriteLocked).toBe(true);
    expect(lock.ownerId).toBe(w.ownerId);
    expect(lock.readers).toBe(0);
    expect(lock.writersWaiting).toBe(0);
    expect(reader.settled()).toBe(false);

    // W leaves: C gets in.
    expect(await w.ok('writeUnlock')).toBeNull();
    expectOk(await reader.promise);
    expect(lock.readers).toBe(1);
    expect(await c.ok('readUnlock')).toBeNull();
    expect(Array.from(i32)).toEqual([0, 0, 0, 0]);
  });

  it('leaves the lock usable after waiters time out', async () => {
    const { sab, i32, lock } = newLock();
    const [h, w, r] = (await lockThreads(sab, 3)) as [LockThread, LockThread, LockThread];

    expect(await h.ok('writeLock', 5_000)).toBeNull();
    const writeErr = expectError(await w.call('writeLock', 100));
    expect(writeErr).toMatchObject({
      name: 'LockTimeoutError',
      code: 'lock_timeout',
      mode: 'write',
      timeoutMs: 100,
      ownerId: h.ownerId,
    });
    const readErr = expectError(await r.call('readLock', 100));
    expect(readErr).toMatchObject({ name: 'LockTimeoutError', mode: 'read', ownerId: h.ownerId });
    expect(Array.from(i32)).toEqual([WRITER_HELD, h.ownerId, 0, 0]);

    expect(await h.ok('writeUnlock')).toBeNull();
    expect(await w.ok('writeLock', 5_000)).toBeNull();
    expect(lock.ownerId).toBe(w.ownerId);
    expect(await w.ok('writeUnlock')).toBeNull();
    expect(await r.ok('readLock', 5_000)).toBeNull();
    expect(await h.ok('readLock', 5_000)).toBeNull();
    expect(lock.readers).toBe(2);
    expect(await r.ok('readUnlock')).toBeNull();
    expect(await h.ok('readUnlock')).toBeNull();
    expect(Array.from(i32)).toEqual([0, 0, 0, 0]);
  });

  it('wakes the readers a timed-out writer was holding back', async () => {
    const { i32, a, c, writer } = await readerThenWriter(2_000);
    // C waits far longer than this test may run: only W's give-up notify can let it in.
    const reader = track(c.call('readLock', 60_000));
    await until(() => Atomics.load(i32, SLEEPERS) === 2, 'writer and reader parked');
    expect(expectError(await writer.promise)).toMatchObject({ mode: 'write', ownerId: 0 });
    expectOk(await reader.promise);
    expect(Array.from(i32)).toEqual([2, 0, 0, 0]);
    expect(await a.ok('readUnlock')).toBeNull();
    expect(await c.ok('readUnlock')).toBeNull();
    expect(Array.from(i32)).toEqual([0, 0, 0, 0]);
  });

  it('rejects misuse from workers: self-deadlock, unlocking a lock held elsewhere', async () => {
    const { sab, i32, lock } = newLock();
    const [h] = (await lockThreads(sab, 1)) as [LockThread];
    expect(await h.ok('writeLock', 1_000)).toBeNull();
    expect(expectError(await h.call('writeLock', 1_000))).toMatchObject({
      name: 'LockUsageError',
      code: 'lock_usage',
    });
    expect(expectError(await h.call('readLock', 1_000))).toMatchObject({ name: 'LockUsageError' });
    expect(() => lock.writeUnlock()).toThrow(LockUsageError);
    expect(Array.from(i32)).toEqual([WRITER_HELD, h.ownerId, 0, 0]);
    expect(await h.ok('writeUnlock')).toBeNull();
    expect(expectError(await h.call('writeUnlock'))).toMatchObject({ name: 'LockUsageError' });
    expect(Array.from(i32)).toEqual([0, 0, 0, 0]);
  });

  it('lets the main thread wait asynchronously for a worker-held lock', async () => {
    const { sab, i32, lock } = newLock();
    const [h] = (await lockThreads(sab, 1)) as [LockThread];

    // Read waits for a worker's write lock.
    expect(await h.ok('writeLock', 5_000)).toBeNull();
    const read = track(lock.readLockAsync(30_000));
    await until(() => Atomics.load(i32, SLEEPERS) === 1, 'main thread parked');
    expect(read.settled()).toBe(false);
    expect(await h.ok('writeUnlock')).toBeNull();
    await read.promise;
    expect(lock.readers).toBe(1);
    expect(await h.ok('tryWrite')).toBe(false);
    lock.readUnlock();

    // Write waits for a worker's read lock, and announces itself meanwhile.
    expect(await h.ok('readLock', 5_000)).toBeNull();
    const write = track(lock.writeLockAsync(30_000));
    await until(() => Atomics.load(i32, SLEEPERS) === 1, 'main thread parked');
    expect(lock.writersWaiting).toBe(1);
    expect(await h.ok('tryRead')).toBe(false);
    expect(write.settled()).toBe(false);
    expect(await h.ok('readUnlock')).toBeNull();
    await write.promise;
    expect(lock.isWriteLocked).toBe(true);
    expect(lock.ownerId).toBe(currentLockOwnerId());
    // A worker waiting asynchronously is woken by the main thread's release.
    const workerRead = track(h.call('readLockAsync', 30_000));
    await until(() => Atomics.load(i32, SLEEPERS) === 1, 'worker parked');
    lock.writeUnlock();
    expectOk(await workerRead.promise);
    expect(await h.ok('readUnlock')).toBeNull();

    // Timeouts reject with LockTimeoutError and leave the lock as it was.
    expect(await h.ok('writeLock', 5_000)).toBeNull();
    await expect(lock.readLockAsync(50)).rejects.toMatchObject({
      name: 'LockTimeoutError',
      mode: 'read',
      ownerId: h.ownerId,
    });
    await expect(lock.writeLockAsync(50)).rejects.toMatchObject({
      name: 'LockTimeoutError',
      mode: 'write',
      ownerId: h.ownerId,
    });
    expect(Array.from(i32)).toEqual([WRITER_HELD, h.ownerId, 0, 0]);
    if (isMainThread) expect(() => lock.readLock(1_000)).toThrow(LockUsageError);
    expect(await h.ok('writeUnlock')).toBeNull();
    expect(Array.from(i32)).toEqual([0, 0, 0, 0]);
  });
});
