import { describe, expect, test } from 'vitest';
import { appendMessage, createContext, type MessagePage, request } from '../support/http.js';
import { startServerProcess, useDataDir } from '../support/server-process.js';
import { grew, health, mapLimit, sample, scrape } from '../work/metrics.js';

/**
 * Bounded memory through the real server: the resident set holds at most
 * CACHE_MAX_CONTEXTS contexts and trims to CACHE_MAX_BYTES of shared memory, evicting only
 * idle contexts, while every read stays correct; concurrent misses on one context load it
 * once; with every slot pinned, requests wait for a slot instead of failing.
 *
 * Bounds: about 1,000 appends and 300 reads in all, a few seconds.
 */

const MiB = 1024 * 1024;

async function seedContexts(base: string, count: number, messages: number, text: string) {
  const ids = await mapLimit(Array.from({ length: count }), 8, async () => {
    return (await createContext(base)).id;
  });
  await mapLimit(ids, 8, async (id, c) => {
    for (let m = 0; m < messages; m++) {
      const res = await appendMessage(base, id, `ctx ${c} msg ${m} ${text}`);
      if (res.status !== 201) throw new Error(`append: ${res.status} ${res.text}`);
    }
  });
  return ids;
}

async function expectMessages(base: string, id: string, c: number, count: number) {
  const res = await request<MessagePage>(`${base}/v1/contexts/${id}/messages?limit=1000`);
  expect(res.status).toBe(200);
  expect(res.body.total).toBe(count);
  res.body.messages.forEach((m, i) => {
    expect(m.content[0]!.text!.startsWith(`ctx ${c} msg ${i} `)).toBe(true);
  });
}

describe('the resident set is bounded (real server)', () => {
  const data = useDataDir('ccs-bounded-');

  test('CACHE_MAX_CONTEXTS=8: 50 contexts touched round-robin, never more than 8 resident', async () => {
    const server = await startServerProcess(data.dir, { CACHE_MAX_CONTEXTS: '8' });
    try {
      const ids = await seedContexts(server.url, 50, 3, 'hello');
      const before = await scrape(server.url);
      let maxResident = 0;
      for (let round = 0; round < 2; round++) {
        for (let c = 0; c < ids.length; c++) {
          await expectMessages(server.url, ids[c]!, c, 3);
          const h = await health(server.url);
          maxResident = Math.max(maxResident, h.resident_contexts, h.slots_in_use);
        }
      }
      const after = await scrape(server.url);
      expect(maxResident).toBeLessThanOrEqual(8);
      expect(maxResident).toBeGreaterThan(0);
      // Round-robin over 50 with 8 slots misses every time: one load and one eviction each.
      expect(grew(before, after, 'ccs_context_loads_total')).toBe(100);
      expect(grew(before, after, 'ccs_context_evictions_total')).toBe(100);
      expect(grew(before, after, 'ccs_worker_tasks_total', 'load')).toBe(100);
      expect(sample(after, 'ccs_slots')).toBe(8);
    } finally {
      await server.stop();
    }
  });

  test('concurrent misses on one context load it once', async () => {
    // Same data dir, fresh server: nothing is resident yet.
    const server = await startServerProcess(data.dir);
    try {
      const listed = await request<{ contexts: { id: string }[] }>(
        `${server.url}/v1/contexts?limit=1`,
      );
      const id = listed.body.contexts[0]!.id;
      const before = await scrape(server.url);
      const paths = ['', '/messages', '/state', '/messages?limit=1'];
      const responses = await Promise.all(
        Array.from({ length: 24 }, (_, i) =>
          request(`${server.url}/v1/contexts/${id}${paths[i % paths.length]}`),
        ),
      );
      expect(responses.map((r) => r.status)).toEqual(Array(24).fill(200));
      const after = await scrape(server.url);
      expect(grew(before, after, 'ccs_context_loads_total')).toBe(1);
      expect(grew(before, after, 'ccs_worker_tasks_total', 'load')).toBe(1);
      expect((await health(server.url)).resident_contexts).toBe(1);
    } finally {
      await server.stop();
    }
  });

  test('every slot pinned: requests wait for a slot rather than fail', async () => {
    const server = await startServerProcess(data.dir, { CACHE_MAX_CONTEXTS: '2' });
    try {
      const listed = await request<{ contexts: { id: string }[] }>(
        `${server.url}/v1/contexts?limit=6`,
      );
      const ids = listed.body.contexts.map((c) => c.id);
      expect(ids).toHaveLength(6);
      const responses = await Promise.all(
        Array.from({ length: 60 }, (_, i) =>
          request<MessagePage>(`${server.url}/v1/contexts/${ids[i % 6]}/messages`),
        ),
      );
      expect(responses.map((r) => r.status)).toEqual(Array(60).fill(200));
      expect(responses.every((r) => r.body.total === 3)).toBe(true);
      const h = await health(server.url);
      expect(h.slots_in_use).toBeLessThanOrEqual(2);
    } finally {
      await server.stop();
    }
  });
});

describe('the byte bound forces evictions while reads stay correct (real server)', () => {
  const data = useDataDir('ccs-bytes-');

  test('CACHE_MAX_BYTES=1 MiB with about 2 MiB of contexts', async () => {
    const server = await startServerProcess(data.dir, { CACHE_MAX_BYTES: String(MiB) });
    try {
      const count = 24;
      const messages = 30;
      const ids = await seedContexts(server.url, count, messages, 'y'.repeat(2000));
      for (let round = 0; round < 2; round++) {
        for (let c = 0; c < count; c++) await expectMessages(server.url, ids[c]!, c, messages);
      }
      // Trimming runs after each request, one idle context at a time: let it finish.
      let h = await health(server.url);
      for (let i = 0; i < 50 && h.shared_bytes.usedBytes > MiB; i++) {
        await new Promise((r) => setTimeout(r, 20));
        h = await health(server.url);
      }
      const metrics = await scrape(server.url);
      expect(h.shared_bytes.usedBytes).toBeLessThanOrEqual(MiB);
      expect(h.resident_contexts).toBeLessThan(count);
      expect(sample(metrics, 'ccs_context_evictions_total')).toBeGreaterThan(count);
      // What is resident is well over half the bound: eviction stops at the bound.
      expect(h.shared_bytes.usedBytes).toBeGreaterThan(MiB / 2);
    } finally {
      await server.stop();
    }
  });
});
