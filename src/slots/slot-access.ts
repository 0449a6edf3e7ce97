import type { ContextMeta } from '../model/types.js';
import { errorFrame, jsonFrame } from '../protocol/reply-frame.js';
import { isServerFault, TaskError, toTaskError } from '../protocol/task-error.js';
import type { Arena } from '../shm/arena.js';
import { SlotStatus, type SlotTable } from '../shm/slot-table.js';
import { type CompactionPolicy, compactionDue } from '../storage/compaction-policy.js';
import type { ContextStorage, ContextSummary, LogHandle } from '../storage/types.js';
import { ContextSlot } from './context-slot.js';
import { etagOf, type Stamp, summaryOf } from './dto.js';
import { captureWritten, publishAll, publishWritten, type WrittenState } from './group-commit.js';
import { OpenLogs } from './open-logs.js';
import { applyOp, branchIndex, type ContextOp, lengthAfter, metaAfter } from './ops.js';
import { captureSnapshot } from './snapshot.js';

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

/** Syncs an append that claimed the sync makes before replying: its own, and the next. */
const LEADER_ROUNDS = 2;

/** An append written under the lock whose sync happens after the lock is released. */
interface PendingAppend {
  slot: number;
  gen: number;
  id: string;
  log: LogHandle;
  /** Set when this thread claimed the slot's sync: its token and what it will publish. */
  claim?: { token: number; state: WrittenState };
}

/**
 * How worker-side operations reach a context: under its lock, checked against the slot
 * generation the main thread pinned, with every failure turned into an error reply. Writes
 * go through `commit`: log one op, apply it in shared memory, and publish it to readers
 * once it is durable (at once for writes synced under the lock; after a shared sync for
 * appends, see group-commit.ts).
 *
 * Readers (`read`) get the published view of the context; writers (`write`) the written
 * one. A write that is not a group-committed append leaves nothing unpublished behind: if
 * appends of other tasks are still waiting for their sync when it ends, it syncs and
 * publishes them under its lock, so its own reply never shows a write that is not durable.
 */
