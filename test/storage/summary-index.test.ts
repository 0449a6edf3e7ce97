import { describe, expect, test } from 'vitest';
import { SummaryIndex } from '../../src/catalog/summary-index.js';
import type { ContextSummary } from '../../src/storage/types.js';

const at = (second: number) => new Date(Date.UTC(2025, 0, 1, 0, 0, second)).toISOString();

function s(id: string, second: number, version = 1): ContextSummary {
  return {
    id,
    config: {},
    current_state: 'Idle',
    active_branch_name: 'main',
    message_count: 0,
    updated_at: at(second),
    version,
  };
}

describe('SummaryIndex', () => {
  test('pages most recently updated first, ties by id, kept sorted as it changes', () => {
    const index = new SummaryIndex([s('b', 1), s('a', 1), s('c', 3)]);
    expect(index.page(10, 0).map((x) => x.id)).toEqual(['c', 'a', 'b']);
    index.put(s('b', 5, 2));
    index.put(s('d', 2));
    expect(index.page(10, 0).map((x) => x.id)).toEqual(['b', 'c', 'd', 'a']);
    index.remove('c');
    expect(index.page(2, 1).map((x) => x.id)).toEqual(['d', 'a']);
    expect(index.size).toBe(3);
  });

  test('a stale summary (lower version) arriving late is ignored', () => {
    // Two writes to one context may come back from two workers in the other order.
    const index = new SummaryIndex([s('a', 1, 1)]);
    index.put(s('a', 9, 7));
    index.put(s('a', 8, 6));
    expect(index.get('a')!.version).toBe(7);
    expect(index.page(10, 0)).toEqual([s('a', 9, 7)]);
  });

  test('unreadable contexts exist but are not listed', () => {
    const index = new SummaryIndex([s('a', 1), s('b', 2)], [{ id: 'x', reason: 'bad magic' }]);
    expect(index.has('x')).toBe(true);
    expect(index.unreadableReason('x')).toBe('bad magic');
    expect(index.size).toBe(2);
    expect(index.unreadableCount).toBe(1);
    index.markUnreadable('b', 'checksum');
    expect(index.has('b')).toBe(true);
    expect(index.page(10, 0).map((x) => x.id)).toEqual(['a']);
    expect(index.unreadableCount).toBe(2);
    index.remove('x');
    expect(index.has('x')).toBe(false);
  });

  test('matches a full sort after many random changes', () => {
    const index = new SummaryIndex();
    const truth = new Map<string, ContextSummary>();
    for (let i = 0; i < 2000; i++) {
      const id = `id-${Math.floor(Math.random() * 200)}`;
      if (Math.random() < 0.1) {
        index.remove(id);
        truth.delete(id);
      } else {
        const next = s(id, Math.floor(Math.random() * 50), (truth.get(id)?.version ?? 0) + 1);
        index.put(next);
        truth.set(id, next);
      }
    }
    const expected = [...truth.values()].sort(
      (a, b) =>
        (a.updated_at < b.updated_at ? 1 : a.updated_at > b.updated_at ? -1 : 0) ||
        (a.id < b.id ? -1 : 1),
    );
    expect(index.page(1000, 0)).toEqual(expected);
    expect(index.size).toBe(truth.size);
  });
});
