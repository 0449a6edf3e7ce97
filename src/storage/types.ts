/**
 * Storage provider contract: load, create, append, compact, list summaries, delete; a crash
 * at any instant loses no acknowledged write. Payloads are opaque to storage: the
 * caller hands over msgpack-able values and gets them back on load.
 */

/** Small, always-readable description of a context, kept next to every snapshot and op. */
export interface ContextSummary {
  id: string;
  config: unknown;
  current_state: string;
  active_branch_name: string;
  message_count: number;
  updated_at: string;
  version: number;
}

/** One logged operation, as appended. */
export interface LoggedOp {
  version: number;
  op: unknown;
}

export interface LoadedContext {
  snapshot: unknown;
  /** Version the snapshot was written at (the `summary.version` given to create/compact). */
  snapshotVersion: number;
  /** Log operations newer than the snapshot, in append order. */
  ops: LoggedOp[];
  /** Summary of the newest op, or of the snapshot when no newer op exists. */
  summary: ContextSummary;
  /** Bytes of the snapshot file. */
  snapshotBytes: number;
  /** Bytes of valid log on disk (after dropping a torn tail). */
  logBytes: number;
  /** Valid frames in the log, including any already covered by the snapshot. */
  logRecords: number;
}

/**
 * What one storage instance has done since it was made, as running totals (never reset).
 * Workers publish the per-task differences into the shared work counters (src/metrics/).
 */
export interface StorageStats {
  /** Log frames appended, and their bytes (header included). */
  appends: number;
  appendBytes: number;
  /**
   * fdatasyncs that made appended log frames durable: one per append when each is synced
   * under its lock, fewer when appends share a sync (group commit).
   */
  logSyncs: number;
  /** Snapshot file bytes written by create(). */
  snapshotBytes: number;
  /** Compactions, and the snapshot file bytes they wrote. */
  compactions: number;
  compactBytes: number;
  /** Compactions that threw (the context's snapshot and log are left loadable). */
  compactionFailures: number;
  /** Snapshot and log bytes read by load(). */
  loadBytes: number;
  /** Torn log tails dropped by load(). */
  tornTails: number;
}

/** The totals of a storage that has done nothing yet (or a thread that never touches one). */
export function zeroStorageStats(): StorageStats {
  return {
    appends: 0,
    appendBytes: 0,
    logSyncs: 0,
    snapshotBytes: 0,
    compactions: 0,
    compactBytes: 0,
    compactionFailures: 0,
    loadBytes: 0,
    tornTails: 0,
  };
}

/** A stored context whose summary cannot be read: it exists, but cannot be served. */
export interface UnreadableContext {
  id: string;
  /** Why, for a person (the file and what failed). */
  reason: string;
}

/** Everything stored, as a listing sees it (see FileStorage.scan). */
export interface StorageScan {
  summaries: ContextSummary[];
  unreadable: UnreadableContext[];
  /** File bytes read to build the listing (snapshot header frames and last log frames). */
  bytesRead: number;
}

/**
 * Where a caller keeps a context's log file open between appends: `fd` is -1 until the first
 * append opens it (O_APPEND); later appends and the compaction's truncation reuse it;
 * `closeLog` closes it. Each worker keeps its own per resident context (src/slots/open-logs.ts).
 */
export interface LogHandle {
  fd: number;
}

/**
 * Synchronous per-context store. Every mutating call is durable when it returns. Callers
 * serialise calls per context (they hold the context's write lock); `listSummaries` and
 * `exists` may run concurrently with anything.
 */
export interface ContextStorage {
  /**
   * Creates a context; returns the snapshot bytes written. Throws StorageConflictError if it
   * already exists.
   */
  create(id: string, snapshot: unknown, summary: ContextSummary): number;
  /**
   * Appends one op; returns the bytes written. O(op), independent of the context's size.
   * With `log`, the log file stays open in it for the next append (else opened and closed).
   */
  append(
    id: string,
    version: number,
    op: unknown,
    summary: ContextSummary,
    log?: LogHandle,
  ): number;
  /**
   * Writes one op's frame at the end of the log with one write(2), NOT synced: it is
   * durable only once a later `syncLog` (through any fd of the log) returns. On failure
   * the log is cut back by what this call wrote. Returns the bytes written. The caller
   * serialises writes to one log (the context's write lock), so log order is write order.
   */
  writeLog(
    id: string,
    version: number,
    op: unknown,
    summary: ContextSummary,
    log: LogHandle,
  ): number;
  /**
   * Makes every frame written to the log so far durable (fdatasync through `log`'s fd,
   * opened without creating the log if it is not open yet); `version` is the newest frame
   * it covers. May run concurrently with `writeLog` on other fds of the same log.
   */
  syncLog(id: string, log: LogHandle, version: number): void;
  /** Cuts the log back to `length` bytes (if longer) and syncs that: a failed sync's undo. */
  cutLog(id: string, log: LogHandle, length: number): void;
  /**
   * Replaces the snapshot (its version = summary.version) and empties the log (through
   * `log`'s fd when it is open); returns the snapshot bytes written.
   */
  compact(id: string, snapshot: unknown, summary: ContextSummary, log?: LogHandle): number;
  /** Closes the log fd kept in `log`, if any (the context leaves memory). */
  closeLog(log: LogHandle): void;
  /** Returns null when the context does not exist. */
  load(id: string): LoadedContext | null;
  /** Returns false when the context did not exist. */
  delete(id: string): boolean;
  /** Summaries of all contexts; never throws because of one bad context. */
  listSummaries(): ContextSummary[];
  exists(id: string): boolean;
}
