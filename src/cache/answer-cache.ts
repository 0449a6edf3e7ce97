import type { SlotTable } from '../shm/slot-table.js';
import { SlotStatus } from '../shm/slot-table.js';

/**
 * The version of a slot's context that readers may see. The one place the answer cache
 * learns "has anything changed?": point it at another word (e.g. a published, durable
 * version) and every cached answer follows.
 */
export function readableVersion(slots: SlotTable, slot: number): number {
  return slots.version(slot);
}

/** An encoded read answer: the exact response body, and the version it shows. */
export interface CachedAnswer {
  readonly version: number;
  readonly body: Buffer<ArrayBuffer>;
  /** The ETag of a context DTO or state answer (`"<version>"`); none for a page. */
  readonly etag: string | undefined;
}

interface Entry extends CachedAnswer {
  readonly key: string;
  readonly slot: number;
  readonly gen: number;
}

export interface AnswerCacheStats {
  hits: number;
  misses: number;
  bytes: number;
  entries: number;
}

/**
 * Read answers (context DTO, state, pages) kept in their final encoded form, per context
 * version, on the main thread. An entry is valid only while the slot still holds the same
 * occupant (generation), is ready, and shows the same version: a check of three atomic
 * loads, with no lock, since every committed change bumps the version first seen by readers.
 * Entries of a slot are dropped as soon as a lookup or a committed write shows them stale.
 * Bounded in bytes (least recently used first out); `maxBytes` 0 turns it off.
 */
export class AnswerCache {
  /** Insertion order is recency: a hit moves its entry to the end. */
  readonly #entries = new Map<string, Entry>();
  /** slot → keys of its entries, to drop them all at once. */
  readonly #bySlot = new Map<number, Set<string>>();
  #bytes = 0;
  #hits = 0;
  #misses = 0;

  constructor(
    private readonly slots: SlotTable,
    readonly maxBytes: number,
  ) {}

  get enabled(): boolean {
    return this.maxBytes > 0;
  }

  /** The cached answer to `query` of the context in `slot` at `gen`, if still current. */
  get(slot: number, gen: number, query: string): CachedAnswer | undefined {
    if (this.maxBytes === 0) return undefined;
    const key = keyOf(slot, query);
    const entry = this.#entries.get(key);
    if (entry === undefined) {
      this.#misses++;
      return undefined;
    }
    if (entry.gen !== gen || !this.current(entry)) {
      this.dropSlot(slot);
      this.#misses++;
      return undefined;
    }
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    this.#hits++;
    return entry;
  }

  /**
   * Keeps an answer read at `answer.version` under the slot's read lock. A stale answer
   * (the slot moved on since) is not kept.
   */
  put(slot: number, gen: number, query: string, answer: CachedAnswer): void {
    const size = answer.body.byteLength;
    if (this.maxBytes === 0 || size > this.maxBytes / 4) return;
    const entry: Entry = { ...answer, key: keyOf(slot, query), slot, gen };
    if (!this.current(entry)) return;
    const old = this.#entries.get(entry.key);
    if (old !== undefined) this.remove(old);
    this.#entries.set(entry.key, entry);
    let keys = this.#bySlot.get(slot);
    if (keys === undefined) {
      keys = new Set();
      this.#bySlot.set(slot, keys);
    }
    keys.add(entry.key);
    this.#bytes += size;
    while (this.#bytes > this.maxBytes) {
      const oldest = this.#entries.values().next().value as Entry;
      this.remove(oldest);
    }
  }

  /** Drops every answer of a slot (after a committed write, or when it is vacated). */
  dropSlot(slot: number): void {
    const keys = this.#bySlot.get(slot);
    if (keys === undefined) return;
    for (const key of [...keys]) {
      const entry = this.#entries.get(key);
      if (entry !== undefined) this.remove(entry);
    }
    this.#bySlot.delete(slot);
  }

  stats(): AnswerCacheStats {
    return {
      hits: this.#hits,
      misses: this.#misses,
      bytes: this.#bytes,
      entries: this.#entries.size,
    };
  }

  /**
   * Still what readers of the slot see. The generation is loaded on both sides of the
   * version, so a slot vacated and reused between the loads cannot pass.
   */
  private current(entry: Entry): boolean {
    const gen = this.slots.generation(entry.slot);
    if (gen !== entry.gen || this.slots.status(entry.slot) !== SlotStatus.Ready) return false;
    const version = readableVersion(this.slots, entry.slot);
    return version === entry.version && this.slots.generation(entry.slot) === gen;
  }

  private remove(entry: Entry): void {
    this.#entries.delete(entry.key);
    this.#bySlot.get(entry.slot)?.delete(entry.key);
    this.#bytes -= entry.body.byteLength;
  }
}

function keyOf(slot: number, query: string): string {
  return `${slot}|${query}`;
}
