import type { LockStats } from './lock-stats.js';
import { atomicsMemory, type LockMemory } from './memory.js';
import { RegistryClock } from './registry-clock.js';
import {
  createRegistryBuffer,
  openRegistryBuffer,
  type RegistryBufferOptions,
  recordBase,
} from './registry-layout.js';
import { RegistryReader, type ThreadLockState } from './registry-reader.js';
import { RegistrySupervisor } from './registry-supervisor.js';
import { OwnRecord, RegistryWriter } from './registry-writer.js';

/**
 * The lock registry: one SharedArrayBuffer in which every thread records the locks it holds
 * and the one it waits for, so that any thread can see the whole picture (the deadlock
 * detector, long-wait reports, and the supervisor that recovers the locks of a dead worker).
 * It also carries the contention metrics (`lock-stats.ts`), in each thread's record so that
 * threads never write to a shared cache line on the fast path.
 *
 * One `LockRegistry` object per thread views the shared buffer; `RwLock`s built with
 * `{ id, registry }` update it on every acquire, wait and release. It is this thread's handle
 * on the parts, each in its own file:
 *
 * | part                    | file                     | what                                   |
 * |-------------------------|--------------------------|----------------------------------------|
 * | the buffer              | `registry-layout.ts`     | every word and bit, named              |
 * | `writer`                | `registry-writer.ts`     | this thread's record: the hot path     |
 * | `reader`                | `registry-reader.ts`     | reading any thread's record; metrics   |
 * | `supervisor`            | `registry-supervisor.ts` | victim marks, dead threads' records    |
 * | `clock`                 | `registry-clock.ts`      | registry time, shared across threads   |
 * | directory (`lookup`)    | here                     | this thread's lock views, by id        |
 */

export interface LockRegistryOptions {
  /** Lock-order checking for this thread; defaults to the buffer's flag. */
  checked?: boolean;
  /** Measure hold times (default true). False: no clock is read on the fast paths. */
  timing?: boolean;
  /**
   * Time one acquire+release in this many (default 8; 1 times every one). A timed hold
   * costs two clock reads (~60 ns each) and feeds the hold-time histogram; the others are
   * stamped with the registry's coarse clock, which is only as fresh as the latest clock
   * reading of any thread (the detector's scan refreshes it every interval).
   */
  holdSampleEvery?: number;
  /** Memory operations (default `atomicsMemory`); the schedule explorer passes its own. */
  memory?: LockMemory;
  /** `performance.timeOrigin` of this thread's clock (explorer: 0). */
  timeOrigin?: number;
}

/** Anything with a lock id that wants to be found by id (RwLock). */
export interface RegisteredLock {
  readonly id: number;
  readonly i32: Int32Array;
  readonly base: number;
}

/** What every registry object of one thread over one buffer shares. */
interface ThreadShared {
  own: OwnRecord;
  /** This thread's registered lock views, by id. */
  directory: Map<number, RegisteredLock>;
}

const shared = new WeakMap<SharedArrayBuffer, ThreadShared>();

export class LockRegistry {
  readonly sab: SharedArrayBuffer;
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  readonly capacity: number;
  readonly checked: boolean;
  readonly timing: boolean;
  readonly holdSampleEvery: number;
  readonly m: LockMemory;
  /** This thread's record, as `RwLock` updates it. */
  readonly writer: RegistryWriter;
  /** Every thread's record, read without stopping the threads. */
  readonly reader: RegistryReader;
  /** Writes to other threads' records (victim marks, recovery). */
  readonly supervisor: RegistrySupervisor;
  readonly clock: RegistryClock;
  private readonly directory: Map<number, RegisteredLock>;

  /** Creates and formats a registry buffer; hand it to every thread. */
  static createBuffer(options: RegistryBufferOptions = {}): SharedArrayBuffer {
    return createRegistryBuffer(options);
  }

