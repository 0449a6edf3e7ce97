import { LockOrderError, LockUsageError } from './lock-errors.js';
import { describeLock, LockKind, lockClassIndex, lockKindOf, lockRank } from './lock-ids.js';
import { type LockStats, STATS_WORDS, StatsRecorder, sumStats } from './lock-stats.js';
import { atomicsMemory, type LockMemory } from './memory.js';

/**
 * The lock registry: one SharedArrayBuffer in which every thread records the locks it holds
 * and the one it waits for, so that any thread can see the whole picture (the deadlock
 * detector, long-wait reports, and the supervisor that recovers the locks of a dead worker).
 * It also carries the contention metrics (`lock-stats.ts`), in each thread's record so that
 * threads never write to a shared cache line on the fast path.
 *
 * One `LockRegistry` object per thread views the shared buffer; `RwLock`s built with
 * `{ id, registry }` update it on every acquire, wait and release.
 *
 * # Buffer layout (Int32 words)
 *
 * | words        | content                                                              |
 * |--------------|----------------------------------------------------------------------|
 * | 0            | MAGIC `0x4c4b5247`                                                   |
 * | 1            | capacity: number of thread records                                   |
 * | 2            | flags: bit 0 = checked mode                                          |
 * | 3            | registrations refused because every record was in use               |
 * | 4–5          | epoch: float64, `performance.timeOrigin + now()` at creation (ms)    |
 * | 6–7          | coarse clock: float64 registry time of the latest clock reading by  |
 * |              | any thread (sampled acquires, waits, detector scans)                |
 * | 16 …         | `capacity` thread records of `RECORD_WORDS` words                    |
 *
 * # Thread record (`RECORD_WORDS` words; written only by its thread, except where noted)
 *
 * | word   | field      | meaning                                                           |
 * |--------|------------|-------------------------------------------------------------------|
 * | 0      | OWNER      | owner id (`threadId + 1`) of the thread using it; 0 free; −id while |
 * |        |            | the supervisor recovers a dead thread's locks                      |
 * | 1      | OVERFLOW   | holdings not recorded because all entries were in use              |
 * | 2      | WAIT_LOCK  | id of the lock the thread waits for, 0 when not waiting            |
 * | 3      | WAIT_MODE  | bit 0 write, bit 1 async (the thread is not blocked), bit 2 the    |
 * |        |            | writer has announced itself (its count is in the lock's STATE)     |
 * | 4      | WAIT_SEQ   | number of the current / last wait; bumped when a wait starts       |
 * | 5      | VICTIM     | set by the detector to WAIT_SEQ to fail that wait                  |
 * | 8–9    | WAIT_SINCE | float64 ms since the epoch when the wait started                   |
 * | 16 + 4k| entry k    | `k < 8`: LOCK (id), PHASE (below), SINCE (float64 ms since epoch)  |
 * | 48 …   | STATS      | this record's contention counters (`lock-stats.ts`); they keep   |
 * |        |            | counting across the threads that use the record in turn          |
 *
 * Entry PHASE = `gen << 4 | write << 2 | phase`, phase 0 FREE, 1 ACQUIRING (published before
 * the compare-exchange that may take the lock), 2 HELD, 3 RELEASING (published before the
 * read-modify-write that releases it). ACQUIRING and FREE are `Atomics.store`s (live
 * readers depend on their order with the lock word); HELD and RELEASING are plain stores,
 * because they are inside the critical section and only recovery, after the thread's exit,
 * depends on them. `gen` changes each time the entry is reused, so two
 * equal reads of a PHASE word mean the entry did not change in between.
 *
 * # Why the phases
 *
 * `worker.terminate()` can stop a thread between any two of its shared-memory operations
 * (we measured it stopping between two consecutive `Atomics.store`s), so no lock-word
 * change can be made atomic with its bookkeeping. Instead every change to a lock word
 * happens inside an interval during which the thread's record shows it is involved with
 * that lock: an entry in ACQUIRING / RELEASING (or the wait record) brackets each
 * compare-exchange, announce, park and release. A dead thread's record therefore tells the
 * supervisor exactly which locks it may have touched; `recovery.ts` resolves what it
 * cannot know for certain (did that last compare-exchange happen?) from the lock words.
 * The writer side is exact: a registered writer stores its record's tag (index + 1) in the
 * low 16 bits of STATE when it takes the lock (see `rwlock.ts`).
 */

