import type { SlotTable } from '../shm/slot-table.js';
import type { ContextStorage, LogHandle } from '../storage/types.js';

/**
 * The log fds one worker thread keeps open between appends: at most one per slot, for the
 * slot generation (occupant) it was opened for. Each worker has its own: Node closes a
 * worker's fds when its thread ends, so an fd number must never outlive the thread that
 * opened it in shared memory.
 *
 * Closed when their slot is vacated: at once by the worker that evicts or deletes, and by
 * every other worker at the start of its next task (`sweep`, O(1) unless some slot was
 * vacated; an idle piscina worker sleeps in Atomics.wait, so it cannot act sooner, and the
 * pool has no broadcast to wake it: until then a deleted log's blocks stay allocated, see
 * docs/storage.md "Open log files"). And a worker keeps at most `maxOpen` (the least
 * recently used is closed; its context reopens its log at its next append). So a worker
 * holds at most min(slots, maxOpen) log fds, and the process WORKERS times that.
 * Nothing closes them at shutdown: every append was fdatasynced before it was answered,
 * and Node closes a worker's fds when its thread ends.
 *
 * Several workers may hold fds on one log: appends are serialised by the context's write
 * lock and use O_APPEND, so each lands at the current end whichever fd wrote or truncated
 * before; fdatasync syncs the file, whichever fd it is called on, which is what lets one
 * worker's sync make the frames other workers wrote durable (group commit,
 * slots/group-commit.ts). A worker that syncs a log it never appended to (a `syncLog`
 * task) opens its fd here too, under the slot's read lock. The log is never renamed
 * or replaced while its context is resident (compaction truncates it in place), so every
 * fd kept for a live generation points at the current file.
 */
export const MAX_OPEN_LOGS_PER_WORKER = 256;

export class OpenLogs {
  /** By slot, least recently used first (a Map keeps insertion order). */
  private readonly kept = new Map<number, { gen: number; handle: LogHandle }>();
  private sweptAt: number;

  constructor(
    private readonly slots: SlotTable,
    private readonly storage: ContextStorage,
    private readonly maxOpen = MAX_OPEN_LOGS_PER_WORKER,
  ) {
    this.sweptAt = slots.vacates();
  }

  /** Open log fds this worker holds. */
  get size(): number {
    return this.kept.size;
  }

  /**
   * The handle of `slot`'s log for its current occupant. Call under the slot's lock (the
   * write lock to append; the read lock suffices to sync).
   */
  handle(slot: number): LogHandle {
    const gen = this.slots.generation(slot);
    const kept = this.kept.get(slot);
    if (kept !== undefined) {
      if (kept.gen === gen) {
        this.kept.delete(slot); // now the most recently used
        this.kept.set(slot, kept);
        return kept.handle;
      }
      this.close(slot); // kept for an earlier occupant of the slot
    }
    if (this.kept.size >= this.maxOpen) this.close(this.kept.keys().next().value!);
    const entry = { gen, handle: { fd: -1 } };
    this.kept.set(slot, entry);
    return entry.handle;
  }

  /** Closes this worker's fd of `slot`'s log, if it holds one. */
  close(slot: number): void {
    const kept = this.kept.get(slot);
    if (kept === undefined) return;
    this.kept.delete(slot);
    this.storage.closeLog(kept.handle);
  }

  /** Closes the fds kept for slots vacated (by any worker) since the last sweep. */
  sweep(): void {
    const vacates = this.slots.vacates();
    if (vacates === this.sweptAt) return;
    // Read before the generations: a slot vacated meanwhile moves the count again.
    this.sweptAt = vacates;
    for (const [slot, kept] of this.kept) {
      if (this.slots.generation(slot) !== kept.gen) this.close(slot);
    }
  }
}
