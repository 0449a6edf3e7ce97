import type { ReplyHead } from '../protocol/reply-frame.js';
import type { SlotTable } from '../shm/slot-table.js';
import { SlotStatus } from '../shm/slot-table.js';
import { etagOf } from '../slots/dto.js';

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
  /** The reply head it is sent with (a DTO's carries its version, for the ETag; a page's none). */
  readonly head: ReplyHead;
}

/** A cached answer as a lookup returns it: with its ETag, made once when it was kept. */
export interface HeldAnswer extends CachedAnswer {
  /** `"<version>"` for an answer whose head names a version (DTO, state); a page has none. */
  readonly etag: string | undefined;
}

interface Entry extends HeldAnswer {
  /** The cache's tick at its last use (least recently used goes first). */
  used: number;
}

/** The answers of one slot, all of one occupant (generation) at one version. */
interface SlotAnswers {
  readonly gen: number;
  readonly version: number;
  readonly answers: Map<string, Entry>;
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
  /** Indexed by slot. */
  readonly #bySlot: (SlotAnswers | undefined)[] = [];
  #bytes = 0;
  #entries = 0;
  #hits = 0;
  #misses = 0;
  #tick = 0;

  constructor(
    private readonly slots: SlotTable,
    readonly maxBytes: number,
  ) {}

  get enabled(): boolean {
    return this.maxBytes > 0;
  }

  /** Whether an answer of `bytes` would be kept (a quarter of the bound at most). */
  accepts(bytes: number): boolean {
    return this.maxBytes > 0 && bytes <= this.maxBytes / 4;
  }

  /** The cached answer to `query` of the context in `slot` at `gen`, if still current. */
  get(slot: number, gen: number, query: string): HeldAnswer | undefined {
    const entry = this.find(slot, gen, query);
    if (entry === undefined) this.#misses++;
    return entry;
  }

  /**
   * As `get`, but a miss is not counted: for a lookup ahead of the request's usual path
   * (src/http/fast-reads.ts), which looks again, and counts, when this one misses.
   */
  find(slot: number, gen: number, query: string): HeldAnswer | undefined {
    const held = this.#bySlot[slot];
    if (held === undefined) return undefined;
    if (held.gen !== gen || !this.current(slot, held)) {
      this.dropSlot(slot);
      return undefined;
    }
    const entry = held.answers.get(query);
    if (entry === undefined) return undefined;
    entry.used = ++this.#tick;
    this.#hits++;
    return entry;
  }

  /**
   * Keeps an answer read at `answer.version` under the slot's read lock. A stale answer
   * (the slot moved on since) is not kept.
   */
  put(slot: number, gen: number, query: string, answer: CachedAnswer): void {
    const size = answer.body.byteLength;
    if (!this.accepts(size)) return;
    let held = this.#bySlot[slot];
    if (held === undefined || held.gen !== gen || held.version !== answer.version) {
      const fresh = { gen, version: answer.version, answers: new Map<string, Entry>() };
      if (!this.current(slot, fresh)) return;
      this.dropSlot(slot);
      held = fresh;
      this.#bySlot[slot] = held;
    }
    const old = held.answers.get(query);
    if (old !== undefined) this.forget(old);
    const { version } = answer.head;
    const etag = version === undefined ? undefined : etagOf(version);
    held.answers.set(query, { ...answer, etag, used: ++this.#tick });
    this.#bytes += size;
    this.#entries++;
    if (this.#bytes > this.maxBytes) this.evict();
  }

  /** Drops every answer of a slot (after a committed write, or when it is vacated). */
  dropSlot(slot: number): void {
    const held = this.#bySlot[slot];
    if (held === undefined) return;
    for (const entry of held.answers.values()) this.forget(entry);
    this.#bySlot[slot] = undefined;
  }

  stats(): AnswerCacheStats {
    return {
      hits: this.#hits,
      misses: this.#misses,
      bytes: this.#bytes,
      entries: this.#entries,
    };
  }

  /**
   * Still what readers of the slot see. The generation is loaded on both sides of the
   * version, so a slot vacated and reused between the loads cannot pass.
   */
  private current(slot: number, held: SlotAnswers): boolean {
    const gen = this.slots.generation(slot);
    if (gen !== held.gen || this.slots.status(slot) !== SlotStatus.Ready) return false;
    const version = readableVersion(this.slots, slot);
    return version === held.version && this.slots.generation(slot) === gen;
  }

  /**
   * Over the bound: the least recently used answers go until a tenth of the bound is free,
   * so a full cache sorts its entries once per many puts, not at each.
   */
  private evict(): void {
    const all: [number, string, Entry][] = [];
    this.#bySlot.forEach((held, slot) => {
      if (held !== undefined) for (const [query, e] of held.answers) all.push([slot, query, e]);
    });
    all.sort((a, b) => a[2].used - b[2].used);
    const target = this.maxBytes * 0.9;
    for (const [slot, query, entry] of all) {
      if (this.#bytes <= target) break;
      const held = this.#bySlot[slot]!;
      held.answers.delete(query);
      this.forget(entry);
      if (held.answers.size === 0) this.#bySlot[slot] = undefined;
    }
  }

  private forget(entry: Entry): void {
    this.#bytes -= entry.body.byteLength;
    this.#entries--;
  }
}