export const REGISTRY_MAGIC = 0x4c4b5247;
export const MAX_HELD = 8;
export const R_STATS = 48;
export const RECORD_WORDS = R_STATS + STATS_WORDS;
export const RECORDS_AT = 16;
const H_MAGIC = 0;
const H_CAPACITY = 1;
const H_FLAGS = 2;
const H_REFUSED = 3;
const H_EPOCH = 4;
const H_CLOCK = 6;
const FLAG_CHECKED = 1;

export const R_OWNER = 0;
export const R_OVERFLOW = 1;
export const R_WAIT_LOCK = 2;
export const R_WAIT_MODE = 3;
export const R_WAIT_SEQ = 4;
export const R_VICTIM = 5;
export const R_WAIT_SINCE = 8;
export const R_ENTRIES = 16;
export const E_LOCK = 0;
export const E_PHASE = 1;
export const E_SINCE = 2;
export const ENTRY_WORDS = 4;

export const WAIT_WRITE = 1;
export const WAIT_ASYNC = 2;
export const WAIT_ANNOUNCED = 4;

export const PHASE_MASK = 3;
export const FREE = 0;
export const ACQUIRING = 1;
export const HELD = 2;
export const RELEASING = 3;
export const PHASE_WRITE = 4;
export const GEN_ONE = 16;
export const GEN_MASK = 0x7ffffff0;

/** Largest number of records a registry may have: tags must fit the 16-bit readers field. */
export const MAX_RECORDS = 0xffff;

export interface RegistryBufferOptions {
  /** Number of thread records: every thread that uses a registered lock needs one. */
  threads?: number;
  /** Checked mode for every thread (a thread may still override it). */
  checked?: boolean;
}

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

/** A lock a thread holds (or is acquiring or releasing), as read from its record. */
export interface HeldLockInfo {
  lockId: number;
  mode: 'read' | 'write';
  phase: 'acquiring' | 'held' | 'releasing';
  /** Registry clock (ms since the registry's epoch) when the attempt or hold began. */
  since: number;
}

/** The lock a thread waits for, as read from its record. */
export interface WaitInfo {
  lockId: number;
  mode: 'read' | 'write';
  /** An async (`…Async`) wait: the thread itself is not blocked. */
  async: boolean;
  /** A writer whose announcement is in the lock word (it holds new readers back). */
  announced: boolean;
  /** Number of this wait; with the owner id it names one wait. */
  seq: number;
  /** Registry clock when the wait started. */
  since: number;
  /** The deadlock detector has asked this wait to fail. */
  victim: boolean;
}

/** One thread record, read without stopping its thread. */
export interface ThreadLockState {
  ownerId: number;
  /** Record index; the record's tag is `record + 1`. */
  record: number;
  /** The supervisor is recovering this (dead) thread's locks. */
  dead: boolean;
  /** Holdings that did not fit the record. */
  overflow: number;
  held: HeldLockInfo[];
  waiting: WaitInfo | null;
  /** Raw words that change whenever the record changes (for stability checks). */
  fingerprint: string;
}

/** Anything with a lock id that wants to be found by id (RwLock). */
export interface RegisteredLock {
  readonly id: number;
  readonly i32: Int32Array;
  readonly base: number;
}

/**
 * Per-thread, per-buffer state of the thread that uses the registry: which record it owns
 * and a private copy of its entries (so the owner never has to read its own record back).
 */
class ThreadSide {
  record = -1;
  at = -1;
  readonly ids = new Int32Array(MAX_HELD);
  readonly words = new Int32Array(MAX_HELD);
  /** Thread-clock time each entry was published if its hold is timed, else NaN. */
  readonly times = new Float64Array(MAX_HELD);
  /** Acquires since the last timed one (the first acquire of a thread is timed). */
  ticks = Number.MAX_SAFE_INTEGER;
  /** Sequence number of the recorded wait, 0 when none is recorded. */
  waitSeq = 0;
  lastSeq = 0;
  /** Number of entries not FREE. */
  used = 0;
  /** Counters of this thread's record (null until it has one, or when explored). */
  stats: StatsRecorder | null = null;
  /** This thread's registered lock views, by id. */
  readonly directory = new Map<number, RegisteredLock>();
}

