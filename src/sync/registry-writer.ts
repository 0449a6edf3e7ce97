import { LockOrderError, LockUsageError } from './lock-errors.js';
import { describeLock, LockKind, lockClassIndex, lockKindOf, lockRank } from './lock-ids.js';
import { StatsRecorder } from './lock-stats.js';
import type { LockMemory } from './memory.js';
import type { RegistryClock } from './registry-clock.js';
import {
  ACQUIRING,
  E_LOCK,
  E_PHASE,
  E_SINCE,
  entryBase,
  entryHolds,
  entryPhase,
  FREE,
  f64Index,
  freedEntry,
  H_REFUSED,
  HELD,
  MAX_HELD,
  nextWaitSeq,
  R_OVERFLOW,
  R_OWNER,
  R_VICTIM,
  R_WAIT_LOCK,
  R_WAIT_MODE,
  R_WAIT_SEQ,
  R_WAIT_SINCE,
  RELEASING,
  type RegistryBuffer,
  recordBase,
  reusedEntry,
  statsBlock,
  waitModeWord,
  withPhase,
} from './registry-layout.js';

/**
 * The hot path of the lock registry: what the calling thread records in its own record
 * (`registry-layout.ts`) around every acquire, wait and release of a registered `RwLock`,
 * and the lock-order check of checked mode. Only the owning thread writes these words; it
 * keeps a private copy of its entries so that it never reads its own record back.
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

/**
 * Per-thread, per-buffer state of the thread that uses the registry: which record it owns
 * and a private copy of its entries (so the owner never has to read its own record back).
 */
export class OwnRecord {
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
}

export interface RegistryWriterOptions {
  checked: boolean;
  timing: boolean;
  holdSampleEvery: number;
  /** Count contention metrics (not when the explorer drives the thread). */
  counting: boolean;
}

/** The calling thread's record, as `RwLock` updates it. */
export class RegistryWriter {
  readonly checked: boolean;
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  private readonly capacity: number;
  private readonly timing: boolean;
  private readonly holdSampleEvery: number;
  private readonly counting: boolean;

  constructor(
    private readonly buf: RegistryBuffer,
    readonly m: LockMemory,
    private readonly clock: RegistryClock,
    private readonly own: OwnRecord,
    options: RegistryWriterOptions,
  ) {
    this.i32 = buf.i32;
    this.f64 = buf.f64;
    this.capacity = buf.capacity;
    this.checked = options.checked;
    this.timing = options.timing;
    this.holdSampleEvery = options.holdSampleEvery;
    this.counting = options.counting;
  }

  /** This thread's contention counters (null before its first acquire, or when explored). */
  get stats(): StatsRecorder | null {
    return this.own.stats;
  }

  /** This thread's record tag (record index + 1), claiming a record on first use. */
  get tag(): number {
    const own = this.own;
    if (own.record < 0) this.claim();
    return own.record + 1;
  }

