import type { Arena } from '../shm/arena.js';
import { SlotStatus, type SlotTable } from '../shm/slot-table.js';
import type { ContextStorage, LogHandle } from '../storage/types.js';
import { ContextSlot } from './context-slot.js';
import { captureWritten, publishAll, publishWritten, type WrittenState } from './group-commit.js';
import type { OpenLogs } from './open-logs.js';
import { checkSlot, type SlotRef } from './slot-ref.js';

/** An append written under the lock whose sync happens after the lock is released. */
export interface PendingAppend {
  slot: number;
  gen: number;
  id: string;
  log: LogHandle;
  /** Set when this thread claimed the slot's sync: its token and what it will publish. */
  claim?: { token: number; state: WrittenState };
}

/**
 * A worker's side of making a slot's log writes durable and then visible (the protocol is
 * described in group-commit.ts): claiming the slot's sync, fdatasyncing outside the lock
 * and publishing under a short one, syncing under the lock for writes that do not group,
 * and cutting the log back and poisoning the slot when a sync fails.
 */
export class LogSync {
  constructor(
    private readonly slots: SlotTable,
    private readonly arena: Arena,
    private readonly storage: ContextStorage,
    private readonly logs: OpenLogs,
    private readonly lockTimeoutMs: number,
  ) {}

  /** Registers an append for syncing after the lock, claiming the sync if none runs. */
  pendingAppend(ctx: ContextSlot, id: string, log: LogHandle): PendingAppend {
    const slot = ctx.slot;
    const pending: PendingAppend = { slot, gen: this.slots.generation(slot), id, log };
    const token = this.slots.newSyncToken();
    if (this.slots.claimSync(slot, token)) {
      pending.claim = { token, state: captureWritten(this.slots, ctx) };
    }
    return pending;
  }

  /** Gives up the sync `pending` claimed (its write failed before the lock was released). */
  abandon(pending: PendingAppend | undefined): void {
    if (pending?.claim !== undefined) this.slots.releaseSync(pending.slot, pending.claim.token);
  }

  /**
   * After the write lock is released: if `pending` claimed the slot's sync, syncs and
   * publishes it (throwing if that fails). Appends written during that sync are left to the
   * next one, which the main thread asks for (a `syncLog` task): syncing them here too held
   * this reply for a second fdatasync, and measured slower (fewer appends per sync, more
   * CPU per append) than the extra dispatch.
   */
  syncAfterUnlock(pending: PendingAppend): void {
    if (pending.claim === undefined) return;
    this.syncAndPublish(pending.claim.token, pending.claim.state, pending);
  }

  /**
   * Claims the slot's sync (from 0, or from `staleOwner`) if anything written is not yet
   * published, then syncs and publishes it. Returns whether it synced.
   */
  syncNext(at: SlotRef, staleOwner: number): boolean {
    const slot = at.slot;
    if (this.slots.generation(slot) !== at.gen) return false;
    if (this.slots.writtenVersion(slot) <= this.slots.version(slot)) return false;
    const token = this.slots.newSyncToken();
    if (!this.slots.claimSync(slot, token, staleOwner)) return false;
    try {
      const lock = this.slots.lock(slot);
      lock.readLock(this.lockTimeoutMs);
      let pending: PendingAppend;
      let state: WrittenState;
      try {
        checkSlot(this.slots, at, SlotStatus.Ready);
        const ctx = new ContextSlot(this.slots, this.arena, slot, 'written');
        state = captureWritten(this.slots, ctx);
        pending = { slot, gen: at.gen, id: ctx.meta().id, log: this.logs.handle(slot) };
      } finally {
        lock.readUnlock();
      }
      if (state.version <= this.slots.version(slot)) return false;
      this.syncAndPublish(token, state, pending);
      return true;
    } finally {
      this.slots.releaseSync(slot, token);
    }
  }

  /**
   * Under the write lock: makes every written but unpublished write durable (one inline
   * fdatasync) and publishes it. Nothing to do, the usual case, costs two atomic reads.
   */
  settle(ctx: ContextSlot): void {
    const slot = ctx.slot;
    const written = this.slots.writtenVersion(slot);
    if (written <= this.slots.version(slot) || this.slots.status(slot) !== SlotStatus.Ready) {
      return;
    }
    this.syncUnderLock(slot, ctx.meta().id, this.logs.handle(slot), written, true);
    publishAll(this.slots, ctx);
  }

  /**
   * fdatasyncs the log under the write lock (the commit path without group commit). If it
   * fails, the log is cut back to what is durable; if appends of other tasks were pending,
   * memory holds them, so the slot is poisoned too.
   */
  syncUnderLock(
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

  /**
   * After the lock is released: fdatasyncs the log (covering every frame written before
   * the call, by any thread) and publishes `state` under a short write lock. A failed sync
   * cuts the log back to what is durable and poisons the slot. Releases the sync claim.
   */
  private syncAndPublish(token: number, state: WrittenState, pending: PendingAppend): void {
    const slot = pending.slot;
    try {
      try {
        this.storage.syncLog(pending.id, pending.log, state.version);
      } catch (err) {
        this.rollBack(pending);
        throw err;
      }
      const lock = this.slots.lock(slot);
      try {
        lock.writeLock(this.lockTimeoutMs);
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
      lock.writeLock(this.lockTimeoutMs);
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
}
