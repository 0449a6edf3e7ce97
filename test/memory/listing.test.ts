import { describe, expect, test } from 'vitest';
import { request } from '../support/http.js';
import { startServerProcess, useDataDir } from '../support/server-process.js';
import { grew, health, mapLimit, sample, scrape } from '../work/metrics.js';

/**
 * Acceptance 3 of issue 4: with 10,000 stored contexts, listing all of them (every page)
 * loads none: the listing is answered from the summary index that start-up builds from the
 * snapshot headers (and last log frames), never from a loaded context.
 *
 * Bounds: 10,000 creates through the API, 32 in flight, fsync on (about 12 s on a 2-core
 * box), then one restart and ten pages of 1,000.
 */
const CONTEXTS = 10_000;

interface Listing {
  contexts: { id: string; updated_at: string; message_count: number }[];
  total: number;
}

describe('listing without loading (real server)', () => {
  const data = useDataDir('ccs-listing-');

  test(`${CONTEXTS} stored contexts are listed with none of them resident`, async () => {
    const first = await startServerProcess(data.dir);
    let created: string[];
    try {
      created = await mapLimit(Array.from({ length: CONTEXTS }), 32, async (_, i) => {
        const res = await request<{ id: string }>(`${first.url}/v1/contexts`, {
          method: 'POST',
          json: { model_id: `model-${i % 7}`, mode: 'chat' },
        });
        if (res.status !== 201) throw new Error(`create: ${res.status} ${res.text}`);
        return res.body.id;
      });
    } finally {
      expect(await first.stop()).toBe(0);
    }

    const server = await startServerProcess(data.dir);
    try {
      const listening = JSON.parse(server.logs.find((l) => l.includes('"listening"'))!) as {
        contexts: number;
        listingBytesRead: number;
      };
      expect(listening.contexts).toBe(CONTEXTS);
      // Start-up read headers only: a few hundred bytes a context, no snapshot bodies.
      expect(listening.listingBytesRead / CONTEXTS).toBeLessThan(512);

      const before = await scrape(server.url);
      const seen: Listing['contexts'] = [];
      for (let offset = 0; ; offset += 1000) {
        const res = await request<Listing>(`${server.url}/v1/contexts?limit=1000&offset=${offset}`);
        expect(res.status).toBe(200);
        expect(res.body.total).toBe(CONTEXTS);
        if (res.body.contexts.length === 0) break;
        seen.push(...res.body.contexts);
      }
      const after = await scrape(server.url);
      const h = await health(server.url);

      expect(seen).toHaveLength(CONTEXTS);
      expect(new Set(seen.map((s) => s.id))).toEqual(new Set(created));
      for (let i = 1; i < seen.length; i++) {
        expect(seen[i - 1]!.updated_at >= seen[i]!.updated_at).toBe(true);
      }
      // Nothing was loaded, nothing is in shared memory, no worker did anything.
      expect(h.resident_contexts).toBe(0);
      expect(h.slots_in_use).toBe(0);
      expect(h.shared_bytes.usedBytes).toBe(0);
      expect(sample(after, 'ccs_resident_contexts')).toBe(0);
      expect(sample(after, 'ccs_context_loads_total')).toBe(0);
      expect(grew(before, after, 'ccs_worker_tasks_total', 'load')).toBe(0);
      expect(sample(after, 'ccs_stored_contexts')).toBe(CONTEXTS);

      // The counters do move when a context is really read.
      expect((await request(`${server.url}/v1/contexts/${created[0]}`)).status).toBe(200);
      expect((await health(server.url)).resident_contexts).toBe(1);
      expect(sample(await scrape(server.url), 'ccs_context_loads_total')).toBe(1);
    } finally {
      await server.stop();
    }
  }, 120_000);
});
