import { LRUCache } from 'lru-cache';
import { AppError, serviceUnavailable } from '../errors.js';
import { type ContextPool, errorOf, isFailure } from '../pool/context-pool.js';
import { SlotStatus, type SlotTable } from '../shm/slot-table.js';

/** A pinned use of a resident context's slot; `release()` exactly once. */
export interface Lease {
  readonly id: string;
  readonly slot: number;
  readonly gen: number;
  release(): void;
}

interface Resident {
  id: string;
  slot: number;
  gen: number;
  /** In-flight requests using the slot; a pinned resident is never evicted. */
  pins: number;
  /** Settles when the context is in memory (load or create finished). */
  ready: Promise<void>;
  /** Deleted: the slot is freed when the last pin drops. */
  gone: boolean;
  /** Its copy in memory is unusable (poisoned): evicted when the last pin drops. */
  stale?: boolean;
}

/** The context is not in storage (any more): the caller may drop it from its index. */
export class ContextGoneError extends AppError {
  constructor() {
    super(404, 'not_found', 'context not found');
  }
}

/** What the resident set needs of the worker pool (a fake in unit tests). */
export type TaskRunner = Pick<ContextPool, 'run'>;

export interface ResidentSetOptions {
  maxBytes: number;
  /** Shared-memory bytes in use, read without blocking (the arena's counter). */
  usedBytes: () => number;
  /**
   * How long a request may wait for a slot when every slot holds a pinned context (then it
   * answers 503 `overloaded`). Default 5000.
   */
  slotWaitMs?: number;
  /** Delay before retrying a failed byte-bound eviction. Default 50. */
  retryTrimMs?: number;
  traceId?: string;
}

/** Running totals of the resident set, for /metrics and /health. */
export interface ResidentStats {
  /** Contexts resident and ready (in the LRU). */
  resident: number;
  /** Slots holding a context, including ones being loaded, created or evicted. */
  slotsInUse: number;
  slots: number;
  /** Load tasks dispatched (one per miss, however many requests missed together). */
  loads: number;
  loadFailures: number;
  evictions: number;
  evictionFailures: number;
  /** Copies dropped because a worker found them poisoned (see `invalidate`). */
  invalidations: number;
  /** Requests that found every slot pinned and waited for one; and those that gave up. */
  slotWaits: number;
  slotWaitTimeouts: number;
}

/**
 * The resident set: which contexts are in shared memory, in which slot, in LRU order. It is
 * owned by the main thread alone (this is the "cache" of the lock order cache → context:
 * being single-threaded, it is never held across a context lock wait or I/O).
 *
 * - A miss loads the context into a free slot once, however many requests miss together;
 *   a request for a context that is being evicted waits for the eviction, then loads it
 *   (never two copies of one context in two slots).
 * - Every request pins its slot for its whole duration; eviction only takes unpinned
 *   contexts, least recently used first, so no reader ever loses its slot. When every slot
 *   is pinned, a request needing a slot waits (up to `slotWaitMs`) for a pin to drop.
 * - The set is bounded by count (one context a slot) and by shared-memory bytes: after a
 *   request, idle contexts are evicted while the arena holds more than `maxBytes`.
 */
export class ResidentSet {
  private readonly lru: LRUCache<string, Resident>;
  private readonly loading = new Map<string, Resident>();
  /** Contexts whose eviction is in flight, and when it settles. */
  private readonly evicting = new Map<string, Promise<void>>();
  private readonly freeSlots: number[];
  /** Requests waiting for a slot: woken whenever a slot is freed or a pin drops to 0. */
  private slotWaiters: (() => void)[] = [];
  private trimming = false;
  private trimTimer: NodeJS.Timeout | undefined;
  private readonly counters = {
    loads: 0,
    loadFailures: 0,
    evictions: 0,
    evictionFailures: 0,
    invalidations: 0,
    slotWaits: 0,
    slotWaitTimeouts: 0,
  };

  constructor(
    private readonly slots: SlotTable,
    private readonly pool: TaskRunner,
    private readonly options: ResidentSetOptions,
  ) {
    this.lru = new LRUCache<string, Resident>({ max: slots.count });
    this.freeSlots = Array.from({ length: slots.count }, (_, i) => slots.count - 1 - i);
  }

  stats(): ResidentStats {
    return {
      resident: this.lru.size,
      slotsInUse: this.slots.count - this.freeSlots.length,
      slots: this.slots.count,
      ...this.counters,
    };
  }