const sides = new WeakMap<SharedArrayBuffer, ThreadSide>();

export class LockRegistry {
  readonly sab: SharedArrayBuffer;
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  readonly capacity: number;
  readonly checked: boolean;
  readonly timing: boolean;
  readonly holdSampleEvery: number;
  readonly m: LockMemory;
  readonly recordsAt: number;
  /** Milliseconds to add to this thread's `m.now()` to get registry time. */
  private readonly clockOffset: number;
  private readonly side: ThreadSide;
  /** Whether this thread counts contention metrics (not when the explorer drives it). */
  private readonly counting: boolean;

  /** Creates and formats a registry buffer; hand it to every thread. */
  static createBuffer(options: RegistryBufferOptions = {}): SharedArrayBuffer {
    const threads = options.threads ?? 256;
    if (!Number.isInteger(threads) || threads < 1 || threads > MAX_RECORDS) {
      throw new RangeError(`threads must be an integer in 1..${MAX_RECORDS}`);
    }
    const sab = new SharedArrayBuffer((RECORDS_AT + threads * RECORD_WORDS) * 4);
    const i32 = new Int32Array(sab);
    i32[H_CAPACITY] = threads;
    i32[H_FLAGS] = options.checked === true ? FLAG_CHECKED : 0;
    const f64 = new Float64Array(sab);
    f64[H_EPOCH / 2] = performance.timeOrigin + performance.now();
    f64[H_CLOCK / 2] = 0;
    Atomics.store(i32, H_MAGIC, REGISTRY_MAGIC);
    return sab;
  }

  constructor(sab: SharedArrayBuffer, options: LockRegistryOptions = {}) {
    this.sab = sab;
    this.i32 = new Int32Array(sab);
    this.f64 = new Float64Array(sab, 0, Math.floor(sab.byteLength / 8));
    if (Atomics.load(this.i32, H_MAGIC) !== REGISTRY_MAGIC) {
      throw new TypeError('not a lock registry buffer (use LockRegistry.createBuffer)');
    }
    this.capacity = this.i32[H_CAPACITY]!;
    this.recordsAt = RECORDS_AT;
    this.checked = options.checked ?? (this.i32[H_FLAGS]! & FLAG_CHECKED) !== 0;
    this.timing = options.timing ?? true;
    const every = options.holdSampleEvery ?? 8;
    if (!Number.isInteger(every) || every < 1) {
      throw new RangeError(`holdSampleEvery must be an integer >= 1, got ${String(every)}`);
    }
    this.holdSampleEvery = every;
    this.m = options.memory ?? atomicsMemory;
    const origin = options.timeOrigin ?? performance.timeOrigin;
    this.clockOffset = origin - this.f64[H_EPOCH / 2]!;
    if (options.memory === undefined) {
      // All registries of this thread over one buffer share the thread's record.
      let side = sides.get(sab);
      if (side === undefined) {
        side = new ThreadSide();
        sides.set(sab, side);
      }
      this.side = side;
      this.counting = true;
    } else {
      this.side = new ThreadSide();
      this.counting = false;
    }
  }

  /** This thread's contention counters (null before its first acquire, or when explored). */
  get stats(): StatsRecorder | null {
    return this.side.stats;
  }

  /**
   * Publishes this thread's counts now (they are otherwise published at least every
   * `PUBLISH_EVERY` acquisitions): before reading them on the same thread, or at shutdown.
   */
  publishStats(): void {
    this.side.stats?.publish();
  }

  /** Owner id of the thread this object serves. */
  get ownerId(): number {
    return this.m.ownerId;
  }

  /** Registry clock: ms since the registry's epoch, comparable across threads. */
  now(): number {
    return this.m.now() + this.clockOffset;
  }

  /** Converts a reading of this thread's `m.now()` to registry time. */
  toRegistryTime(threadNow: number): number {
    return threadNow + this.clockOffset;
  }

  /** Registry time of the latest clock reading by any thread (see `holdSampleEvery`). */
  get coarseNow(): number {
    return this.f64[H_CLOCK / 2]!;
  }

