import type { ContextMeta } from '../model/types.js';
import type { SlotTable } from '../shm/slot-table.js';
import type { ContextStorage, ContextSummary, LogHandle } from '../storage/types.js';
import type { ContextSlot } from './context-slot.js';
import type { Stamp } from './dto.js';
import { captureSnapshot } from './snapshot.js';

/** What a slot's log holds since its snapshot (bytes, records), and the snapshot's size. */
export interface LogGrowth {
  logBytes: number;
  logRecords: number;
  snapshotBytes: number;
}

/**
 * Records a slot's log growth. With nothing pending the log is durable as it stands (a
 * load, a create, a compaction), so its durable length moves too. Call under the write lock.
 */
export function recordLogGrowth(slots: SlotTable, slot: number, growth: LogGrowth): void {
  slots.setLogBytes(slot, growth.logBytes);
  slots.setLogRecords(slot, growth.logRecords);
  slots.setSnapshotBytes(slot, growth.snapshotBytes);
  if (slots.writtenVersion(slot) === slots.version(slot)) {
    slots.setDurableLogBytes(slot, growth.logBytes);
  }
}

/** The slot's log growth once one more frame of `frameBytes` is written. */
export function growthAfterFrame(slots: SlotTable, slot: number, frameBytes: number): LogGrowth {
  return {
    logBytes: slots.logBytes(slot) + frameBytes,
    logRecords: slots.logRecords(slot) + 1,
    snapshotBytes: slots.snapshotBytes(slot),
  };
}

/**
 * Folds the slot's log into a new snapshot. Storage leaves the old snapshot or the new
 * one, and the log whole or emptied, so whatever failed the context still loads as it is.
 * Call under the write lock, with nothing pending.
 */
export function compactLog(
  slots: SlotTable,
  storage: ContextStorage,
  ctx: ContextSlot,
  committed: { meta: ContextMeta; stamp: Stamp; summary: ContextSummary },
  log: LogHandle,
): void {
  const { meta, stamp, summary } = committed;
  const snapshot = captureSnapshot(ctx, meta, stamp.version, stamp.updatedAt);
  const snapshotBytes = storage.compact(meta.id, snapshot, summary, log);
  recordLogGrowth(slots, ctx.slot, { logBytes: 0, logRecords: 0, snapshotBytes });
}
