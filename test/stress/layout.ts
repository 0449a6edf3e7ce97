/**
 * Shared between `run.ts` (main thread) and `worker.ts`: the word layout of the stress
 * buffer, what a worker is told, and what it reports.
 */

export type StressMode = 'correct' | 'inversions' | 'kills';

/** Wait-time histogram: bucket b holds waits in (BASE·2^((b−1)/4), BASE·2^(b/4)] µs. */
export const WAIT_BUCKETS = 128;
export const WAIT_BASE_US = 0.0625;

export interface StressWorkerInput {
  mode: StressMode;
  /** Worker slot (0..threads-1): its occupancy words. */
  slot: number;
  seed: number;
  registry: SharedArrayBuffer;
  work: SharedArrayBuffer;
  layout: StressLayout;
  /** Lock ids: context locks 0..contexts-1, then the arena lock. */
  ids: number[];
  timeoutMs: number;
  checked: boolean;
}

export interface StressLayout {
  contexts: number;
  threads: number;
  /** Lock k at word 4k (k = contexts: the arena lock). */
  locksAt: number;
  /** Per lock: X, Y words; a writer sets both to the same new value, readers check X === Y. */
  dataAt: number;
  /** Per worker slot, two words (context level, arena level): 0, or lock+1 << 1 | write. */
  occupancyAt: number;
  stop: number;
  go: number;
  ready: number;
  violations: number;
  /** Per worker slot: sections completed (also by workers later killed). */
  countsAt: number;
  /** Totals over all workers, killed ones included: `TOTAL` offsets. */
  totalsAt: number;
  /** Wait-time histogram over all workers (`WAIT_BUCKETS` counters). */
  histAt: number;
  words: number;
}

/** Offsets of the totals (from `totalsAt`): sections, errors by kind, the longest wait. */
export const TOTAL = {
  reads: 0,
  writes: 1,
  nested: 2,
  timeouts: 3,
  victims: 4,
  orderErrors: 5,
  maxWaitUs: 6,
} as const;
const TOTALS = 8;

export function stressLayout(contexts: number, threads: number): StressLayout {
  const locks = contexts + 1;
  const locksAt = 0;
  const dataAt = locksAt + 4 * locks;
  const occupancyAt = dataAt + 2 * locks;
  const stop = occupancyAt + 2 * threads;
  return {
    contexts,
    threads,
    locksAt,
    dataAt,
    occupancyAt,
    stop,
    go: stop + 1,
    ready: stop + 2,
    violations: stop + 3,
    countsAt: stop + 4,
    totalsAt: stop + 4 + threads,
    histAt: stop + 4 + threads + TOTALS,
    words: stop + 4 + threads + TOTALS + WAIT_BUCKETS,
  };
}

export function waitBucket(us: number): number {
  if (us <= WAIT_BASE_US) return 0;
  return Math.min(WAIT_BUCKETS - 1, Math.ceil(4 * Math.log2(us / WAIT_BASE_US)));
}

export function bucketUpperUs(b: number): number {
  return WAIT_BASE_US * 2 ** (b / 4);
}

/** What a worker that finished normally reports (its counts are in shared memory). */
export interface StressReport {
  slot: number;
  /** Anything unexpected thrown: always a failure. */
  errors: string[];
}