  /** Reads the clock and publishes it as the coarse clock; returns registry time. */
  tick(): number {
    const t = this.now();
    this.f64[H_CLOCK / 2] = t;
    return t;
  }

  // ---------------------------------------------------------------------------------------
  // Directory: lock views of this thread, by id (the detector notifies through them, the
  // supervisor releases through them). Shared by every registry object of this thread over
  // the same buffer.

  /** Makes `lock` findable by its id in this thread (RwLock does it when constructed). */
  attach(lock: RegisteredLock): void {
    this.side.directory.set(lock.id, lock);
  }

  lookup(id: number): RegisteredLock | undefined {
    return this.side.directory.get(id);
  }

  // ---------------------------------------------------------------------------------------
  // The calling thread's record.

  /** This thread's record tag (record index + 1), claiming a record on first use. */
  get tag(): number {
    const side = this.side;
    if (side.record < 0) this.claim();
    return side.record + 1;
  }

  private claim(): void {
    const m = this.m;
    const me = m.ownerId;
    for (let r = 0; r < this.capacity; r++) {
      const at = this.recordsAt + r * RECORD_WORDS;
      if (m.load(this.i32, at + R_OWNER) === 0 && m.cas(this.i32, at + R_OWNER, 0, me) === 0) {
        this.side.record = r;
        this.side.at = at;
        if (this.counting) this.side.stats = new StatsRecorder(this.statsBlock(r));
        return;
      }
    }
    m.add(this.i32, H_REFUSED, 1);
    throw new LockUsageError(
      `lock registry full: all ${this.capacity} thread records are in use ` +
        '(the supervisor must call releaseAllHeldBy for threads that exit)',
    );
  }

  /**
   * Checked mode: throws `LockOrderError` if this thread may not take lock `id` now.
   * `waits`: the call may wait (blocking or async form), not a try.
   */
  checkOrder(id: number, waits: boolean, op: string): void {
    if (!this.checked) return;
    const side = this.side;
    const rank = lockRank(id);
    for (let k = 0; k < MAX_HELD; k++) {
      if ((side.words[k]! & PHASE_MASK) !== HELD) continue;
      const heldId = side.ids[k]!;
      if (heldId === id) {
        throw new LockOrderError(
          'reentrant',
          id,
          heldId,
          `${op}: this thread already holds ${describeLock(id)}`,
        );
      }
      const heldRank = lockRank(heldId);
      if (rank !== 0 && heldRank !== 0 && rank <= heldRank) {
        throw new LockOrderError(
          'rank',
          id,
          heldId,
          `${op}: ${describeLock(id)} (rank ${rank}) taken while holding ${describeLock(heldId)} ` +
            `(rank ${heldRank}); locks must be taken in increasing rank: cache, context, arena`,
        );
      }
      if (waits && lockKindOf(heldId) === LockKind.Cache && lockKindOf(id) === LockKind.Context) {
        throw new LockOrderError(
          'cache-across-wait',
          id,
          heldId,
          `${op}: waiting for ${describeLock(id)} while holding ${describeLock(heldId)}; ` +
            'the cache lock is never held across a context wait (use tryRead/tryWrite)',
        );
      }
    }
  }

