import type { SystemPrompt } from '../prompts/prompt-library.js';
import type { ContextSummary, LoggedOp, StorageStats } from './types.js';

/**
 * An asynchronous context store: the storage contract for a provider whose calls may be
 * network round trips (PostgreSQL), met also by the local directory (FileContextStore).
 *
 * # Durability
 *
 * A mutating call is durable when its promise resolves: a crash of this process, of the
 * database, or of the machine afterwards loses none of it. A call that rejects committed
 * nothing, except for `StorageUnavailableError` with `outcomeUnknown` (the default): the
 * database was unreachable or did not answer in time, so the call's outcome is UNKNOWN (a
 * commit whose answer was lost may have landed). (With `outcomeUnknown` false the database
 * rolled the call back: nothing landed, and it may be sent again.) The caller settles an
 * unknown outcome by sending the same call again: `appendOps` and `compact` are idempotent
 * for that purpose, `create` answers `StorageConflictError` if its first attempt landed,
 * `delete` answers false. If the re-sent call is fenced (another owner claimed the context
 * meanwhile), the first attempt's outcome stays unknown: the fence says nothing about it.
 * Whether it landed is for the new owner's `load` to show, and it is that owner's state now.
 *
 * # Ownership and fencing
 *
 * Every context has an owner epoch. `create` makes the creator its owner and `claim` makes
 * a new one; each returns an epoch strictly larger than any epoch any context has had in
 * this store, so an epoch is never reused, not even by a context deleted and created again
 * under the same id. Every call that changes a context takes the caller's epoch (its fence)
 * and checks it in the same atomic step as the change: if another owner has claimed the
 * context since, the call fails with `StorageFencedError` and commits nothing. So an owner
 * that lost a context (paused, partitioned, slow) can never commit to it again; it must
 * claim it anew and reload. Reads (`load`, `exists`, the listing) take no fence.
 *
 * Failure order for a mutating call: `StorageNotFoundError` if the context does not exist,
 * then `StorageFencedError` if the fence is not the current epoch, then the call's own
 * checks (`StorageConflictError`).
 *
 * # Ops and versions
 *
 * A context's version counts its committed ops: the snapshot given to `create` is at
 * `summary.version` (normally 0), and op n carries version n. `appendOps` commits a run of
 * ops (at most MAX_RUN, store-checks.ts) with consecutive versions, each with the summary
 * after it, as ONE durable unit (one
 * transaction, or one write and one fdatasync): the run lands whole or not at all (the
 * file provider: see FileContextStore for the one exception a crash can leave). The run
 * must start at most one past the stored version:
 * - ops at versions already stored must be byte-identical (msgpack of the op) to what is
 *   stored: a re-sent run whose first attempt landed resolves without writing again;
 * - a stored version with different bytes, or one the snapshot already covers (its op was
 *   dropped by a compaction and cannot be compared), is a `StorageConflictError`;
 * - a run starting beyond one past the stored version (a gap) is a `StorageConflictError`.
 *
 * `compact` replaces the snapshot with one at the stored version (`summary.version` must
 * equal it, else `StorageConflictError`) and drops the ops it covers. The owner is the only
 * writer, so it compacts after its ops up to that version have resolved and before it
 * sends later ones.
 *
 * # Concurrency
 *
 * Any call may run concurrently with any other. A provider commits each mutating call
 * atomically; between owners, the fence decides. One owner's calls on one context should be
 * sent in version order, each run after the previous resolved (a run sent before its
 * predecessor landed is a gap).
 *
 * # Listing
 *
 * `listSummaries` pages through every context's summary, most recently updated first
 * (`updated_at` descending, then id descending, so the order is total): each page returns
 * the cursor after its last row; a context changed between pages may move, but the cursor
 * stays valid (it is a position in the order, not an offset). `summary.updated_at` must be
 * an ISO-8601 timestamp (millisecond precision is kept exactly).
 *
 * # System prompts
 *
 * A small shared library, not owned by any instance (no fence): each call is atomic and
 * durable when it resolves; concurrent changes to one prompt are last-writer-wins.
 */
export interface ContextStore {
  /** Which provider, for logs ("file", "postgres"). */
  readonly provider: string;

  /**
   * Creates a context from its snapshot (at `summary.version`) and makes `owner` its owner;
   * returns the owner's epoch. StorageConflictError if the id exists.
   */
  create(id: string, owner: string, snapshot: unknown, summary: ContextSummary): Promise<number>;
  /**
   * Makes `owner` the context's owner and returns its new epoch, strictly larger than any
   * before; every fence handed out before is stale from now on. StorageNotFoundError if the
   * context does not exist.
   */
  claim(id: string, owner: string): Promise<number>;
  /** Commits a run of consecutive ops as one durable unit (see "Ops and versions"). */
  appendOps(id: string, fence: number, ops: readonly StoredOp[]): Promise<void>;
  /** Replaces the snapshot at the stored version and drops the ops it covers. */
  compact(id: string, fence: number, snapshot: unknown, summary: ContextSummary): Promise<void>;
  /** The snapshot, the ops after it in version order, and the summary; null if absent. */
  load(id: string): Promise<StoredContext | null>;
  /** Deletes the context, its snapshot and ops; false when it did not exist. */
  delete(id: string, fence: number): Promise<boolean>;
  exists(id: string): Promise<boolean>;
  /** One page of summaries, most recently updated first (see "Listing"). */
  listSummaries(page: PageRequest): Promise<SummaryPage>;

  /** Every system prompt, by id ascending. */
  listPrompts(): Promise<SystemPrompt[]>;
  getPrompt(id: string): Promise<SystemPrompt | null>;
  /** StorageConflictError if the id exists. */
  createPrompt(prompt: SystemPrompt): Promise<void>;
  /** StorageNotFoundError if the id does not exist. */
  updatePrompt(prompt: SystemPrompt): Promise<void>;
  /** False when it did not exist. */
  deletePrompt(id: string): Promise<boolean>;

  /** Running totals of this instance's work (see StorageStats; never reset). */
  stats(): StorageStats;
  /** Releases connections and files; calls after it fail. */
  close(): Promise<void>;
}

/** One op of a run given to appendOps: its version, the op, and the summary after it. */
export interface StoredOp {
  version: number;
  op: unknown;
  summary: ContextSummary;
}

export interface StoredContext {
  snapshot: unknown;
  /** Version the snapshot is at. */
  snapshotVersion: number;
  /** Ops newer than the snapshot, in version order. */
  ops: LoggedOp[];
  /** Summary after the newest op (of the snapshot when there is none). */
  summary: ContextSummary;
  /** The stored version: the newest op's, or the snapshot's. */
  version: number;
  /** The current owner epoch (a load does not claim; compare with your fence). */
  epoch: number;
}

export interface PageRequest {
  /** Rows per page, 1..1000. */
  limit: number;
  /** The `next` of the previous page; absent for the first page. */
  cursor?: string | undefined;
}

export interface SummaryPage {
  summaries: ContextSummary[];
  /** Where the next page starts; null when this page is the last. */
  next: string | null;
}
