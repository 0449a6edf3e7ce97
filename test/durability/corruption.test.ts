import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { appendMessage, createContext, type MessagePage, request } from '../support/http.js';
import { startServerProcess, useDataDir } from '../support/server-process.js';
import { health, sample, scrape } from '../work/metrics.js';

/**
 * Acceptance 4 of issue 4: a context whose files fail validation answers a clear
 * `storage_corrupt` error (500: the fault is the server's and retrying will not help), its
 * files stay byte-identical for inspection, every other context keeps answering 200, and
 * the server keeps serving. Covered: a damaged snapshot body, a damaged snapshot header
 * (unreadable even for the listing), a damaged frame in the middle of a log, a log damaged
 * while the server runs; and, for contrast, a torn log tail, which is a crash mid-append
 * (never acknowledged): it is dropped and the context loads.
 */

interface Listing {
  contexts: { id: string }[];
  total: number;
}

/** Offsets of the log's frames (`[u32 length][u32 crc][payload]`). */
function frameOffsets(file: string): number[] {
  const bytes = fs.readFileSync(file);
  const offsets: number[] = [];
  for (let at = 0; at < bytes.length; at += 8 + bytes.readUInt32LE(at)) offsets.push(at);
  return offsets;
}

function flipByte(file: string, offset: number): void {
  const bytes = fs.readFileSync(file);
  bytes[offset] = bytes[offset]! ^ 0x5a;
  fs.writeFileSync(file, bytes);
}