  /**
   * Publishes an ACQUIRING entry for lock `id`, before the compare-exchange that may take
   * it. Returns the entry index, or -1 if all entries are in use (the holding is then
   * counted in OVERFLOW and cannot be recovered if the thread dies: checked mode throws).
   */
  beginAcquire(id: number, write: boolean): number {
    const side = this.side;
    if (side.record < 0) this.claim();
    const m = this.m;
    let k = 0;
    while (k < MAX_HELD && (side.words[k]! & PHASE_MASK) !== FREE) k++;
    if (k === MAX_HELD) {
      if (this.checked) {
        throw new LockUsageError(
          `a thread may hold at most ${MAX_HELD} registered locks at once (taking ${describeLock(id)})`,
        );
      }
      m.add(this.i32, side.at + R_OVERFLOW, 1);
      return -1;
    }
    const at = side.at + R_ENTRIES + k * ENTRY_WORDS;
    let since: number;
    if (this.timing && side.ticks++ >= this.holdSampleEvery - 1) {
      side.ticks = 0;
      const t = m.now();
      side.times[k] = t;
      since = t + this.clockOffset;
      // Refresh the shared coarse clock, but not more than once a millisecond (its cache line
      // is shared by every thread).
      if (since - this.f64[H_CLOCK / 2]! > 1) this.f64[H_CLOCK / 2] = since;
    } else {
      side.times[k] = Number.NaN;
      since = this.f64[H_CLOCK / 2]!;
    }
    const word = ((side.words[k]! + GEN_ONE) & GEN_MASK) | (write ? PHASE_WRITE : 0) | ACQUIRING;
    side.words[k] = word;
    side.used++;
    // Only this thread writes its record, so an unchanged id need not be stored again.
    if (side.ids[k] !== id) {
      side.ids[k] = id;
      m.storePlain(this.i32, at + E_LOCK, id); // ordered by the PHASE store below
    }
    this.f64[(at + E_SINCE) / 2] = since;
    m.store(this.i32, at + E_PHASE, word);
    return k;
  }

  /** The compare-exchange succeeded: entry `k` now holds the lock. */
  acquired(k: number, _id: number): void {
    if (k < 0) return;
    const side = this.side;
    const word = (side.words[k]! & ~PHASE_MASK) | HELD;
    side.words[k] = word;
    // A plain store (it is inside the critical section): ACQUIRING → HELD changes nothing for
    // reconciliation (both mean "involved"), recovery reads it after the thread has exited
    // (which orders all its writes), and the detector only trusts what stays put.
    this.m.storePlain(this.i32, side.at + R_ENTRIES + k * ENTRY_WORDS + E_PHASE, word);
  }

  /** The attempt failed (try-lock refused, timeout, deadlock): entry `k` is free again. */
  cancelAcquire(k: number): void {
    if (k < 0) {
      this.m.sub(this.i32, this.side.at + R_OVERFLOW, 1);
      return;
    }
    this.freeEntry(k);
  }

  /**
   * The entry of a lock this thread holds in `write` mode, or -1 if none is recorded: then
   * `untracked` tells whether the holding may be one that overflowed.
   */
  findHeld(id: number, write: boolean): number {
    const side = this.side;
    const want = (write ? PHASE_WRITE : 0) | HELD;
    for (let k = MAX_HELD - 1; k >= 0; k--) {
      if (side.ids[k] === id && (side.words[k]! & (PHASE_WRITE | PHASE_MASK)) === want) return k;
    }
    return -1;
  }

  /** Whether this thread has holdings that were not recorded (entries were full). */
  get untracked(): boolean {
    const side = this.side;
    return side.record >= 0 && this.m.load(this.i32, side.at + R_OVERFLOW) > 0;
  }

  /** Marks entry `k` RELEASING, before the read-modify-write that releases the lock. */
  releasing(k: number): void {
    const side = this.side;
    const word = (side.words[k]! & ~PHASE_MASK) | RELEASING;
    side.words[k] = word;
    // Plain, like HELD: it only matters to recovery, after the thread's exit.
    this.m.storePlain(this.i32, side.at + R_ENTRIES + k * ENTRY_WORDS + E_PHASE, word);
  }

  /** A release of entry `k` was refused after `releasing(k)`: it is HELD again. */
  stillHeld(k: number): void {
    const side = this.side;
    const word = (side.words[k]! & ~PHASE_MASK) | HELD;
    side.words[k] = word;
    this.m.storePlain(this.i32, side.at + R_ENTRIES + k * ENTRY_WORDS + E_PHASE, word);
  }

  /** The lock of entry `k` is released (k = -1: an overflowed holding). */
  released(k: number, id: number): void {
    const stats = this.side.stats;
    // Acquisitions are counted here, after the release, to keep the count out of the
    // critical section.
    if (stats !== null) stats.acquired(lockClassIndex(id));
    if (k < 0) {
      this.m.sub(this.i32, this.side.at + R_OVERFLOW, 1);
      return;
    }
    const t0 = this.side.times[k]!;
    if (stats !== null && !Number.isNaN(t0)) stats.held(lockClassIndex(id), this.m.now() - t0);
    this.freeEntry(k);
  }