  /** Pins `id`'s slot, loading the context from storage if it is not resident. */
  async acquire(id: string): Promise<Lease> {
    for (;;) {
      const evicting = this.evicting.get(id);
      if (evicting !== undefined && !this.lru.has(id)) {
        // Its slot is being emptied: wait, then load it afresh (or find it put back).
        await evicting;
        continue;
      }
      const resident = this.lru.get(id) ?? this.loading.get(id) ?? this.startLoad(id);
      resident.pins++;
      try {
        await resident.ready;
      } catch (err) {
        this.unpin(resident);
        throw err;
      }
      return this.lease(resident);
    }
  }

  /**
   * The lease of a context that is resident and not being evicted, taken at once (no
   * promise to wait on: most reads find their context resident); undefined otherwise, and
   * the caller uses `acquire`.
   */
  tryAcquire(id: string): Lease | undefined {
    if (this.evicting.has(id)) return undefined;
    const resident = this.lru.get(id);
    if (resident === undefined) return undefined;
    resident.pins++;
    return this.lease(resident);
  }

  /**
   * Reserves a free slot for a context about to be created; `run` creates it there.
   * On success the context joins the set; on failure the slot is freed again.
   */
  async create<T>(id: string, run: (lease: Lease) => Promise<T>): Promise<T> {
    const slot = await this.takeSlot();
    let settle!: (ok: boolean) => void;
    const resident: Resident = {
      id,
      slot,
      gen: this.slots.generation(slot),
      pins: 1,
      ready: new Promise<void>((resolve, reject) => {
        settle = (ok) =>
          ok ? resolve() : reject(new AppError(404, 'not_found', 'context not found'));
      }),
      gone: false,
    };
    resident.ready.catch(() => {});
    this.loading.set(id, resident);
    let created = false;
    try {
      const result = await run(this.lease(resident, false));
      created = this.slots.status(slot) === SlotStatus.Ready;
      return result;
    } finally {
      this.loading.delete(id);
      if (created) {
        this.lru.set(id, resident);
        settle(true);
        this.unpin(resident);
      } else {
        resident.pins--;
        this.freeSlot(slot);
        settle(false);
      }
    }
  }

  /** The context was deleted: drop it; its slot is reused once unpinned. */
  forget(id: string): void {
    const resident = this.lru.peek(id);
    if (resident === undefined) return;
    this.lru.delete(id);
    resident.gone = true;
    if (resident.pins === 0) this.freeSlot(resident.slot);
  }

  /**
   * A worker found the leased copy unusable (its slot is poisoned: a write was made durable
   * but not applied, or a thread died holding its lock). The copy leaves the set at once, so
   * the next request loads the context afresh from storage into another slot; this slot is
   * emptied once its last pin drops (retried with a growing delay while that fails).
   */
  invalidate(lease: Lease): void {
    const resident = this.lru.peek(lease.id);
    if (resident === undefined || resident.slot !== lease.slot || resident.gen !== lease.gen) {
      return;
    }
    this.lru.delete(lease.id);
    resident.stale = true;
    this.counters.invalidations++;
    if (resident.pins === 0) this.evictStale(resident, 100);
  }

  private evictStale(resident: Resident, retryMs: number): void {
    this.pool
      .run({ op: 'evict', slot: resident.slot, gen: resident.gen, traceId: 'evictor' })
      .then((reply) => {
        if (isFailure(reply)) throw errorOf(reply);
        this.counters.evictions++;
        this.freeSlot(resident.slot);
      })
      .catch(() => {
        this.counters.evictionFailures++;
        const timer = setTimeout(
          () => this.evictStale(resident, Math.min(retryMs * 2, 30_000)),
          retryMs,
        );
        timer.unref();
      });
  }

  private lease(resident: Resident, counted = true): Lease {
    let released = false;
    return {
      id: resident.id,
      slot: resident.slot,
      gen: resident.gen,
      release: () => {
        if (released) return;
        released = true;
        if (counted) this.unpin(resident);
      },
    };
  }

  private unpin(resident: Resident): void {
    resident.pins--;
    if (resident.pins > 0) return;
    if (resident.gone) {
      this.freeSlot(resident.slot);
      return;
    }
    if (resident.stale) {
      this.evictStale(resident, 100);
      return;
    }
    this.wakeSlotWaiters(); // an evictable context: a waiting request may take its slot
    this.trim();
  }

  private startLoad(id: string): Resident {
    const resident: Resident = {
      id,
      slot: -1,
      gen: 0,
      pins: 0,
      ready: Promise.resolve(),
      gone: false,
    };
    resident.ready = this.load(resident);
    resident.ready.catch(() => {});
    this.loading.set(id, resident);
    return resident;
  }

