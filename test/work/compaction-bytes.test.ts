import { describe, expect, test } from 'vitest';
import type { ContextMeta } from '../../src/model/types.js';
import { newMessage } from '../../src/slots/context-tasks.js';
import { summaryOf } from '../../src/slots/dto.js';
import type { ContextSnapshot } from '../../src/slots/snapshot.js';
import { FileStorage } from '../../src/storage/file-storage.js';
import { appendMessage } from '../support/http.js';
import { useApp } from '../support/in-process.js';
import { grew, mapLimit, type Scrape, scrape } from './metrics.js';

/**
 * Issue 14: appends stay O(message) in bytes written, also across compactions. 2,000
 * appends of 1 KB to a 10-message context and to a 20,000-message one, under the default
 * compaction settings, measured as the bytes the server wrote (its own /metrics: log frames
 * plus compacted snapshots), never as time.
 *
 * Bounds: the two contexts are written as files before the server starts (a 20,000-message
 * snapshot of ~25 MB, no HTTP seeding); then 2 × 2,000 appends, 8 in flight, FSYNC off
 * (fsync changes no byte written); about 10 s on a 2-core box.
 */

const APPENDS = 2_000;
const text = (n: number) => `message ${String(n).padStart(6, '0')} ${'x'.repeat(1000)}`;

/** A stored context of `count` messages, written through storage like a compaction would. */
function storeContext(storage: FileStorage, id: string, count: number): void {
  const now = Date.now();
  const meta: ContextMeta = {
    id,
    parent_id: null,
    config: { model_id: 'test-model', mode: 'chat', parameters: {}, system_prompt_id: null },
    current_state: 'Idle',
    state_detail: null,
    active_branch_name: 'main',
    branches: [{ name: 'main', system_prompt: null, user_prompt: null }],
    created_at: new Date(now).toISOString(),
  };
  const records: ContextSnapshot['records'] = [];
  let parent: string | null = null;
  for (let i = 0; i < count; i++) {
    const { node, json } = newMessage(
      parent,
      {
        role: 'user',
        content: [{ type: 'text', text: text(i) }],
        tool_calls: null,
        tool_result: null,
      },
      now,
    );
    records.push({ id: node.id, json });
    parent = node.id;
  }
  const stamp = { version: count + 1, updatedAt: now };
  const snapshot: ContextSnapshot = {
    meta,
    ...stamp,
    records,
    branches: [records.map((_, i) => i)],
  };
  storage.create(id, snapshot, summaryOf(meta, count, stamp));
}

const WRITTEN = [
  'ccs_storage_appends_total',
  'ccs_storage_append_bytes_total',
  'ccs_storage_compactions_total',
  'ccs_storage_compact_bytes_total',
] as const;

describe('bytes written per append do not grow with the conversation (in process)', () => {
  const ids = { small: crypto.randomUUID(), large: crypto.randomUUID() };
  const live = useApp({
    env: { FSYNC: 'false' },
    prepare: (dir) => {
      const storage = new FileStorage({ dir, fsync: false });
      storeContext(storage, ids.small, 10);
      storeContext(storage, ids.large, 20_000);
    },
    startTimeoutMs: 60_000,
  });

  async function appendRun(id: string) {
    const before: Scrape = await scrape(live.url);
    const indexes = Array.from({ length: APPENDS }, (_, i) => i);
    await mapLimit(indexes, 8, async (i) => {
      const res = await appendMessage(live.url, id, text(100_000 + i));
      if (res.status !== 201) throw new Error(`append: ${res.status} ${res.text}`);
    });
    const after = await scrape(live.url);
    const work = Object.fromEntries(
      WRITTEN.map((name) => [name, grew(before, after, name, 'appendMessage')]),
    ) as Record<(typeof WRITTEN)[number], number>;
    const total = work.ccs_storage_append_bytes_total + work.ccs_storage_compact_bytes_total;
    return { ...work, total, perAppend: Math.round(total / APPENDS) };
  }

  test('2,000 appends to 10 and to 20,000 messages write within 2x the same bytes', async () => {
    const small = await appendRun(ids.small);
    const large = await appendRun(ids.large);
    console.info('2,000 appends of 1 KB (10 vs 20,000 messages):', { small, large });

    expect(small.ccs_storage_appends_total).toBe(APPENDS);
    expect(large.ccs_storage_appends_total).toBe(APPENDS);
    // The run crosses compactions of the small context (its log passes the 1 MiB floor)...
    expect(small.ccs_storage_compactions_total).toBeGreaterThan(0);
    // ...and still, neither context writes more than twice what the other does.
    expect(large.total).toBeLessThanOrEqual(2 * small.total);
    expect(small.total).toBeLessThanOrEqual(2 * large.total);
    // The documented bound (docs/storage.md), ratio 1: compacted snapshots ≤ (1 + 1/r) ×
    // the log bytes appended, so everything written ≤ 3 × the log frames.
    for (const run of [small, large]) {
      expect(run.ccs_storage_compact_bytes_total).toBeLessThanOrEqual(
        2 * run.ccs_storage_append_bytes_total,
      );
    }
  }, 120_000);
});
