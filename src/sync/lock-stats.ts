import { LOCK_CLASSES, type LockClass } from './lock-ids.js';

/**
 * Contention metrics per lock class, as BigInt64 counters in the lock registry's buffer.
 * Each thread counts in a block of its own registry record (with `Atomics.add`, so any
 * thread can read them, but on a cache line no other thread writes: one shared counter for
 * all threads cut contended throughput several times); readers sum the blocks of every
 * record. A record's counters are never reset, so what exited threads counted stays in the
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

/** Adds to one block of counters; one per thread, made by `LockRegistry`. */
export class StatsRecorder {
  constructor(private readonly c: BigInt64Array) {}

  acquired(cls: number): void {
    Atomics.add(this.c, cls * STATS_SLOTS_PER_CLASS + S_ACQUISITIONS, 1n);
  }

  /** A wait of `ms` ended (whatever the outcome). */
  waited(cls: number, ms: number): void {
    const at = cls * STATS_SLOTS_PER_CLASS;
    Atomics.add(this.c, at + S_CONTENDED, 1n);
    Atomics.add(this.c, at + S_WAIT_SUM, BigInt(Math.round(ms * 1e6)));
    Atomics.add(this.c, at + S_WAIT_BUCKETS + bucketOf(ms), 1n);
  }

  held(cls: number, ms: number): void {
    const at = cls * STATS_SLOTS_PER_CLASS;
    Atomics.add(this.c, at + S_HOLD_SUM, BigInt(Math.round(ms * 1e6)));
    Atomics.add(this.c, at + S_HOLD_BUCKETS + bucketOf(ms), 1n);
  }

  timedOut(cls: number): void {
    Atomics.add(this.c, cls * STATS_SLOTS_PER_CLASS + S_TIMEOUTS, 1n);
  }

  deadlocked(cls: number): void {
    Atomics.add(this.c, cls * STATS_SLOTS_PER_CLASS + S_DEADLOCKS, 1n);
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