  private freeEntry(k: number): void {
    const side = this.side;
    const word = side.words[k]! & ~(PHASE_MASK | PHASE_WRITE);
    side.words[k] = word;
    side.used--;
    this.m.store(this.i32, side.at + R_ENTRIES + k * ENTRY_WORDS + E_PHASE, word);
  }

  /**
   * Publishes the wait record; returns its sequence number, or 0 if the wait is not recorded
   * (an async wait while another wait of this thread is recorded).
   */
  beginWait(id: number, write: boolean, async: boolean, threadNow: number): number {
    const side = this.side;
    if (side.record < 0) this.claim();
    const m = this.m;
    const at = side.at;
    if (async && side.waitSeq !== 0) return 0;
    const seq = (side.lastSeq + 1) & 0x7fffffff || 1;
    side.lastSeq = seq;
    side.waitSeq = seq;
    m.store(this.i32, at + R_WAIT_MODE, (write ? WAIT_WRITE : 0) | (async ? WAIT_ASYNC : 0));
    const since = threadNow + this.clockOffset;
    this.f64[(at + R_WAIT_SINCE) / 2] = since;
    if (since - this.f64[H_CLOCK / 2]! > 1) this.f64[H_CLOCK / 2] = since;
    m.store(this.i32, at + R_WAIT_SEQ, seq);
    m.store(this.i32, at + R_WAIT_LOCK, id);
    return seq;
  }

  /** The waiting writer's announcement is now in the lock word. */
  announced(seq: number, async: boolean): void {
    if (seq === 0 || this.side.waitSeq !== seq) return;
    const mode = WAIT_WRITE | WAIT_ANNOUNCED | (async ? WAIT_ASYNC : 0);
    this.m.store(this.i32, this.side.at + R_WAIT_MODE, mode);
  }

  /** Whether the detector asked wait `seq` to fail. A shared-memory load. */
  aborted(seq: number): boolean {
    return seq !== 0 && this.m.load(this.i32, this.side.at + R_VICTIM) === seq;
  }

  /** Retracts wait record `seq` (and any victim mark aimed at it). */
  endWait(seq: number): void {
    if (seq === 0 || this.side.waitSeq !== seq) return;
    const m = this.m;
    const at = this.side.at;
    m.store(this.i32, at + R_WAIT_LOCK, 0);
    m.cas(this.i32, at + R_VICTIM, seq, 0);
    this.side.waitSeq = 0;
  }

  // ---------------------------------------------------------------------------------------
  // Reading records (any thread).

  /** Record index of a live or dead thread, or -1. */
  recordOf(ownerId: number): number {
    const m = this.m;
    for (let r = 0; r < this.capacity; r++) {
      const owner = m.load(this.i32, this.recordsAt + r * RECORD_WORDS + R_OWNER);
      if (owner === ownerId || owner === -ownerId) return r;
    }
    return -1;
  }

  /** The counters of record `r`. */
  statsBlock(r: number): BigInt64Array {
    return new BigInt64Array(this.sab, (this.recordBase(r) + R_STATS) * 4, STATS_WORDS / 2);
  }

  /**
   * Contention metrics per lock class, summed over every record (so they include the
   * threads that have exited). Never blocks; any thread.
   */
  readStats(): LockStats {
    return sumStats(Array.from({ length: this.capacity }, (_, r) => this.statsBlock(r)));
  }

  /** Base word of record `r`. */
  recordBase(r: number): number {
    return this.recordsAt + r * RECORD_WORDS;
  }

