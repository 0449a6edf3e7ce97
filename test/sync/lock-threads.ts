import { setTimeout as delay } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { afterEach } from 'vitest';
import {
  DeadlockDetector,
  type DeadlockDetectorOptions,
} from '../../src/sync/deadlock-detector.js';
import { LockRegistry, type LockRegistryOptions } from '../../src/sync/lock-registry.js';
import { RWLOCK_WORDS, RwLock } from '../../src/sync/rwlock.js';
import { watchLockOwner } from '../../src/sync/thread-exit.js';
import type { LockCommand, LockOp, LockWorkerInput } from '../fixtures/lock-protocol.js';
import type { WireError, WireReply } from '../fixtures/wire-error.js';

/** Test support: registered locks shared with command-driven worker threads. */

/** A wait deadline far longer than any test may run: only the code under test can end it. */
export const FOREVER = 60_000;

const WORKER_URL = new URL('../fixtures/lock-worker.js', import.meta.url);

export interface LockSet {
  registrySab: SharedArrayBuffer;
  locksSab: SharedArrayBuffer;
  i32: Int32Array;
  ids: number[];
  /** This (main) thread's registry view. */
  registry: LockRegistry;
  /** Registered views of the locks on this thread (the detector and recovery use them). */
  locks: RwLock[];
  /** The words of lock k. */
  words(k: number): number[];
  /** Every lock's words are 0. */
  allClean(): boolean;
}

export function lockSet(
  ids: number[],
  checked = false,
  options: LockRegistryOptions = {},
): LockSet {
  const registrySab = LockRegistry.createBuffer({ threads: 16, checked });
  const locksSab = new SharedArrayBuffer(ids.length * RWLOCK_WORDS * 4);
  const i32 = new Int32Array(locksSab);
  const registry = new LockRegistry(registrySab, options);
  const locks = ids.map((id, k) => RwLock.init(i32, RWLOCK_WORDS * k, { id, registry }));
  return {
    registrySab,
    locksSab,
    i32,
    ids,
    registry,
    locks,
    words: (k) => Array.from(i32.subarray(RWLOCK_WORDS * k, RWLOCK_WORDS * (k + 1))),
    allClean: () => i32.every((x) => x === 0),
  };
}

/** A worker that runs lock operations on request; `call` never rejects. */
export class LockWorker {
  readonly worker: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, (reply: WireReply) => void>();
  exited = false;
  /** Lock-owner id: threadId + 1 (kept: a terminated Worker's threadId reads -1). */
  readonly ownerId: number;
  /** Called with the owner id the thread announced, once the thread has stopped. */
  onGone: ((ownerId: number) => void) | null = null;

  constructor(set: LockSet, checked = false) {
    const input: LockWorkerInput = {
      registry: set.registrySab,
      locks: set.locksSab,
      ids: set.ids,
      checked,
    };
    this.worker = new Worker(WORKER_URL, { workerData: input });
    this.ownerId = this.worker.threadId + 1;
    this.worker.on('message', (reply: WireReply) => {
      if (watchLockOwner(reply, (id) => this.onGone?.(id))) return;
      this.pending.get(reply.id)?.(reply);
      this.pending.delete(reply.id);
    });
    const die = (error: WireError): void => {
      this.exited = true;
      for (const [id, settle] of this.pending) settle({ id, ok: false, error });
      this.pending.clear();
    };
    this.worker.on('error', (e) => die({ name: e.name, message: e.message }));
    this.worker.on('exit', (code) => die({ name: 'WorkerExit', message: `exit ${code}` }));
  }

  call(op: LockOp): Promise<WireReply> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.worker.postMessage({ id, ...op } as LockCommand);
    });
  }

  async ok(op: LockOp): Promise<boolean | number | null> {
    const reply = await this.call(op);
    if (!reply.ok) {
      throw new Error(`expected success, got ${reply.error.name}: ${reply.error.message}`);
    }
    return reply.value;
  }

  async fails(op: LockOp): Promise<WireError> {
    const reply = await this.call(op);
    if (reply.ok) throw new Error(`expected an error, got success (${String(reply.value)})`);
    return reply.error;
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}

/** Starts `n` workers and waits until each answers. */
export async function lockWorkers(set: LockSet, n: number, checked = false): Promise<LockWorker[]> {
  const workers = Array.from({ length: n }, () => new LockWorker(set, checked));
  for (const w of workers) {
    const id = await w.ok({ op: 'whoami' });
    if (id !== w.ownerId) throw new Error(`worker says it is ${String(id)}, not ${w.ownerId}`);
  }
  return workers;
}

/** A test file's lock threads and detectors: whatever a test starts is stopped after it. */
export interface LockThreads {
  /** Starts `n` workers on `set` (see `lockWorkers`); terminated after the test. */
  workers(set: LockSet, n: number, checked?: boolean): Promise<LockWorker[]>;
  /** Starts a deadlock detector on `set`'s registry; stopped after the test. */
  detector(set: LockSet, options: DeadlockDetectorOptions): DeadlockDetector;
}

/** Call at the top of a test file: registers the clean-up after each test. */
export function useLockThreads(): LockThreads {
  const live: LockWorker[] = [];
  const detectors: DeadlockDetector[] = [];
  afterEach(async () => {
    for (const d of detectors.splice(0)) d.stop();
    await Promise.all(live.splice(0).map((w) => w.terminate()));
  });
  return {
    async workers(set, n, checked) {
      const ws = await lockWorkers(set, n, checked);
      live.push(...ws);
      return ws;
    },
    detector(set, options) {
      const detector = new DeadlockDetector(set.registry, options).start();
      detectors.push(detector);
      return detector;
    },
  };
}

/** Polls `pred` (without blocking the event loop) until it holds; fails after a bound. */
export async function until(pred: () => boolean, what: string, boundMs = 10_000): Promise<void> {
  const deadline = performance.now() + boundMs;
  while (!pred()) {
    if (performance.now() > deadline) throw new Error(`gave up waiting for: ${what}`);
    await delay(2);
  }
}

/** Tracks whether a promise has settled, without awaiting it. */
export function track<T>(p: Promise<T>): { promise: Promise<T>; settled: () => boolean } {
  let done = false;
  const promise = p.finally(() => {
    done = true;
  });
  return { promise, settled: () => done };
}