describe('corruption is contained (real server)', () => {
  const data = useDataDir('ccs-corrupt-');

  test('storage_corrupt for the damaged contexts, files untouched, others serve', async () => {
    const env = { COMPACT_AFTER_RECORDS: '8' };
    const file = (id: string, ext: 'snap' | 'log') =>
      path.join(data.dir, 'contexts', `${id}.${ext}`);
    const first = await startServerProcess(data.dir, env);
    const ids: Record<'snapBody' | 'snapHeader' | 'midLog' | 'healthy' | 'live' | 'torn', string> =
      { snapBody: '', snapHeader: '', midLog: '', healthy: '', live: '', torn: '' };
    const counts = { snapBody: 12, snapHeader: 3, midLog: 5, healthy: 5, live: 5, torn: 5 };
    for (const key of Object.keys(ids) as (keyof typeof ids)[]) {
      ids[key] = (await createContext(first.url)).id;
      for (let i = 0; i < counts[key]; i++) {
        expect((await appendMessage(first.url, ids[key], `${key} ${i}`)).status).toBe(201);
      }
    }
    const healthyPage = (await request(`${first.url}/v1/contexts/${ids.healthy}/messages`)).text;
    expect(await first.stop()).toBe(0);

    // 12 messages with compaction every 8: a snapshot holding 8, a log holding 4.
    const snapBody = file(ids.snapBody, 'snap');
    flipByte(snapBody, fs.statSync(snapBody).size - 20);
    fs.writeFileSync(file(ids.snapHeader, 'snap'), Buffer.alloc(64, 0xaa)); // no header at all
    const midLog = file(ids.midLog, 'log');
    flipByte(midLog, frameOffsets(midLog)[2]! + 20); // frame 3 of 5: valid frames follow
    const tornLog = file(ids.torn, 'log');
    const tornGood = frameOffsets(tornLog)[4]!;
    fs.truncateSync(tornLog, fs.statSync(tornLog).size - 3); // a crash mid-append

    const corruptFiles = [
      snapBody,
      file(ids.snapBody, 'log'),
      file(ids.snapHeader, 'snap'),
      file(ids.snapHeader, 'log'),
      midLog,
      file(ids.midLog, 'snap'),
    ];
    const saved = new Map(corruptFiles.map((f) => [f, fs.readFileSync(f)]));

    const server = await startServerProcess(data.dir, env);
    try {
      const expectCorrupt = async (id: string, method = 'GET', suffix = '', json?: unknown) => {
        const res = await request<{ error: string; code: string }>(
          `${server.url}/v1/contexts/${id}${suffix}`,
          { method, json },
        );
        expect(res.status, `${method} ${suffix} of ${id}: ${res.text}`).toBe(500);
        expect(res.body).toEqual({ error: expect.any(String), code: 'storage_corrupt' });
        expect(res.text).not.toMatch(/contexts\/|\.snap|\.log|at /); // no paths, no stack
      };

      // At start-up the listing reads only headers: the one without a header is known to
      // exist (and is counted as corrupt) but cannot be listed.
      let start = await health(server.url);
      expect(start.corrupt_contexts).toBe(1);
      expect(start.contexts).toBe(5);
      expect(start.resident_contexts).toBe(0);

      for (const id of [ids.snapBody, ids.snapHeader, ids.midLog]) {
        await expectCorrupt(id);
        await expectCorrupt(id, 'GET', '/messages');
        await expectCorrupt(id, 'GET', '/state');
        await expectCorrupt(id, 'POST', '/messages', { role: 'user', content: 'more' });
        await expectCorrupt(id, 'PUT', '', { model_id: 'other' });
        await expectCorrupt(id, 'DELETE');
        await expectCorrupt(id); // still corrupt, never 404
      }

      // Every other context keeps serving, and so does the server.
      const healthy = await request(`${server.url}/v1/contexts/${ids.healthy}/messages`);
      expect(healthy.status).toBe(200);
      expect(healthy.text).toBe(healthyPage);
      expect((await appendMessage(server.url, ids.healthy, 'after')).status).toBe(201);
      expect((await createContext(server.url)).id).toMatch(/^[0-9a-f-]{36}$/);

      // A torn tail is not corruption: the unacknowledged frame is dropped, the rest loads.
      const torn = await request<MessagePage>(`${server.url}/v1/contexts/${ids.torn}/messages`);
      expect(torn.status).toBe(200);
      expect(torn.body.messages.map((m) => m.content[0]!.text)).toEqual(
        [0, 1, 2, 3].map((i) => `torn ${i}`),
      );
      expect(fs.statSync(tornLog).size).toBe(tornGood);

      // Damage found while the server runs is contained the same way.
      const liveLog = file(ids.live, 'log');
      flipByte(liveLog, frameOffsets(liveLog)[1]! + 12);
      saved.set(liveLog, fs.readFileSync(liveLog));
      saved.set(file(ids.live, 'snap'), fs.readFileSync(file(ids.live, 'snap')));
      await expectCorrupt(ids.live);
      await expectCorrupt(ids.live, 'GET', '/messages');

      // The listing shows what can be served; the rest is counted as corrupt.
      const listed = await request<Listing>(`${server.url}/v1/contexts?limit=100`);
      expect(listed.status).toBe(200);
      const listedIds = listed.body.contexts.map((c) => c.id);
      expect(listedIds).toContain(ids.healthy);
      expect(listedIds).toContain(ids.torn);
      for (const id of [ids.snapBody, ids.snapHeader, ids.midLog, ids.live]) {
        expect(listedIds).not.toContain(id);
      }
      expect(listed.body.total).toBe(listedIds.length);
      start = await health(server.url);
      expect(start.status).toBe('ok');
      expect(start.corrupt_contexts).toBe(4);
      const metrics = await scrape(server.url);
      expect(sample(metrics, 'ccs_corrupt_contexts')).toBe(4);
      expect(sample(metrics, 'ccs_storage_torn_tails_total', 'load')).toBe(1);
      expect(sample(metrics, 'ccs_context_load_failures_total')).toBeGreaterThanOrEqual(4);

      // Nothing touched the damaged files.
      for (const [f, bytes] of saved) {
        expect(fs.readFileSync(f).equals(bytes), `${path.basename(f)} unchanged`).toBe(true);
      }
    } finally {
      expect(await server.stop()).toBe(0);
    }
    for (const [f, bytes] of saved) expect(fs.readFileSync(f).equals(bytes)).toBe(true);
  });
});