  private claim(): void {
    const m = this.m;
    const me = m.ownerId;
    for (let r = 0; r < this.capacity; r++) {
      const at = recordBase(r);
      if (m.load(this.i32, at + R_OWNER) === 0 && m.cas(this.i32, at + R_OWNER, 0, me) === 0) {
        this.own.record = r;
        this.own.at = at;
        if (this.counting) this.own.stats = new StatsRecorder(statsBlock(this.buf.sab, r));
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
    const own = this.own;
    const rank = lockRank(id);
    for (let k = 0; k < MAX_HELD; k++) {
      if (entryPhase(own.words[k]!) !== HELD) continue;
      const heldId = own.ids[k]!;
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
    const own = this.own;
    if (own.record < 0) this.claim();
    const m = this.m;
    let k = 0;
    while (k < MAX_HELD && entryPhase(own.words[k]!) !== FREE) k++;
    if (k === MAX_HELD) {
      if (this.checked) {
        throw new LockUsageError(
          `a thread may hold at most ${MAX_HELD} registered locks at once (taking ${describeLock(id)})`,
        );
      }
      m.add(this.i32, own.at + R_OVERFLOW, 1);
      return -1;
    }
    const at = entryBase(own.at, k);
    let since: number;
    if (this.timing && own.ticks++ >= this.holdSampleEvery - 1) {
      own.ticks = 0;
      const t = m.now();
      own.times[k] = t;
      since = this.clock.toRegistryTime(t);
      this.clock.advance(since);
    } else {
      own.times[k] = Number.NaN;
      since = this.clock.coarse;
    }
    const word = reusedEntry(own.words[k]!, write, ACQUIRING);
    own.words[k] = word;
    own.used++;
    // Only this thread writes its record, so an unchanged id need not be stored again.
    if (own.ids[k] !== id) {
      own.ids[k] = id;
      m.storePlain(this.i32, at + E_LOCK, id); // ordered by the PHASE store below
    }
    this.f64[f64Index(at + E_SINCE)] = since;
    m.store(this.i32, at + E_PHASE, word);
    return k;
  }

  /** The compare-exchange succeeded: entry `k` now holds the lock. */
  acquired(k: number, _id: number): void {
    if (k < 0) return;
    // A plain store (it is inside the critical section): ACQUIRING → HELD changes nothing for
    // reconciliation (both mean "involved"), recovery reads it after the thread has exited
    // (which orders all its writes), and the detector only trusts what stays put.
    this.storePhasePlain(k, HELD);
  }

  /** The attempt failed (try-lock refused, timeout, deadlock): entry `k` is free again. */
  cancelAcquire(k: number): void {
    if (k < 0) {
      this.m.sub(this.i32, this.own.at + R_OVERFLOW, 1);
      return;
    }
    this.freeEntry(k);
  }

  /**
   * The entry of a lock this thread holds in `write` mode, or -1 if none is recorded: then
   * `untracked` tells whether the holding may be one that overflowed.
   */
  findHeld(id: number, write: boolean): number {
    const own = this.own;
    for (let k = MAX_HELD - 1; k >= 0; k--) {
      if (own.ids[k] === id && entryHolds(own.words[k]!, write)) return k;
    }
    return -1;
  }

  /** Whether this thread has holdings that were not recorded (entries were full). */
  get untracked(): boolean {
    const own = this.own;
    return own.record >= 0 && this.m.load(this.i32, own.at + R_OVERFLOW) > 0;
  }

  /** Marks entry `k` RELEASING, before the read-modify-write that releases the lock. */
  releasing(k: number): void {
    // Plain, like HELD: it only matters to recovery, after the thread's exit.
    this.storePhasePlain(k, RELEASING);
  }

  /** A release of entry `k` was refused after `releasing(k)`: it is HELD again. */
  stillHeld(k: number): void {
    this.storePhasePlain(k, HELD);
  }

  /** The lock of entry `k` is released (k = -1: an overflowed holding). */
  released(k: number, id: number): void {
    const stats = this.own.stats;
    // Acquisitions are counted here, after the release, to keep the count out of the
    // critical section.
    if (stats !== null) stats.acquired(lockClassIndex(id));
    if (k < 0) {
      this.m.sub(this.i32, this.own.at + R_OVERFLOW, 1);
      return;
    }
    const t0 = this.own.times[k]!;
    if (stats !== null && !Number.isNaN(t0)) stats.held(lockClassIndex(id), this.m.now() - t0);
    this.freeEntry(k);
  }

  /** Moves entry `k` to `phase` with a plain store (HELD and RELEASING, see the layout). */
  private storePhasePlain(k: number, phase: number): void {
    const own = this.own;
    const word = withPhase(own.words[k]!, phase);
    own.words[k] = word;
    this.m.storePlain(this.i32, entryBase(own.at, k) + E_PHASE, word);
  }

  private freeEntry(k: number): void {
    const own = this.own;
    const word = freedEntry(own.words[k]!);
    own.words[k] = word;
    own.used--;
    this.m.store(this.i32, entryBase(own.at, k) + E_PHASE, word);
  }

  /**
   * Publishes the wait record; returns its sequence number, or 0 if the wait is not recorded
   * (an async wait while another wait of this thread is recorded).
   */
  beginWait(id: number, write: boolean, async: boolean, threadNow: number): number {
    const own = this.own;
    if (own.record < 0) this.claim();
    const m = this.m;
    const at = own.at;
    if (async && own.waitSeq !== 0) return 0;
    const seq = nextWaitSeq(own.lastSeq);
    own.lastSeq = seq;
    own.waitSeq = seq;
    m.store(this.i32, at + R_WAIT_MODE, waitModeWord(write, async, false));
    const since = this.clock.toRegistryTime(threadNow);
    this.f64[f64Index(at + R_WAIT_SINCE)] = since;
    this.clock.advance(since);
    m.store(this.i32, at + R_WAIT_SEQ, seq);
    m.store(this.i32, at + R_WAIT_LOCK, id);
    return seq;
  }

  /** The waiting writer's announcement is now in the lock word. */
  announced(seq: number, async: boolean): void {
    if (seq === 0 || this.own.waitSeq !== seq) return;
    this.m.store(this.i32, this.own.at + R_WAIT_MODE, waitModeWord(true, async, true));
  }

  /** Whether the detector asked wait `seq` to fail. A shared-memory load. */
  aborted(seq: number): boolean {
    return seq !== 0 && this.m.load(this.i32, this.own.at + R_VICTIM) === seq;
  }

  /** Retracts wait record `seq` (and any victim mark aimed at it). */
  endWait(seq: number): void {
    if (seq === 0 || this.own.waitSeq !== seq) return;
    const m = this.m;
    const at = this.own.at;
    m.store(this.i32, at + R_WAIT_LOCK, 0);
    m.cas(this.i32, at + R_VICTIM, seq, 0);
    this.own.waitSeq = 0;
  }
}
