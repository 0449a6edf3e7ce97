/**
 * When a context's log is folded into a new snapshot: by size, not by count.
 *
 * A write compacts once the log holds at least `logRatio` × the snapshot's bytes and at
 * least `minLogBytes`. With ratio r, each compaction follows at least r·S bytes of log
 * (S the snapshot it replaces) and writes a snapshot of at most S + those log bytes, so the
 * bytes written per byte of log, amortised, stay below 2 + 1/r, whatever the context's
 * length; and a load reads at most a snapshot plus max(minLogBytes, r·S) bytes of log
 * (and one frame). docs/storage.md has the arithmetic.
 */
export interface CompactionPolicy {
  /** Log bytes, as a multiple of the snapshot's bytes, that trigger a compaction (> 0). */
  logRatio: number;
  /** No compaction before the log holds this many bytes (tiny contexts are not rewritten
   * at every append). */
  minLogBytes: number;
  /**
   * Also compact after this many log records whatever their bytes (0: never). Makes
   * compactions frequent for tests; any value brings back O(context) bytes per append.
   */
  afterRecords: number;
}

export const DEFAULT_COMPACTION: CompactionPolicy = {
  logRatio: 1,
  minLogBytes: 1024 * 1024,
  afterRecords: 0,
};

/** What the log holds since the last snapshot, and the snapshot's size. */
export interface LogGrowth {
  logBytes: number;
  logRecords: number;
  snapshotBytes: number;
}

export function compactionDue(growth: LogGrowth, policy: CompactionPolicy): boolean {
  if (policy.afterRecords > 0 && growth.logRecords >= policy.afterRecords) return true;
  return growth.logBytes >= Math.max(policy.minLogBytes, policy.logRatio * growth.snapshotBytes);
}
