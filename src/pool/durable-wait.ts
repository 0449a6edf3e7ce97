import { failureReply, type ReplyHead } from '../protocol/reply-frame.js';
import { notDurable, TaskError } from '../protocol/task-error.js';
import { SlotStatus, type SlotTable } from '../shm/slot-table.js';

type Outcome = 'durable' | 'gone' | 'failed' | 'timeout';

/** Pause before asking again for a sync that did not happen. */
const RETRY_MS = 10;

/**
 * The main thread's side of group commit (src/slots/group-commit.ts): an append's 201 is
 * sent only once the slot's published version has reached the append's version, i.e. its
 * log frame is fdatasynced. A worker that synced the append itself replies after
 * publishing it, so the check passes at once; an append that found another sync in flight
 * is held here, without blocking the event loop (Atomics.waitAsync on SYNC_EVENTS).
 *
 * When no sync is in flight and the append is still not durable, or the sync in flight
 * has held the slot longer than `takeoverMs` (its thread died or its disk hangs), this
 * asks a worker for a sync (`requestSync`, one at a time per slot), taking over from the
 * stale one. Past `timeoutMs` (LOCK_TIMEOUT_MS) the append answers 503 `lock_timeout`,
 * the code of every deadline of a context's lock; unlike a lock wait's, its frame is in
 * the log and becomes durable (and visible) with the next sync. A slot poisoned by a failed sync answers 500 `storage_error`;
 * a slot vacated meanwhile (the context was deleted) 404.
 */
export class DurableWait {
  private readonly requested = new Map<number, Promise<unknown>>();
  private readonly takeoverMs: number;

  constructor(
    private readonly slots: SlotTable,
    private readonly timeoutMs: number,
    private readonly requestSync: (
      slot: number,
      gen: number,
      staleOwner: number,
    ) => Promise<unknown>,
  ) {
    this.takeoverMs = Math.max(50, Math.min(1000, timeoutMs / 4));
  }

  /** `reply` once the slot's version `reply.head.version` is durable, or the error that stands for it. */
  async settle<R extends { head: ReplyHead }>(
    slot: number,
    gen: number,
    reply: R,
  ): Promise<R | ReturnType<typeof failureReply>> {
    const version = reply.head.version;
    if (version === undefined) return reply;
    const outcome = this.check(slot, gen, version) ?? (await this.wait(slot, gen, version));
    switch (outcome) {
      case 'durable':
        return reply;
      case 'gone':
        return failureReply(new TaskError('not_found', 'context not found'));
      case 'failed':
        return failureReply(notDurable());
      case 'timeout':
        return failureReply(
          new TaskError('lock_timeout', 'the write was not made durable in time; try again'),
        );
    }
  }

  private check(slot: number, gen: number, version: number): Outcome | undefined {
    const durable = this.slots.version(slot) >= version;
    // Read after VERSION: a slot vacated and reoccupied meanwhile has moved its generation.
    if (this.slots.generation(slot) !== gen) return 'gone';
    if (durable) return 'durable';
    if (this.slots.status(slot) !== SlotStatus.Ready) return 'failed';
    return undefined;
  }

  private async wait(slot: number, gen: number, version: number): Promise<Outcome> {
    const deadline = performance.now() + this.timeoutMs;
    let owner = 0;
    let ownerSince = 0;
    for (;;) {
      const events = this.slots.syncEvents(slot);
      const outcome = this.check(slot, gen, version);
      if (outcome !== undefined) return outcome;
      const now = performance.now();
      if (now >= deadline) return 'timeout';
      const current = this.slots.syncOwner(slot);
      if (current !== owner) {
        owner = current;
        ownerSince = now;
      }
      let waitMs = Math.min(deadline - now, this.takeoverMs);
      if (current === 0 || now - ownerSince >= this.takeoverMs) {
        await this.sync(slot, gen, current);
        ownerSince = performance.now();
        // A request that changed nothing (the pool saturated, the lock busy) is retried
        // after a short pause, not in a loop.
        waitMs = Math.min(deadline - ownerSince, RETRY_MS);
        if (waitMs <= 0) continue;
      }
      const wait = Atomics.waitAsync(
        this.slots.i32,
        this.slots.syncEventsIndex(slot),
        events,
        waitMs,
      );
      if (wait.async) await wait.value;
    }
  }

  /** One sync request per slot at a time; its failure is seen through the slot's words. */
  private sync(slot: number, gen: number, staleOwner: number): Promise<unknown> {
    let request = this.requested.get(slot);
    if (request === undefined) {
      request = this.requestSync(slot, gen, staleOwner)
        .catch(() => undefined)
        .finally(() => this.requested.delete(slot));
      this.requested.set(slot, request);
    }
    return request;
  }
}