  /** Reads record `r` (consistent per entry and per wait record); null if free. */
  readRecord(r: number): ThreadLockState | null {
    const m = this.m;
    const a = this.i32;
    const at = this.recordBase(r);
    const owner = m.load(a, at + R_OWNER);
    if (owner === 0) return null;
    const held: HeldLockInfo[] = [];
    const print: number[] = [owner];
    for (let k = 0; k < MAX_HELD; k++) {
      const e = at + R_ENTRIES + k * ENTRY_WORDS;
      for (let tries = 0; tries < 8; tries++) {
        const p1 = m.load(a, e + E_PHASE);
        if ((p1 & PHASE_MASK) === FREE) {
          print.push(p1);
          break;
        }
        const lockId = m.load(a, e + E_LOCK);
        const since = this.f64[(e + E_SINCE) / 2]!;
        if (m.load(a, e + E_PHASE) !== p1) continue;
        const phase = p1 & PHASE_MASK;
        held.push({
          lockId,
          mode: (p1 & PHASE_WRITE) !== 0 ? 'write' : 'read',
          phase: phase === ACQUIRING ? 'acquiring' : phase === HELD ? 'held' : 'releasing',
          since,
        });
        print.push(p1, lockId);
        break;
      }
    }
    let waiting: WaitInfo | null = null;
    for (let tries = 0; tries < 8; tries++) {
      const l1 = m.load(a, at + R_WAIT_LOCK);
      if (l1 === 0) break;
      const q1 = m.load(a, at + R_WAIT_SEQ);
      const mode = m.load(a, at + R_WAIT_MODE);
      const since = this.f64[(at + R_WAIT_SINCE) / 2]!;
      const victim = m.load(a, at + R_VICTIM);
      if (m.load(a, at + R_WAIT_LOCK) !== l1 || m.load(a, at + R_WAIT_SEQ) !== q1) continue;
      waiting = {
        lockId: l1,
        mode: (mode & WAIT_WRITE) !== 0 ? 'write' : 'read',
        async: (mode & WAIT_ASYNC) !== 0,
        announced: (mode & WAIT_ANNOUNCED) !== 0,
        seq: q1,
        since,
        victim: victim === q1,
      };
      print.push(l1, q1, mode);
      break;
    }
    return {
      ownerId: Math.abs(owner),
      record: r,
      dead: owner < 0,
      overflow: m.load(a, at + R_OVERFLOW),
      held,
      waiting,
      fingerprint: print.join(','),
    };
  }

  /** Every thread record in use. */
  snapshot(): ThreadLockState[] {
    const out: ThreadLockState[] = [];
    for (let r = 0; r < this.capacity; r++) {
      const s = this.readRecord(r);
      if (s !== null) out.push(s);
    }
    return out;
  }

  /** Owner ids of the threads with a record (live ones, and dead ones being recovered). */
  ownerIds(): number[] {
    const out: number[] = [];
    for (let r = 0; r < this.capacity; r++) {
      const owner = this.m.load(this.i32, this.recordBase(r) + R_OWNER);
      if (owner !== 0) out.push(Math.abs(owner));
    }
    return out;
  }

  /** The record of one thread, or undefined. */
  threadState(ownerId: number): ThreadLockState | undefined {
    const r = this.recordOf(ownerId);
    return r < 0 ? undefined : (this.readRecord(r) ?? undefined);
  }

  /** Registrations refused because the registry was full. */
  get refused(): number {
    return this.m.load(this.i32, H_REFUSED);
  }

  /**
   * Asks wait `seq` of the thread in record `r` to fail with `DeadlockError`, and wakes it.
   * Never blocks. Returns false if that wait is over.
   */
  signalVictim(r: number, seq: number, lockId: number): boolean {
    const m = this.m;
    const at = this.recordBase(r);
    if (m.load(this.i32, at + R_WAIT_SEQ) !== seq || m.load(this.i32, at + R_WAIT_LOCK) === 0) {
      return false;
    }
    m.store(this.i32, at + R_VICTIM, seq);
    // The wait may have ended (and another begun) in between: take the mark back. (A mark
    // left behind names a wait number that is over, so it fails no later wait.)
    if (m.load(this.i32, at + R_WAIT_SEQ) !== seq || m.load(this.i32, at + R_WAIT_LOCK) === 0) {
      m.cas(this.i32, at + R_VICTIM, seq, 0);
      return false;
    }
    this.wake(lockId);
    return true;
  }

  /** Notifies every thread parked on lock `id`'s state word (if this thread has a view). */
  wake(lockId: number): boolean {
    const lock = this.side.directory.get(lockId);
    if (lock === undefined) return false;
    this.m.notify(lock.i32, lock.base);
    return true;
  }
}

/** Contention metrics of the registry in `sab` (see `LockRegistry.readStats`). */
export function readLockStats(sab: SharedArrayBuffer): LockStats {
  return new LockRegistry(sab, { memory: atomicsMemory }).readStats();
}
