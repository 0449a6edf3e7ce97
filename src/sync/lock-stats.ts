import { LOCK_CLASSES, type LockClass } from './lock-ids.js';

/**
 * Contention metrics per lock class, as BigInt64 counters in the lock registry's buffer.
 * Each thread counts in a block of its own registry record (on cache lines no other thread
 * writes: one shared counter for all threads cut contended throughput several times), and
 * publishes there what it counted locally (see `StatsRecorder`); readers sum the blocks of
 * every record. A record's counters are never reset, so what exited threads counted stays in the
 * sum. 64-bit counters never wrap in practice: they map directly onto Prometheus counters.
 *
 * A block has, per class (`LOCK_CLASSES`: other, cache, context, arena),
 * `STATS_SLOTS_PER_CLASS` slots:
 *
 * | slot      | counter                                                              |
 * |-----------|----------------------------------------------------------------------|
 * | 0         | acquisitions (every successful acquire, any form; counted when it is |
 * |           | released, to keep the count out of the critical section)            |
 * | 1         | contended acquisitions (the first attempt failed and the caller waited) |
 * | 2         | timeouts (`LockTimeoutError`)                                        |
 * | 3         | deadlocks broken (`DeadlockError` thrown to a victim)                 |
 * | 4         | sum of wait times, ns                                                |
 * | 5         | sum of hold times, ns                                                |
 * | 6 …       | wait-time histogram: one count per bucket of `BUCKET_BOUNDS_SECONDS`, +Inf |
 * | 6+B …     | hold-time histogram, same buckets                                    |
 *
 * Wait times are recorded for every acquire that had to wait (contended), whatever its
 * outcome (acquired, timed out, deadlock victim); uncontended acquisitions wait 0 and are
 * `acquisitions − contended`. Hold times are recorded at every release of a registered lock
 * when the registry's `timing` is on.
 */

/** Upper bounds of the histogram buckets, in seconds (Prometheus `le`); +Inf is implicit. */
export const BUCKET_BOUNDS_SECONDS = [
  1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 5e-2, 0.1, 0.5, 1, 5,
] as const;
const BOUNDS_MS = BUCKET_BOUNDS_SECONDS.map((s) => s * 1000);
const BUCKETS = BUCKET_BOUNDS_SECONDS.length + 1;

export const STATS_CLASSES = LOCK_CLASSES.length;
const S_ACQUISITIONS = 0;
const S_CONTENDED = 1;
const S_TIMEOUTS = 2;
const S_DEADLOCKS = 3;
const S_WAIT_SUM = 4;
const S_HOLD_SUM = 5;
const S_WAIT_BUCKETS = 6;
const S_HOLD_BUCKETS = S_WAIT_BUCKETS + BUCKETS;
export const STATS_SLOTS_PER_CLASS = S_HOLD_BUCKETS + BUCKETS;
/** Int32 words of one block (BigInt64 slots × 2). */
export const STATS_WORDS = STATS_CLASSES * STATS_SLOTS_PER_CLASS * 2;

function bucketOf(ms: number): number {
  let b = 0;
  while (b < BOUNDS_MS.length && ms > BOUNDS_MS[b]!) b++;
  return b;
}

/** Acquisitions counted locally before they are published (at most lost if a thread dies). */
export const PUBLISH_EVERY = 64;

/**
 * One thread's counters. Counts accumulate in thread-local numbers and are published to the
 * thread's block with `Atomics.store` (the block has one writer, so no read-modify-write is
 * needed): at once for waits, timeouts and deadlocks, at least every `PUBLISH_EVERY`
 * acquisitions, and whenever the thread calls `LockRegistry.publishStats()` (a worker should
 * at the end of each task). (`Atomics.add` on a BigInt64Array returns a new BigInt each
 * time: counting that way allocated on every acquire.) A reader may therefore see a
 * thread's latest acquisitions late, and a thread that dies loses what it had not published.
 */
export class StatsRecorder {
  private readonly local: Float64Array;
  private readonly dirty = new Uint8Array(STATS_CLASSES * STATS_SLOTS_PER_CLASS);
  private dirtyList: number[] = [];
  private unpublished = 0;

