import type { AnswerCache, HeldAnswer } from '../cache/answer-cache.js';
import type { Reply } from '../pool/context-pool.js';
import { failureReply, type ViewBody } from '../protocol/reply-frame.js';
import { TaskError } from '../protocol/task-error.js';
import type { Arena } from '../shm/arena.js';
import { SlotStatus, type SlotTable } from '../shm/slot-table.js';
import { ContextSlot } from '../slots/context-slot.js';
import {
  headOfResult,
  joinPage,
  type PageParts,
  pageChunks,
  queryKey,
  type ReadQuery,
  type ReadResult,
  readResult,
} from '../slots/reads.js';

/**
 * Reads served on the main thread, allowed for cheap reads because the benchmark shows them
 * faster (docs/benchmarks.md), and only with a try-lock: the main thread never waits. If the
 * context's read lock cannot be taken at once (a writer holds it or is waiting for it), or
 * the slot is not as the lease says, the answer is `undefined` and the caller dispatches the
 * read to a worker as usual.
 *
 * An answer still current in the answer cache (same occupant, same version) is sent as it
 * is, with no lock and no encoding. Otherwise a page is one copy of its records into the
 * reply buffer under the lock, a DTO one `JSON.stringify` after it; either is then cached.
 * The reply object is returned as it is: no frame is built or parsed on this thread.
 */
export class MainThreadReads {
  constructor(
    private readonly slots: SlotTable,
    private readonly arena: Arena,
    /** Called after each read served here, to publish the work it did. */
    private readonly afterRead: (op: ReadQuery['op']) => void,
    private readonly answers: AnswerCache | undefined,
    /**
     * Records of at least this many bytes are sent as views of shared memory, not copied
     * (0: never; `ZERO_COPY_MIN_BYTES`, default 512, measured in src/config.ts). Smaller
     * ones cost less to copy than to hand the socket one by one.
     */
    private readonly zeroCopyMinBytes: number,
  ) {}

  /** A write committed to (or deleted) the context in `slot`: its cached answers go. */
  changed(slot: number): void {
    this.answers?.dropSlot(slot);
  }

  /**
   * A page as chunks that view its large records in shared memory, pinned against reuse
   * (src/shm/arena.ts) until the reply is released; undefined when no record is large
   * enough to be worth a view. Call under the read lock.
   */
  private viewsOf(page: PageParts): ViewBody | undefined {
    if (this.zeroCopyMinBytes === 0) return undefined;
    const chunks = pageChunks(page, this.zeroCopyMinBytes);
    if (chunks === undefined) return undefined;
    const token = this.arena.pinReads();
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.arena.unpinReads(token);
    };
    return { chunks, length: page.length, release };
  }

  /**
   * The answer cache's current answer to `query`, counted as a read served here; on a miss
   * nothing is counted (the caller then reads through `tryRead`, which counts it).
   */
  cached(slot: number, gen: number, query: ReadQuery): HeldAnswer | undefined {
    if (!this.answers?.enabled) return undefined;
    const hit = this.answers.find(slot, gen, queryKey(query));
    if (hit !== undefined) this.afterRead(query.op);
    return hit;
  }

  tryRead(slot: number, gen: number, query: ReadQuery): Reply | undefined {
    const key = this.answers?.enabled ? queryKey(query) : undefined;
    if (key !== undefined) {
      const hit = this.answers!.get(slot, gen, key);
      if (hit !== undefined) {
        this.afterRead(query.op);
        return { head: hit.head, body: hit.body };
      }
    }
    const lock = this.slots.lock(slot);
    if (!lock.tryRead()) return undefined;
    let result: ReadResult;
    let page: Buffer<ArrayBuffer> | undefined;
    let views: ViewBody | undefined;
    try {
      if (this.slots.generation(slot) !== gen || this.slots.status(slot) !== SlotStatus.Ready) {
        return undefined;
      }
      try {
        result = readResult(new ContextSlot(this.slots, this.arena, slot), query, {
          slots: this.slots,
          gen,
        });
        if (result.kind === 'page') {
          if (key !== undefined && this.answers!.accepts(result.page.length)) {
            page = joinPage(result.page); // copied once, then served from the cache
          } else {
            views = this.viewsOf(result.page);
            if (views === undefined) page = joinPage(result.page);
          }
        }
      } catch (err) {
        if (!(err instanceof TaskError)) return undefined; // let a worker handle and log it
        this.afterRead(query.op);
        return failureReply(err);
      }
    } finally {
      lock.readUnlock();
    }
    if (views !== undefined) {
      this.afterRead(query.op);
      return { head: headOfResult(result!), body: EMPTY, views };
    }
    const body = page ?? utf8((result as { value: unknown }).value);
    const head = headOfResult(result);
    if (key !== undefined)
      this.answers!.put(slot, gen, key, { version: result.version, body, head });
    this.afterRead(query.op);
    return { head, body };
  }
}

const EMPTY = new Uint8Array(0);

/** JSON of `value` as UTF-8 bytes. */
function utf8(value: unknown): Buffer<ArrayBuffer> {
  return Buffer.from(JSON.stringify(value)) as Buffer<ArrayBuffer>;
}
