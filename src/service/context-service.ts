import { randomUUID } from 'node:crypto';
import type { HeldAnswer } from '../cache/answer-cache.js';
import { ContextGoneError, type Lease, type ResidentSet } from '../cache/resident-set.js';
import type { SummaryIndex } from '../catalog/summary-index.js';
import { AppError, notFound } from '../errors.js';
import { publishChanges } from '../events/change-publisher.js';
import type { EventHub } from '../events/event-hub.js';
import type { ContextConfig } from '../model/types.js';
import type { ContextPool, Reply } from '../pool/context-pool.js';
import type { Task } from '../protocol/tasks.js';
import type { ReadQuery } from '../slots/reads.js';
import type { MainThreadReads } from './main-thread-reads.js';

type SlotFields = 'slot' | 'gen' | 'traceId';
/** A task without its slot fields, which the service fills in from the lease. */
export type ContextTask = Task extends infer T
  ? T extends Task
    ? Omit<T, SlotFields>
    : never
  : never;

/**
 * The main thread's route to a context: existence from the summary index, a pinned slot
 * from the resident set, the work on a worker, and the index and the live events kept in
 * step with each committed write (this is the one place committed changes are published:
 * the engine adds only streamed text). Nothing here blocks.
 *
 * A context whose files fail validation when loaded answers `storage_corrupt` (500) and is
 * marked unreadable in the index: it still exists (later requests answer `storage_corrupt`
 * again, re-checking the files, never 404), but the listing leaves it out. Its files are
 * never changed; a context restored by hand reappears in the listing at its next write or
 * at the next start. A context whose files vanished (load finds no snapshot) leaves the
 * index.
 */
export class ContextService {
  constructor(
    private readonly pool: ContextPool,
    private readonly residents: ResidentSet,
    private readonly index: SummaryIndex,
    /** Live events: every committed change the workers report is published here. */
    private readonly events: EventHub,
    /** Serves reads on the main thread when the read lock is free at once (try-lock). */
    private readonly mainThreadReads?: MainThreadReads,
  ) {}

  /** Creates a context under a new id; returns the id and the worker's reply. */
  async create(config: ContextConfig, traceId: string): Promise<{ id: string; reply: Reply }> {
    const id = randomUUID();
    const reply = await this.residents.create(id, (lease) =>
      this.pool.run({ op: 'create', id, config, slot: lease.slot, gen: lease.gen, traceId }),
    );
    if (reply.head.summary) this.index.put(reply.head.summary);
    return { id, reply };
  }

  async run(id: string, traceId: string, task: ContextTask): Promise<Reply> {
    if (!this.index.has(id)) throw notFound(`context ${id} not found`);
    const lease = this.residents.tryAcquire(id) ?? (await this.acquire(id));
    try {
      if (this.mainThreadReads !== undefined && isRead(task)) {
        const served = this.mainThreadReads.tryRead(lease.slot, lease.gen, task);
        if (served !== undefined) return served;
      }
      const reply = await this.pool.run({
        ...task,
        slot: lease.slot,
        gen: lease.gen,
        traceId,
      } as Task);
      if (reply.head.summary !== undefined || reply.head.gone)
        this.mainThreadReads?.changed(lease.slot);
      if (reply.head.summary) this.index.put(reply.head.summary);
      // The worker found this copy unusable: the next request reloads it from storage.
      if (reply.head.code === 'context_poisoned') this.residents.invalidate(lease);
      if (reply.head.gone) {
        this.index.remove(id);
        this.residents.forget(id);
      }
      publishChanges(this.events, id, reply);
      return reply;
    } finally {
      lease.release();
    }
  }

  /**
   * The answer to a read of context `id` when the answer cache holds it and the context is
   * resident: no wait, no lock, no dispatch. Undefined otherwise, with nothing counted
   * (the caller then goes through `run`); a hit counts as `run` counts it.
   */
  cachedRead(id: string, query: ReadQuery): HeldAnswer | undefined {
    if (this.mainThreadReads === undefined || !this.index.has(id)) return undefined;
    const lease = this.residents.tryAcquire(id);
    if (lease === undefined) return undefined;
    try {
      return this.mainThreadReads.cached(lease.slot, lease.gen, query);
    } finally {
      lease.release();
    }
  }

  private async acquire(id: string): Promise<Lease> {
    try {
      return await this.residents.acquire(id);
    } catch (err) {
      if (err instanceof ContextGoneError) this.index.remove(id);
      else if (err instanceof AppError && err.code === 'storage_corrupt') {
        this.index.markUnreadable(id, err.message);
      }
      throw err;
    }
  }
}

function isRead(task: ContextTask): task is ReadQuery & ContextTask {
  return task.op === 'getContext' || task.op === 'getState' || task.op === 'listMessages';
}