  constructor(sab: SharedArrayBuffer, options: LockRegistryOptions = {}) {
    const buf = openRegistryBuffer(sab);
    this.sab = sab;
    this.i32 = buf.i32;
    this.f64 = buf.f64;
    this.capacity = buf.capacity;
    this.checked = options.checked ?? buf.checked;
    this.timing = options.timing ?? true;
    const every = options.holdSampleEvery ?? 8;
    if (!Number.isInteger(every) || every < 1) {
      throw new RangeError(`holdSampleEvery must be an integer >= 1, got ${String(every)}`);
    }
    this.holdSampleEvery = every;
    this.m = options.memory ?? atomicsMemory;
    this.clock = new RegistryClock(this.f64, this.m, options.timeOrigin ?? performance.timeOrigin);
    // All registries of this thread over one buffer share the thread's record; the explorer
    // gives each of its simulated threads its own.
    let thread: ThreadShared;
    if (options.memory === undefined) {
      thread = shared.get(sab) ?? { own: new OwnRecord(), directory: new Map() };
      shared.set(sab, thread);
    } else {
      thread = { own: new OwnRecord(), directory: new Map() };
    }
    this.directory = thread.directory;
    this.writer = new RegistryWriter(buf, this.m, this.clock, thread.own, {
      checked: this.checked,
      timing: this.timing,
      holdSampleEvery: every,
      counting: options.memory === undefined,
    });
    this.reader = new RegistryReader(buf, this.m);
    this.supervisor = new RegistrySupervisor(buf, this.m);
  }

  /**
   * Publishes this thread's counts now (they are otherwise published at least every
   * `PUBLISH_EVERY` acquisitions): before reading them on the same thread, or at shutdown.
   */
  publishStats(): void {
    this.writer.stats?.publish();
  }

  /** Owner id of the thread this object serves. */
  get ownerId(): number {
    return this.m.ownerId;
  }

  /** This thread's record tag (record index + 1), claiming a record on first use. */
  get tag(): number {
    return this.writer.tag;
  }

  /** Registry clock: ms since the registry's epoch, comparable across threads. */
  now(): number {
    return this.clock.now();
  }

  /** Registry time of the latest clock reading by any thread (see `holdSampleEvery`). */
  get coarseNow(): number {
    return this.clock.coarse;
  }

  /** Reads the clock and publishes it as the coarse clock; returns registry time. */
  tick(): number {
    return this.clock.tick();
  }

  // ---------------------------------------------------------------------------------------
  // Directory: lock views of this thread, by id (the detector notifies through them, the
  // supervisor releases through them). Shared by every registry object of this thread over
  // the same buffer.

  /** Makes `lock` findable by its id in this thread (RwLock does it when constructed). */
  attach(lock: RegisteredLock): void {
    this.directory.set(lock.id, lock);
  }

  lookup(id: number): RegisteredLock | undefined {
    return this.directory.get(id);
  }

  /** Notifies every thread parked on lock `id`'s state word (if this thread has a view). */
  wake(lockId: number): boolean {
    const lock = this.directory.get(lockId);
    if (lock === undefined) return false;
    this.m.notify(lock.i32, lock.base);
    return true;
  }

  /**
   * Asks wait `seq` of the thread in record `r` to fail with `DeadlockError`, and wakes it.
   * Never blocks. Returns false if that wait is over.
   */
  signalVictim(r: number, seq: number, lockId: number): boolean {
    if (!this.supervisor.markVictim(r, seq)) return false;
    this.wake(lockId);
    return true;
  }

  // ---------------------------------------------------------------------------------------
  // Reading records (any thread): the reader's answers most callers want.

  /** Every thread record in use. */
  snapshot(): ThreadLockState[] {
    return this.reader.snapshot();
  }

  /** The record of one thread, or undefined. */
  threadState(ownerId: number): ThreadLockState | undefined {
    return this.reader.threadState(ownerId);
  }

  /** Owner ids of the threads with a record (live ones, and dead ones being recovered). */
  ownerIds(): number[] {
    return this.reader.ownerIds();
  }

  /** Base word of record `r`. */
  recordBase(r: number): number {
    return recordBase(r);
  }

  /** Registrations refused because the registry was full. */
  get refused(): number {
    return this.reader.refused;
  }

  /** Contention metrics per lock class, summed over every record (see `RegistryReader`). */
  readStats(): LockStats {
    return this.reader.readStats();
  }
}

/** Contention metrics of the registry in `sab` (see `LockRegistry.readStats`). */
export function readLockStats(sab: SharedArrayBuffer): LockStats {
  return new LockRegistry(sab, { memory: atomicsMemory }).readStats();
}