  private async load(resident: Resident): Promise<void> {
    let loaded = false;
    try {
      resident.slot = await this.takeSlot();
      resident.gen = this.slots.generation(resident.slot);
      this.counters.loads++;
      const reply = await this.pool.run({
        op: 'load',
        id: resident.id,
        slot: resident.slot,
        gen: resident.gen,
        traceId: this.options.traceId ?? 'loader',
      });
      if (reply.head.gone) throw new ContextGoneError();
      if (isFailure(reply)) throw errorOf(reply);
      loaded = true;
      this.lru.set(resident.id, resident);
    } catch (err) {
      if (resident.slot >= 0) this.counters.loadFailures++;
      throw err;
    } finally {
      this.loading.delete(resident.id);
      if (!loaded && resident.slot >= 0) this.freeSlot(resident.slot);
    }
  }

  /**
   * A free slot for the caller alone: a free one, else the slot of the least recently used
   * unpinned context (evicted for it), else wait for a pin to drop, up to `slotWaitMs`.
   */
  private async takeSlot(): Promise<number> {
    const deadline = Date.now() + (this.options.slotWaitMs ?? 5000);
    let waited = false;
    for (;;) {
      const free = this.freeSlots.pop();
      if (free !== undefined) return free;
      const victim = this.findVictim();
      // The evicted slot is handed to this caller directly, never through the free list,
      // where another request could take it between the eviction and this continuation.
      if (victim !== undefined) return this.evict(victim);
      if (!waited) this.counters.slotWaits++;
      waited = true;
      if (!(await this.waitForSlot(deadline))) {
        this.counters.slotWaitTimeouts++;
        throw serviceUnavailable('every resident context is in use; try again', 'overloaded');
      }
    }
  }

  /** Resolves true when a slot may have become available, false at the deadline. */
  private waitForSlot(deadline: number): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(
        () => {
          this.slotWaiters = this.slotWaiters.filter((w) => w !== wake);
          resolve(false);
        },
        Math.max(0, deadline - Date.now()),
      );
      this.slotWaiters.push(wake);
    });
  }

  private wakeSlotWaiters(): void {
    if (this.slotWaiters.length === 0) return;
    const waiters = this.slotWaiters;
    this.slotWaiters = [];
    for (const wake of waiters) wake();
  }

  private freeSlot(slot: number): void {
    this.freeSlots.push(slot);
    this.wakeSlotWaiters();
  }

  private findVictim(): Resident | undefined {
    for (const resident of this.lru.rvalues()) {
      if (resident !== undefined && resident.pins === 0) return resident;
    }
    return undefined;
  }

  /** Empties the victim's slot (on a worker, under the slot's write lock); returns it. */
  private async evict(resident: Resident): Promise<number> {
    this.lru.delete(resident.id);
    let settled!: () => void;
    this.evicting.set(resident.id, new Promise<void>((resolve) => (settled = resolve)));
    try {
      const reply = await this.pool.run({
        op: 'evict',
        slot: resident.slot,
        gen: resident.gen,
        traceId: 'evictor',
      });
      if (isFailure(reply)) throw errorOf(reply);
      this.counters.evictions++;
      return resident.slot;
    } catch (err) {
      // Still resident and intact: put it back rather than leak the slot. Nobody loaded a
      // second copy meanwhile: acquire() waits for `evicting` to settle.
      this.counters.evictionFailures++;
      this.lru.set(resident.id, resident);
      this.wakeSlotWaiters();
      throw err;
    } finally {
      this.evicting.delete(resident.id);
      settled();
    }
  }

  /**
   * Keeps shared-memory use under its byte bound by evicting idle contexts, one at a time.
   * A failed eviction (a saturated pool) is retried after a delay, never at once: retrying
   * in the same microtask chain would starve the event loop that must drain the pool.
   */
  private trim(): void {
    if (this.trimming || this.trimTimer !== undefined) return;
    if (this.options.usedBytes() <= this.options.maxBytes) return;
    const victim = this.findVictim();
    if (victim === undefined) return;
    this.trimming = true;
    this.evict(victim).then(
      (slot) => {
        this.trimming = false;
        this.freeSlot(slot);
        this.trim();
      },
      () => {
        this.trimming = false;
        this.trimTimer = setTimeout(() => {
          this.trimTimer = undefined;
          this.trim();
        }, this.options.retryTrimMs ?? 50);
        this.trimTimer.unref();
      },
    );
  }
}
