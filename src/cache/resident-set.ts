import { LRUCache } from 'lru-cache';
import { notFound, serviceUnavailable } from '../errors.js';
import { type ContextPool, errorOf } from '../pool/context-pool.js';
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
}

export interface ResidentSetOptions {
  maxBytes: number;
  /** Shared-memory bytes in use, read without blocking (the arena's counter). */
  usedBytes: () => number;
  traceId?: string;
}

/**
 * The resident set: which contexts are in shared memory, in which slot, in LRU order. It is
 * owned by the main thread alone (this is the "cache" of the lock order cache → context:
 * being single-threaded, it is never held across a context lock wait or I/O).
 *
 * - A miss loads the context into a free slot once, however many requests miss together.
 * - Every request pins its slot for its whole duration; eviction only takes unpinned
 *   contexts, least recently used first, so no reader ever loses its slot.
 * - The set is bounded by count (one context a slot) and by shared-memory bytes.
 */
export class ResidentSet {
  private readonly lru: LRUCache<string, Resident>;
  private readonly loading = new Map<string, Resident>();
  private readonly freeSlots: number[];
  private evicting = 0;

  constructor(
    private readonly slots: SlotTable,
    private readonly pool: ContextPool,
    private readonly options: ResidentSetOptions,
  ) {
    this.lru = new LRUCache<string, Resident>({ max: slots.count });
    this.freeSlots = Array.from({ length: slots.count }, (_, i) => slots.count - 1 - i);
  }

  get residentCount(): number {
    return this.lru.size;
  }

  isResident(id: string): boolean {
    return this.lru.has(id);
  }

  /** Pins `id`'s slot, loading the context from storage if it is not resident. */
  async acquire(id: string): Promise<Lease> {
    const resident = this.lru.get(id) ?? this.loading.get(id) ?? this.startLoad(id);
    resident.pins++;
    try {
      await resident.ready;
    } catch (err) {
      resident.pins--;
      throw err;
    }
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
        settle = (ok) => (ok ? resolve() : reject(notFound('context not found')));
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
      resident.pins--;
      if (created) {
        this.lru.set(id, resident);
        settle(true);
      } else {
        this.freeSlots.push(slot);
        settle(false);
      }
      this.trim();
    }
  }

  /** The context was deleted: drop it; its slot is reused once unpinned. */
  forget(id: string): void {
    const resident = this.lru.get(id);
    if (resident === undefined) return;
    this.lru.delete(id);
    resident.gone = true;
    if (resident.pins === 0) this.freeSlots.push(resident.slot);
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
        if (!counted) return;
        resident.pins--;
        if (resident.pins === 0 && resident.gone) this.freeSlots.push(resident.slot);
        else this.trim();
      },
    };
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
      const reply = await this.pool.run({
        op: 'load',
        id: resident.id,
        slot: resident.slot,
        gen: resident.gen,
        traceId: this.options.traceId ?? 'loader',
      });
      if (reply.head.gone) throw notFound('context not found');
      if (reply.head.status !== 200) throw errorOf(reply);
      loaded = true;
      this.lru.set(resident.id, resident);
    } finally {
      this.loading.delete(resident.id);
      if (!loaded && resident.slot >= 0) this.freeSlots.push(resident.slot);
    }
  }

  /** A free slot, evicting the least recently used unpinned context if none is free. */
  private async takeSlot(): Promise<number> {
    const free = this.freeSlots.pop();
    if (free !== undefined) return free;
    const victim = this.findVictim();
    if (victim === undefined) {
      throw serviceUnavailable('every resident context is in use; try again', 'overloaded');
    }
    await this.evict(victim);
    const slot = this.freeSlots.pop();
    if (slot === undefined)
      throw serviceUnavailable('no free context slot; try again', 'overloaded');
    return slot;
  }

  private findVictim(): Resident | undefined {
    for (const resident of this.lru.rvalues()) {
      if (resident !== undefined && resident.pins === 0) return resident;
    }
    return undefined;
  }

  private async evict(resident: Resident): Promise<void> {
    this.lru.delete(resident.id);
    this.evicting++;
    try {
      const reply = await this.pool.run({
        op: 'evict',
        slot: resident.slot,
        gen: resident.gen,
        traceId: 'evictor',
      });
      if (reply.head.status !== 200) throw errorOf(reply);
      this.freeSlots.push(resident.slot);
    } catch (err) {
      // Still resident and intact: put it back rather than leak the slot.
      if (!this.lru.has(resident.id)) this.lru.set(resident.id, resident);
      throw err;
    } finally {
      this.evicting--;
    }
  }

  /** Keeps shared-memory use under its byte bound by evicting idle contexts. */
  private trim(): void {
    if (this.evicting > 0 || this.options.usedBytes() <= this.options.maxBytes) return;
    const victim = this.findVictim();
    if (victim === undefined) return;
    this.evict(victim)
      .catch(() => {})
      .finally(() => this.trim());
  }
}
