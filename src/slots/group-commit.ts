import type { Ref } from '../shm/arena.js';
import type { SlotTable } from '../shm/slot-table.js';
import type { ContextSlot } from './context-slot.js';

/**
 * Group commit: how an append becomes durable without holding the context's write lock
 * across its fdatasync, and becomes visible to readers only once it is durable.
 *
 * Under the write lock an append writes its log frame (one write(2), so log order is
 * memory order), applies it in shared memory and moves the slot's WRITTEN words; readers
 * still see the PUBLISHED ones (slot VERSION, UPDATED_AT and each branch's PUBLISHED
 * length), so the new message, count, version and ETag stay invisible. Then one thread
 * claims the slot's sync (SYNC_OWNER, by compare-exchange), captures the written state
 * (`WrittenState`, under a lock, so it is one consistent version), releases the lock,
 * fdatasyncs the log (any fd of the file syncs every frame written before the call), and
 * publishes the captured state under a short write lock. Every append written meanwhile
 * is covered by the next sync: appends that arrive while a sync is in flight share one.
 *
 * Who syncs: an append that finds no sync in flight claims it and syncs in its own task
 * (one append alone costs what it did before: one write, one fdatasync). An append that
 * finds one in flight returns at once, and the main thread holds its 201 until the slot's
 * published version reaches it (src/pool/durable-wait.ts): waiting with Atomics.waitAsync
 * on SYNC_EVENTS, and, when no sync is in flight (or the one in flight is stale: its
 * thread died or hangs), asking a worker for one (`syncLog` task). Every wait has a
 * deadline: past it the append answers 503 and its frame is synced by the next sync.
 *
 * A sync that fails cuts the log back to DURABLE_LOG_BYTES (the length at the published
 * version) and poisons the slot, so no later append is acknowledged on top of frames
 * that may not be on disk, and the context is reloaded from what storage holds.
 */

/** The written state of a slot at one version: what a sync makes durable, then publishes. */
export interface WrittenState {
  gen: number;
  version: number;
  updatedAt: number;
  /** The log's length at `version`. */
  logBytes: number;
  /** The branch table the lengths are for (only a write under lock can replace it). */
  branchesRef: Ref;
  lengths: number[];
}

/** Captures the written state. Call under the slot's read or write lock. */
export function captureWritten(slots: SlotTable, ctx: ContextSlot): WrittenState {
  const slot = ctx.slot;
  return {
    gen: slots.generation(slot),
    version: slots.writtenVersion(slot),
    updatedAt: slots.writtenAt(slot),
    logBytes: slots.logBytes(slot),
    branchesRef: slots.branchesRef(slot),
    lengths: ctx.writtenLengths(),
  };
}

/**
 * Publishes `state` (now durable) if it is newer than what readers see and the slot still
 * holds that occupant. Call under the slot's write lock. Returns whether it published.
 */
export function publishWritten(slots: SlotTable, ctx: ContextSlot, state: WrittenState): boolean {
  const slot = ctx.slot;
  if (slots.generation(slot) !== state.gen || state.version <= slots.version(slot)) return false;
  // The table is replaced only under a lock held across its sync, which publishes all.
  if (slots.branchesRef(slot) !== state.branchesRef) return false;
  ctx.publishLengths(state.lengths);
  slots.setUpdatedAt(slot, state.updatedAt);
  slots.setDurableLogBytes(slot, state.logBytes);
  slots.setVersion(slot, state.version);
  slots.signalSync(slot);
  return true;
}

/** Publishes everything written (it is durable). Call under the slot's write lock. */
export function publishAll(slots: SlotTable, ctx: ContextSlot): void {
  const slot = ctx.slot;
  ctx.publishLengths();
  slots.setUpdatedAt(slot, slots.writtenAt(slot));
  slots.setDurableLogBytes(slot, slots.logBytes(slot));
  slots.setVersion(slot, slots.writtenVersion(slot));
  slots.signalSync(slot);
}
