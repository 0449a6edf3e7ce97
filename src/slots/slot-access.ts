import type { ContextMeta } from '../model/types.js';
import { errorFrame, jsonFrame } from '../protocol/reply-frame.js';
import { isServerFault, TaskError, toTaskError } from '../protocol/task-error.js';
import type { Arena } from '../shm/arena.js';
import { SlotStatus, type SlotTable } from '../shm/slot-table.js';
import { type CompactionPolicy, compactionDue } from '../storage/compaction-policy.js';
import type { ContextStorage, ContextSummary } from '../storage/types.js';
import { ContextSlot } from './context-slot.js';
import { etagOf, type Stamp, summaryOf } from './dto.js';
import { publishAll } from './group-commit.js';
import { compactLog, growthAfterFrame, recordLogGrowth } from './log-growth.js';
import { LogSync, type PendingAppend } from './log-sync.js';
import { OpenLogs } from './open-logs.js';
import { applyOp, branchIndex, type ContextOp, lengthAfter, metaAfter } from './ops.js';
import { checkSlot, type SlotRef } from './slot-ref.js';

export interface SlotAccessOptions {
  lockTimeoutMs: number;
  /** When a write folds the log into a new snapshot (by the log's size). */
  compaction: CompactionPolicy;
  /**
   * Appends share log syncs and hold the write lock only for the in-memory change
   * (slots/group-commit.ts); false: every write holds the lock across its own fdatasync,
   * as before (GROUP_COMMIT=false, the benchmark's comparison mode). Default true.
   */
  groupCommit?: boolean;
  /** Told of every failure that is the server's fault, with the request's trace id. */
  onError?: (traceId: string, err: unknown, mapped: TaskError) => void;
  /** Told of a compaction that failed after its write was committed (the write stands). */
  onCompactionFailure?: (contextId: string, err: unknown) => void;
}

/** A reply built after the lock is released (so no serialisation happens under it). */
export type DeferredReply = () => ArrayBuffer;

export interface Committed {
  stamp: Stamp;
  meta: ContextMeta;
  summary: ContextSummary;
}

/**
 * How worker-side operations reach a context: under its lock, checked against the slot
 * generation the main thread pinned, with every failure turned into an error reply. Writes
 * go through `commit`: log one op, apply it in shared memory, and publish it to readers
 * once it is durable (at once for writes synced under the lock; after a shared sync for
 * appends, see group-commit.ts). The syncing itself is LogSync's (log-sync.ts).
 *
 * Readers (`read`) get the published view of the context; writers (`write`) the written
 * one. A write that is not a group-committed append leaves nothing unpublished behind: if
 * appends of other tasks are still waiting for their sync when it ends, it syncs and
 * publishes them under its lock, so its own reply never shows a write that is not durable.
 */
export class SlotAccess {
  /** This worker's open log fds (one per slot it appended to). */
  readonly logs: OpenLogs;
  /** Makes log writes durable, then visible (group commit or under the lock). */
  private readonly sync: LogSync;
  /** The append the current `write` left to sync after its lock is released. */
  private pending: PendingAppend | undefined;

  constructor(
    readonly slots: SlotTable,
    readonly arena: Arena,
    readonly storage: ContextStorage,
    readonly options: SlotAccessOptions,
  ) {
    this.logs = new OpenLogs(slots, storage);
    this.sync = new LogSync(slots, arena, storage, this.logs, options.lockTimeoutMs);
  }

  /** Runs `work` under the read lock; its reply is built after the lock is released. */
  read(at: SlotRef, work: (ctx: ContextSlot) => DeferredReply): ArrayBuffer {
    const lock = this.slots.lock(at.slot);
    let reply: DeferredReply;
    try {
      lock.readLock(this.options.lockTimeoutMs);
      try {
        checkSlot(this.slots, at, SlotStatus.Ready);
        reply = work(new ContextSlot(this.slots, this.arena, at.slot));
      } finally {
        lock.readUnlock();
      }
    } catch (err) {
      return this.fail(at, err);
    }
    return reply();
  }

  /**
   * A `syncLog` task: claims the slot's sync if none is in flight (or takes over from
   * `staleOwner`, a sync that has not ended in time), and makes everything written so far
   * durable and visible. Answers 200 whether or not there was anything to do.
   */
  syncPending(at: SlotRef, staleOwner: number): ArrayBuffer {
    try {
      this.sync.syncNext(at, staleOwner);
    } catch (err) {
      return this.fail(at, err);
    }
    return jsonFrame({ outcome: 'ok' }, undefined);
  }

