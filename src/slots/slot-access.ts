import type { ContextMeta } from '../model/types.js';
import { errorFrame } from '../protocol/reply-frame.js';
import { isServerFault, TaskError, toTaskError } from '../protocol/task-error.js';
import type { Arena } from '../shm/arena.js';
import { SlotStatus, type SlotTable } from '../shm/slot-table.js';
import { type CompactionPolicy, compactionDue } from '../storage/compaction-policy.js';
import type { ContextStorage, ContextSummary, LogHandle } from '../storage/types.js';
import { ContextSlot } from './context-slot.js';
import { etagOf, type Stamp, summaryOf } from './dto.js';
import { OpenLogs } from './open-logs.js';
import { applyOp, branchIndex, type ContextOp, lengthAfter, metaAfter } from './ops.js';
import { captureSnapshot } from './snapshot.js';

export interface SlotAccessOptions {
  lockTimeoutMs: number;
  /** When a write folds the log into a new snapshot (by the log's size). */
  compaction: CompactionPolicy;
  /** Told of every failure that is the server's fault, with the request's trace id. */
  onError?: (traceId: string, err: unknown, mapped: TaskError) => void;
  /** Told of a compaction that failed after its write was committed (the write stands). */
  onCompactionFailure?: (contextId: string, err: unknown) => void;
}

/** Which slot a task is for, at which generation, on behalf of which request. */
export interface SlotRef {
  slot: number;
  gen: number;
  traceId: string;
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
 * go through `commit`: persist one op (durable), then apply it in shared memory.
 */
export class SlotAccess {
  /** This worker's open log fds (one per slot it appended to). */
  readonly logs: OpenLogs;

  constructor(
    readonly slots: SlotTable,
    readonly arena: Arena,
    readonly storage: ContextStorage,
    readonly options: SlotAccessOptions,
  ) {
    this.logs = new OpenLogs(slots, storage);
  }

  /** Runs `work` under the read lock; its reply is built after the lock is released. */
  read(at: SlotRef, work: (ctx: ContextSlot) => DeferredReply): ArrayBuffer {
    const lock = this.slots.lock(at.slot);
    let reply: DeferredReply;
    try {
      lock.readLock(this.options.lockTimeoutMs);
    } catch (err) {
      return this.fail(at, err);
    }
    try {
      this.checkSlot(at, SlotStatus.Ready);
      reply = work(new ContextSlot(this.slots, this.arena, at.slot));
    } catch (err) {
      return this.fail(at, err);
    } finally {
      lock.readUnlock();
    }
    return reply();
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
    try {
      this.checkSlot(at, expected);
      reply = work(new ContextSlot(this.slots, this.arena, at.slot));
    } catch (err) {
      return this.fail(at, err);
    } finally {
      lock.writeUnlock();
    }
    return reply();
  }

  /**
   * Persists `op` (durable before anything is visible), applies it in memory, bumps the
   * version, and folds the log into a snapshot once it has grown to a fixed fraction of the
   * snapshot (amortised O(op) bytes written; see compaction-policy.ts).
   * A failed compaction does not fail the write: the op is already durable, applied and
   * versioned, so an error answer would make the client retry and append it twice. The
   * failure is reported, and the log growth is kept so the next write tries again.
   * Call under the write lock.
   */
  commit(ctx: ContextSlot, meta: ContextMeta, op: ContextOp): Committed {
    const slot = ctx.slot;
    const after = metaAfter(meta, op);
    const activeCount = lengthAfter(op, after.active_branch_name, (name) => {
      const index = branchIndex(meta, name);
      return index < 0 ? 0 : ctx.branchLength(index);
    });
    const stamp = { version: this.slots.version(slot) + 1, updatedAt: op.at };
    const summary = summaryOf(after, activeCount, stamp);
    const log = this.logs.handle(slot);
    const frameBytes = this.storage.append(meta.id, stamp.version, op, summary, log);
    try {
      applyOp(ctx, meta, op);
    } catch (err) {
      // Durable but not applied (e.g. shared memory full): memory no longer matches
      // storage, so the slot is poisoned and will be reloaded from storage.
      this.slots.setStatus(slot, SlotStatus.Poisoned);
      throw err;
    }
    this.setStamp(slot, stamp);
    const growth = {
      logBytes: this.slots.logBytes(slot) + frameBytes,
      logRecords: this.slots.logRecords(slot) + 1,
      snapshotBytes: this.slots.snapshotBytes(slot),
    };
    this.setLogGrowth(slot, growth);
    if (compactionDue(growth, this.options.compaction)) {
      this.compact(ctx, after, stamp, summary, log);
    }
    return { stamp, meta: after, summary };
  }

  /**
   * Folds the slot's log into a new snapshot. Storage leaves the old snapshot or the new
   * one, and the log whole or emptied, so whatever failed the context still loads as it is.
   */
  private compact(
    ctx: ContextSlot,
    meta: ContextMeta,
    stamp: Stamp,
    summary: ContextSummary,
    log: LogHandle,
  ): void {
    try {
      const snapshot = captureSnapshot(ctx, meta, stamp.version, stamp.updatedAt);
      const snapshotBytes = this.storage.compact(meta.id, snapshot, summary, log);
      this.setLogGrowth(ctx.slot, { logBytes: 0, logRecords: 0, snapshotBytes });
    } catch (err) {
      this.options.onCompactionFailure?.(meta.id, err);
    }
  }

  /** Records what the slot's log holds since its snapshot, and the snapshot's size. */
  setLogGrowth(
    slot: number,
    growth: { logBytes: number; logRecords: number; snapshotBytes: number },
  ): void {
    this.slots.setLogBytes(slot, growth.logBytes);
    this.slots.setLogRecords(slot, growth.logRecords);
    this.slots.setSnapshotBytes(slot, growth.snapshotBytes);
  }

  setStamp(slot: number, stamp: Stamp): void {
    this.slots.setUpdatedAt(slot, stamp.updatedAt);
    this.slots.setVersion(slot, stamp.version);
  }

  stampOf(slot: number): Stamp {
    return { version: this.slots.version(slot), updatedAt: this.slots.updatedAt(slot) };
  }

  checkIfMatch(slot: number, ifMatch: number | undefined): void {
    const version = this.slots.version(slot);
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

  private checkSlot(at: SlotRef, expected: SlotStatus | readonly SlotStatus[]): void {
    if (this.slots.generation(at.slot) !== at.gen) {
      throw new TaskError('not_found', 'context not found');
    }
    const status = this.slots.status(at.slot);
    if (typeof expected === 'number' ? status === expected : expected.includes(status)) return;
    if (status === SlotStatus.Poisoned) {
      throw new TaskError('context_poisoned', 'the context is being reloaded; try again');
    }
    if (expected === SlotStatus.Ready && status === SlotStatus.Free) {
      throw new TaskError('not_found', 'context not found');
    }
    throw new TaskError('internal_error', `slot ${at.slot} is in an unexpected state`);
  }
}
