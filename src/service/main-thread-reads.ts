import { AppError } from '../errors.js';
import type { Reply } from '../pool/context-pool.js';
import { errorFrame, readFrame } from '../protocol/reply-frame.js';
import type { Arena } from '../shm/arena.js';
import { SlotStatus, type SlotTable } from '../shm/slot-table.js';
import { ContextSlot } from '../slots/context-slot.js';
import { type ReadQuery, readWork } from '../slots/reads.js';
import type { DeferredReply } from '../slots/slot-access.js';

/**
 * Reads served on the main thread, allowed for cheap reads because the benchmark shows them
 * faster (docs/benchmarks.md), and only with a try-lock: the main thread never waits. If the context's read lock cannot be taken
 * at once (a writer holds it or is waiting for it), or the slot is not as the lease says,
 * the answer is `undefined` and the caller dispatches the read to a worker as usual.
 *
 * A page of messages is then one copy of the page's records into the reply buffer, with
 * no postMessage, no transfer and no worker wake-up in between.
 */
export class MainThreadReads {
  constructor(
    private readonly slots: SlotTable,
    private readonly arena: Arena,
    /** Called after each read served here, to publish the work it did. */
    private readonly afterRead: (op: ReadQuery['op']) => void = () => {},
  ) {}

  tryRead(slot: number, gen: number, query: ReadQuery): Reply | undefined {
    const lock = this.slots.lock(slot);
    if (!lock.tryRead()) return undefined;
    let reply: DeferredReply;
    try {
      if (this.slots.generation(slot) !== gen || this.slots.status(slot) !== SlotStatus.Ready) {
        return undefined;
      }
      try {
        reply = readWork(new ContextSlot(this.slots, this.arena, slot), query);
      } catch (err) {
        if (!(err instanceof AppError)) return undefined; // let a worker handle and log it
        reply = () => errorFrame(err);
      }
    } finally {
      lock.readUnlock();
    }
    const frame = readFrame(reply());
    this.afterRead(query.op);
    return frame;
  }
}