  /** Runs `work` under the write lock, on a slot expected to be in `expected` status. */
  write(
    at: SlotRef,
    expected: SlotStatus | readonly SlotStatus[],
    work: (ctx: ContextSlot) => DeferredReply,
  ): ArrayBuffer {
    const lock = this.slots.lock(at.slot);
    let reply: DeferredReply;
    try {
      lock.writeLock(this.options.lockTimeoutMs);
    } catch (err) {
      return this.fail(at, err);
    }
    this.pending = undefined;
    try {
      checkSlot(this.slots, at, expected);
      const ctx = new ContextSlot(this.slots, this.arena, at.slot, 'written');
      reply = work(ctx);
      if (this.pending === undefined) this.sync.settle(ctx);
    } catch (err) {
      this.sync.abandon(this.pending);
      this.pending = undefined;
      return this.fail(at, err);
    } finally {
      lock.writeUnlock();
    }
    const pending = this.pending as PendingAppend | undefined;
    this.pending = undefined;
    if (pending !== undefined) {
      try {
        this.sync.syncAfterUnlock(pending);
      } catch (err) {
        return this.fail(at, err);
      }
    }
    // Unless this thread's sync published it, the main thread holds the reply until the
    // append is published (src/pool/durable-wait.ts).
    return reply();
  }

  /**
   * Logs `op`, applies it in memory, and publishes it once it is durable. A message append
   * (with group commit on) is synced after the lock is released, shared with the appends
   * around it (group-commit.ts); every other write is fdatasynced under the lock, which
   * also makes any pending appends durable, and published before the lock is released.
   * The log is folded into a snapshot once it has grown to a fixed fraction of the
   * snapshot (amortised O(op) bytes written; see compaction-policy.ts), always with
   * nothing pending: an append that makes the log long enough syncs under the lock first.
   * A failed compaction does not fail the write: the op is already durable, applied and
   * versioned, so an error answer would make the client retry and append it twice. The
   * failure is reported, and the log growth is kept so the next write tries again.
   * Call under the write lock (from `write`).
   */
  commit(ctx: ContextSlot, meta: ContextMeta, op: ContextOp): Committed {
    const slot = ctx.slot;
    const after = metaAfter(meta, op);
    const activeCount = lengthAfter(op, after.active_branch_name, (name) => {
      const index = branchIndex(meta, name);
      return index < 0 ? 0 : ctx.branchLength(index);
    });
    const written = this.slots.writtenVersion(slot);
    const stamp = { version: written + 1, updatedAt: op.at };
    const summary = summaryOf(after, activeCount, stamp);
    const log = this.logs.handle(slot);
    const pendingBefore = written > this.slots.version(slot);
    const frameBytes = this.storage.writeLog(meta.id, stamp.version, op, summary, log);
    const grouped = (this.options.groupCommit ?? true) && op.t === 'append';
    if (!grouped) this.sync.syncUnderLock(slot, meta.id, log, stamp.version, pendingBefore);
    try {
      applyOp(ctx, meta, op);
    } catch (err) {
      // Logged but not applied (e.g. shared memory full): memory no longer matches
      // storage, so the slot is poisoned and will be reloaded from storage (whose load
      // syncs the log before serving it).
      this.slots.setStatus(slot, SlotStatus.Poisoned);
      this.slots.signalSync(slot);
      throw err;
    }
    this.slots.setWrittenAt(slot, stamp.updatedAt);
    this.slots.setWrittenVersion(slot, stamp.version);
    const growth = growthAfterFrame(this.slots, slot, frameBytes);
    recordLogGrowth(this.slots, slot, growth);
    const compact = compactionDue(growth, this.options.compaction);
    if (grouped && compact) this.sync.syncUnderLock(slot, meta.id, log, stamp.version, true);
    if (grouped && !compact) {
      this.pending = this.sync.pendingAppend(ctx, meta.id, log);
    } else {
      publishAll(this.slots, ctx);
    }
    const committed = { stamp, meta: after, summary };
    if (compact) {
      try {
        compactLog(this.slots, this.storage, ctx, committed, log);
      } catch (err) {
        this.options.onCompactionFailure?.(meta.id, err);
      }
    }
    return committed;
  }

  /**
   * Sets the version and update time of a write made without `commit` (a create, a load,
   * a state kept in memory only), written and published at once; appends still pending
   * are synced and published first, so nothing undurable becomes visible with it.
   * Call under the write lock.
   */
  setStamp(slot: number, stamp: Stamp): void {
    const ctx = new ContextSlot(this.slots, this.arena, slot, 'written');
    this.sync.settle(ctx);
    this.slots.setWrittenAt(slot, stamp.updatedAt);
    this.slots.setWrittenVersion(slot, stamp.version);
    publishAll(this.slots, ctx);
  }

  /** The writers' stamp: the newest write, published or not. */
  stampOf(slot: number): Stamp {
    return { version: this.slots.writtenVersion(slot), updatedAt: this.slots.writtenAt(slot) };
  }

  /** Writers compare If-Match with the newest write, published or not (it is committed). */
  checkIfMatch(slot: number, ifMatch: number | undefined): void {
    const version = this.slots.writtenVersion(slot);
    if (ifMatch !== undefined && ifMatch !== version) {
      throw new TaskError(
        'precondition_failed',
        `If-Match ${etagOf(ifMatch)} does not match the current version ${etagOf(version)}`,
      );
    }
  }

  /** An error reply; failures that are the server's fault are reported with the trace id. */
  fail(at: SlotRef, err: unknown): ArrayBuffer {
    const mapped = toTaskError(err);
    if (isServerFault(mapped.code)) this.options.onError?.(at.traceId, err, mapped);
    return errorFrame(mapped);
  }
}