export class SlotAccess {
  /** This worker's open log fds (one per slot it appended to). */
  readonly logs: OpenLogs;
  /** The append the current `write` left to sync after its lock is released. */
  private pending: PendingAppend | undefined;

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
    this.pending = undefined;
    try {
      this.checkSlot(at, expected);
      const ctx = new ContextSlot(this.slots, this.arena, at.slot, 'written');
      reply = work(ctx);
      if (this.pending === undefined) this.settle(ctx);
    } catch (err) {
      const claim = (this.pending as PendingAppend | undefined)?.claim;
      if (claim !== undefined) this.slots.releaseSync(at.slot, claim.token);
      this.pending = undefined;
      return this.fail(at, err);
    } finally {
      lock.writeUnlock();
    }
    const pending = this.pending as PendingAppend | undefined;
    this.pending = undefined;
    if (pending?.claim !== undefined) {
      try {
        this.syncAndPublish(pending.slot, pending.claim.token, pending.claim.state, pending);
      } catch (err) {
        return this.fail(at, err);
      }
      // Appends written during that sync wait for the next: syncing them here saves the
      // main thread a dispatch (bounded: this reply waits for it). This append is durable
      // already, so a failure here is theirs (the slot is poisoned), not its.
      try {
        for (let round = 1; round < LEADER_ROUNDS && this.syncNext(at, 0); round++);
      } catch {
        // Reported to the appends that were waiting for it.
      }
    }
    // Unless this thread's sync published it, the main thread holds the reply until the
    // append is published (src/pool/durable-wait.ts).
    return reply();
  }

  /**
   * A `syncLog` task: claims the slot's sync if none is in flight (or takes over from
   * `staleOwner`, a sync that has not ended in time), and makes everything written so far
   * durable and visible. Answers 200 whether or not there was anything to do.
   */
  syncPending(at: SlotRef, staleOwner: number): ArrayBuffer {
    try {
      this.syncNext(at, staleOwner);
    } catch (err) {
      return this.fail(at, err);
    }
    return jsonFrame({ outcome: 'ok' }, undefined);
  }

  /**
   * Claims the slot's sync (from 0, or from `staleOwner`) if anything written is not yet
   * published, then syncs and publishes it. Returns whether it synced.
   */
  private syncNext(at: SlotRef, staleOwner: number): boolean {
    const slot = at.slot;
    if (this.slots.generation(slot) !== at.gen) return false;
    if (this.slots.writtenVersion(slot) <= this.slots.version(slot)) return false;
    const token = this.slots.newSyncToken();
    if (!this.slots.claimSync(slot, token, staleOwner)) return false;
    try {
      const lock = this.slots.lock(slot);
      lock.readLock(this.options.lockTimeoutMs);
      let pending: PendingAppend;
      let state: WrittenState;
      try {
        this.checkSlot(at, SlotStatus.Ready);
        const ctx = new ContextSlot(this.slots, this.arena, slot, 'written');
        state = captureWritten(this.slots, ctx);
        pending = { slot, gen: at.gen, id: ctx.meta().id, log: this.logs.handle(slot) };
      } finally {
        lock.readUnlock();
      }
      if (state.version <= this.slots.version(slot)) return false;
      this.syncAndPublish(slot, token, state, pending);
      return true;
    } finally {
      this.slots.releaseSync(slot, token);
    }
  }

  /**
   * After the lock is released: fdatasyncs the log (covering every frame written before
   * the call, by any thread) and publishes `state` under a short write lock. A failed sync
   * cuts the log back to what is durable and poisons the slot. Releases the sync claim.
   */
  private syncAndPublish(
    slot: number,
    token: number,
    state: WrittenState,
    pending: PendingAppend,
  ): void {
    try {
      try {
        this.storage.syncLog(pending.id, pending.log, state.version);
      } catch (err) {
        this.rollBack(pending);
        throw err;
      }
      const lock = this.slots.lock(slot);
      try {
        lock.writeLock(this.options.lockTimeoutMs);
      } catch {
        // Durable but not published: the waiting appends ask for another sync, which
        // publishes it.
        return;
      }
      try {
        if (this.slots.status(slot) === SlotStatus.Ready) {
          publishWritten(
            this.slots,
            new ContextSlot(this.slots, this.arena, slot, 'written'),
            state,
          );
        }
      } finally {
        lock.writeUnlock();
      }
    } finally {
      this.slots.releaseSync(slot, token);
    }
  }

  /**
   * A sync failed: frames written since the published version may not be on disk (and a
   * later fdatasync may not say so), so none of them may ever be acknowledged or shown.
   * Cuts the log back to the published length and poisons the slot: it is reloaded from
   * storage, and every append still waiting fails.
   */
  private rollBack(pending: PendingAppend): void {
    const lock = this.slots.lock(pending.slot);
    let locked = true;
    try {
      lock.writeLock(this.options.lockTimeoutMs);
    } catch {
      locked = false; // poison at least; the reload's sync judges what is left
    }
    try {
      if (this.slots.generation(pending.slot) !== pending.gen) return;
      this.poisonAfterFailedSync(pending.slot, pending.id, pending.log, locked);
    } finally {
      if (locked) lock.writeUnlock();
    }
  }

  private poisonAfterFailedSync(slot: number, id: string, log: LogHandle, locked: boolean): void {
    if (locked && this.slots.status(slot) === SlotStatus.Ready) {
      this.cutQuietly(id, log, this.slots.durableLogBytes(slot));
    }
    this.slots.setStatus(slot, SlotStatus.Poisoned);
    this.slots.signalSync(slot);
  }

  private cutQuietly(id: string, log: LogHandle, length: number): void {
    try {
      this.storage.cutLog(id, log, length);
    } catch {
      // The sync's error is what is reported; load() judges what is left.
    }
  }

  /**
   * Under the write lock: makes every written but unpublished write durable (one inline
   * fdatasync) and publishes it. Nothing to do, the usual case, costs two atomic reads.
   */
  private settle(ctx: ContextSlot): void {
    const slot = ctx.slot;
    const written = this.slots.writtenVersion(slot);
    if (written <= this.slots.version(slot) || this.slots.status(slot) !== SlotStatus.Ready) {
      return;
    }
    const id = ctx.meta().id;
    const log = this.logs.handle(slot);
    try {
      this.storage.syncLog(id, log, written);
    } catch (err) {
      this.poisonAfterFailedSync(slot, id, log, true);
      throw err;
    }
    publishAll(this.slots, ctx);
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
    const stamp = { version: this.slots.writtenVersion(slot) + 1, updatedAt: op.at };
    const summary = summaryOf(after, activeCount, stamp);
    const log = this.logs.handle(slot);
    const pendingBefore = this.slots.writtenVersion(slot) > this.slots.version(slot);
    const frameBytes = this.storage.writeLog(meta.id, stamp.version, op, summary, log);
    const grouped = (this.options.groupCommit ?? true) && op.t === 'append';
    if (!grouped) this.syncUnderLock(slot, meta.id, log, stamp.version, pendingBefore);
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
    const growth = {
      logBytes: this.slots.logBytes(slot) + frameBytes,
      logRecords: this.slots.logRecords(slot) + 1,
      snapshotBytes: this.slots.snapshotBytes(slot),
    };
    this.setLogGrowth(slot, growth);
    const compact = compactionDue(growth, this.options.compaction);
    if (grouped && compact) this.syncUnderLock(slot, meta.id, log, stamp.version, true);
    if (grouped && !compact) {
      this.pending = this.pendingAppend(ctx, meta.id, log);
    } else {
      publishAll(this.slots, ctx);
    }
    if (compact) this.compact(ctx, after, stamp, summary, log);
    return { stamp, meta: after, summary };
  }

  /**
   * fdatasyncs the log under the write lock (today's commit path). If it fails, the log is
   * cut back to what is durable; if appends of other tasks were pending, memory holds
   * them, so the slot is poisoned too.
   */
  private syncUnderLock(
    slot: number,
    id: string,
    log: LogHandle,
    version: number,
    pendingBefore: boolean,
  ): void {
    try {
      this.storage.syncLog(id, log, version);
    } catch (err) {
      if (pendingBefore) this.poisonAfterFailedSync(slot, id, log, true);
      else this.cutQuietly(id, log, this.slots.durableLogBytes(slot));
      throw err;
    }
  }

  /** Registers an append for syncing after the lock, claiming the sync if none runs. */
  private pendingAppend(ctx: ContextSlot, id: string, log: LogHandle): PendingAppend {
    const slot = ctx.slot;
    const pending: PendingAppend = { slot, gen: this.slots.generation(slot), id, log };
    const token = this.slots.newSyncToken();
    if (this.slots.claimSync(slot, token)) {
      pending.claim = { token, state: captureWritten(this.slots, ctx) };
    }
    return pending;
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

  /**
   * Records what the slot's log holds since its snapshot, and the snapshot's size. With
   * nothing pending the log is durable as it stands (a load, a create, a compaction).
   */
  setLogGrowth(
    slot: number,
    growth: { logBytes: number; logRecords: number; snapshotBytes: number },
  ): void {
    this.slots.setLogBytes(slot, growth.logBytes);
    this.slots.setLogRecords(slot, growth.logRecords);
    this.slots.setSnapshotBytes(slot, growth.snapshotBytes);
    if (this.slots.writtenVersion(slot) === this.slots.version(slot)) {
      this.slots.setDurableLogBytes(slot, growth.logBytes);
    }
  }

  /**
   * Sets the version and update time of a write made without `commit` (a create, a load,
   * a state kept in memory only), written and published at once; appends still pending
   * are synced and published first, so nothing undurable becomes visible with it.
   * Call under the write lock.
   */
  setStamp(slot: number, stamp: Stamp): void {
    const ctx = new ContextSlot(this.slots, this.arena, slot, 'written');
    this.settle(ctx);
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
