import type { ContextSummary, UnreadableContext } from '../storage/types.js';

/**
 * Summaries of every stored context, resident or not, held by the main thread: they answer
 * `GET /v1/contexts` and existence checks without loading any context. Seeded from storage
 * at start-up (`FileStorage.scan`) and updated from each committed write's reply.
 *
 * - The listing is kept sorted as it changes (most recently updated first, ties by id), so
 *   a page costs O(log n + page) and a write O(log n) plus a short array move; nothing
 *   re-sorts the whole index on the main thread.
 * - A summary older than the one held (a lower version) is ignored: two writes to one
 *   context may reach the main thread in the other order, from two workers.
 * - Unreadable contexts (files that fail validation) still exist: `has()` is true, so a
 *   request reaches storage and answers `storage_corrupt` rather than 404. The listing
 *   leaves them out (there is no summary to show); `unreadableCount` reports them.
 */
export class SummaryIndex {
  private readonly byId = new Map<string, ContextSummary>();
  private readonly sorted: ContextSummary[] = [];
  private readonly unreadable = new Map<string, string>();

  constructor(
    summaries: Iterable<ContextSummary> = [],
    unreadable: Iterable<UnreadableContext> = [],
  ) {
    for (const s of summaries) {
      const held = this.byId.get(s.id);
      if (held === undefined || held.version <= s.version) this.byId.set(s.id, s);
    }
    this.sorted.push(...this.byId.values());
    this.sorted.sort(compare);
    for (const u of unreadable) this.markUnreadable(u.id, u.reason);
  }

  /** Contexts in the listing. */
  get size(): number {
    return this.byId.size;
  }

  /** Contexts that exist but cannot be read (left out of the listing). */
  get unreadableCount(): number {
    return this.unreadable.size;
  }

  /** Whether the context exists, readable or not. */
  has(id: string): boolean {
    return this.byId.has(id) || this.unreadable.has(id);
  }

  /** Why `id` cannot be read, or undefined when it is not known to be unreadable. */
  unreadableReason(id: string): string | undefined {
    return this.unreadable.get(id);
  }

  get(id: string): ContextSummary | undefined {
    return this.byId.get(id);
  }

  put(summary: ContextSummary): void {
    const held = this.byId.get(summary.id);
    if (held !== undefined) {
      if (summary.version < held.version) return; // a stale reply overtaken by a newer one
      this.sorted.splice(this.position(held), 1);
    }
    this.unreadable.delete(summary.id);
    this.byId.set(summary.id, summary);
    this.sorted.splice(this.position(summary), 0, summary);
  }

  remove(id: string): void {
    this.unreadable.delete(id);
    const held = this.byId.get(id);
    if (held === undefined) return;
    this.byId.delete(id);
    this.sorted.splice(this.position(held), 1);
  }

  /** The context's files failed validation: keep it as existing, leave it out of listings. */
  markUnreadable(id: string, reason: string): void {
    const held = this.byId.get(id);
    if (held !== undefined) {
      this.byId.delete(id);
      this.sorted.splice(this.position(held), 1);
    }
    this.unreadable.set(id, reason);
  }

  /** Most recently updated first; ties broken by id so paging is stable. */
  page(limit: number, offset: number): ContextSummary[] {
    return this.sorted.slice(offset, offset + limit);
  }

  /** Index of `s` in `sorted` if present, else where it would be inserted. */
  private position(s: ContextSummary): number {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compare(this.sorted[mid]!, s) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

function compare(a: ContextSummary, b: ContextSummary): number {
  if (a.updated_at !== b.updated_at) return a.updated_at < b.updated_at ? 1 : -1;
  if (a.id === b.id) return 0;
  return a.id < b.id ? -1 : 1;
}
