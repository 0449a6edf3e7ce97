import type { ContextSummary } from '../storage/types.js';

/**
 * Summaries of every stored context, resident or not, held by the main thread: they answer
 * `GET /v1/contexts` and existence checks without loading any context. Seeded from storage
 * at start-up and updated from each committed write's reply.
 */
export class SummaryIndex {
  private readonly byId = new Map<string, ContextSummary>();
  private sorted: ContextSummary[] | null = null;

  constructor(summaries: Iterable<ContextSummary> = []) {
    for (const s of summaries) this.byId.set(s.id, s);
  }

  get size(): number {
    return this.byId.size;
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  put(summary: ContextSummary): void {
    this.byId.set(summary.id, summary);
    this.sorted = null;
  }

  remove(id: string): void {
    if (this.byId.delete(id)) this.sorted = null;
  }

  /** Most recently updated first; ties broken by id so paging is stable. */
  page(limit: number, offset: number): ContextSummary[] {
    this.sorted ??= [...this.byId.values()].sort(
      (a, b) =>
        (a.updated_at < b.updated_at ? 1 : a.updated_at > b.updated_at ? -1 : 0) ||
        (a.id < b.id ? -1 : 1),
    );
    return this.sorted.slice(offset, offset + limit);
  }
}