  constructor(private readonly c: BigInt64Array) {
    // A record outlives its threads: continue from what earlier owners counted.
    this.local = Float64Array.from(c, (x) => Number(x));
  }

  acquired(cls: number): void {
    this.bump(cls * STATS_SLOTS_PER_CLASS + S_ACQUISITIONS, 1);
    if (++this.unpublished >= PUBLISH_EVERY) this.publish();
  }

  /** A wait of `ms` ended (whatever the outcome). */
  waited(cls: number, ms: number): void {
    const at = cls * STATS_SLOTS_PER_CLASS;
    this.bump(at + S_CONTENDED, 1);
    this.bump(at + S_WAIT_SUM, Math.round(ms * 1e6));
    this.bump(at + S_WAIT_BUCKETS + bucketOf(ms), 1);
    this.publish();
  }

  held(cls: number, ms: number): void {
    const at = cls * STATS_SLOTS_PER_CLASS;
    this.bump(at + S_HOLD_SUM, Math.round(ms * 1e6));
    this.bump(at + S_HOLD_BUCKETS + bucketOf(ms), 1);
  }

  timedOut(cls: number): void {
    this.bump(cls * STATS_SLOTS_PER_CLASS + S_TIMEOUTS, 1);
    this.publish();
  }

  deadlocked(cls: number): void {
    this.bump(cls * STATS_SLOTS_PER_CLASS + S_DEADLOCKS, 1);
    this.publish();
  }

  /** Stores every changed counter into the shared block. */
  publish(): void {
    for (const slot of this.dirtyList) {
      Atomics.store(this.c, slot, BigInt(this.local[slot]!));
      this.dirty[slot] = 0;
    }
    this.dirtyList = [];
    this.unpublished = 0;
  }

  private bump(slot: number, by: number): void {
    this.local[slot]! += by;
    if (this.dirty[slot] === 0) {
      this.dirty[slot] = 1;
      this.dirtyList.push(slot);
    }
  }
}

/** A histogram as Prometheus exposes it: cumulative bucket counts, sum and count. */
export interface HistogramSnapshot {
  /** Cumulative: `count` of observations ≤ `le` seconds; the last bucket has `le: Infinity`. */
  buckets: { le: number; count: number }[];
  /** Sum of the observations, seconds. */
  sum: number;
  count: number;
}

export interface LockClassStats {
  acquisitions: number;
  contended: number;
  timeouts: number;
  deadlocksBroken: number;
  /** Wait time of contended acquisitions (including those that timed out or were broken). */
  waitSeconds: HistogramSnapshot;
  holdSeconds: HistogramSnapshot;
}

export type LockStats = Record<LockClass, LockClassStats>;

function histogram(c: BigInt64Array[], at: number, sumAt: number): HistogramSnapshot {
  const buckets: { le: number; count: number }[] = [];
  let total = 0;
  for (let b = 0; b < BUCKETS; b++) {
    total += sum(c, at + b);
    buckets.push({ le: BUCKET_BOUNDS_SECONDS[b] ?? Number.POSITIVE_INFINITY, count: total });
  }
  return { buckets, sum: sum(c, sumAt) / 1e9, count: total };
}

function sum(blocks: BigInt64Array[], slot: number): number {
  let n = 0n;
  for (const c of blocks) n += Atomics.load(c, slot);
  return Number(n);
}

/**
 * Sums blocks of counters into plain objects, one per lock class. Counters are read one by
 * one while other threads add to them, so a histogram's count may be a few observations
 * ahead of its sum.
 */
export function sumStats(blocks: BigInt64Array[]): LockStats {
  const out = {} as LockStats;
  LOCK_CLASSES.forEach((name, cls) => {
    const at = cls * STATS_SLOTS_PER_CLASS;
    out[name] = {
      acquisitions: sum(blocks, at + S_ACQUISITIONS),
      contended: sum(blocks, at + S_CONTENDED),
      timeouts: sum(blocks, at + S_TIMEOUTS),
      deadlocksBroken: sum(blocks, at + S_DEADLOCKS),
      waitSeconds: histogram(blocks, at + S_WAIT_BUCKETS, at + S_WAIT_SUM),
      holdSeconds: histogram(blocks, at + S_HOLD_BUCKETS, at + S_HOLD_SUM),
    };
  });
  return out;
}
