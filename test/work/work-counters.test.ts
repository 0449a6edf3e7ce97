import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { appendMessage, createContext, type MessagePage, request } from '../support/http.js';
import { useApp } from '../support/in-process.js';
import { startServerProcess, useDataDir } from '../support/server-process.js';
import { grew, mapLimit, type Scrape, scrape } from './metrics.js';

/**
 * Acceptance 1 of issue 4, measured as work (records and bytes the server touched, from its
 * own /metrics), never as time: a page of 50 costs the same from a 100-message and from a
 * 10,000-message context, and an append writes the same bytes to storage whether the
 * context holds 10 or 10,000 messages.
 *
 * Bounds: one server, 10,000 + 100 + 10 appends with fsync on (about 10 s on a 2-core box;
 * 16 appends in flight, serialised by the context's write lock).
 */

/** Every message has the same length, so equal work shows as equal numbers. */
const text = (n: number) => `message ${String(n).padStart(6, '0')} ${'x'.repeat(180)}`;

const READ_METRICS = [
  'ccs_records_read_total',
  'ccs_record_bytes_read_total',
  'ccs_refs_read_total',
  'ccs_meta_reads_total',
  'ccs_records_written_total',
] as const;

const APPEND_METRICS = [
  'ccs_records_read_total',
  'ccs_refs_read_total',
  'ccs_records_written_total',
  'ccs_record_bytes_written_total',
  'ccs_storage_appends_total',
  'ccs_storage_compactions_total',
  'ccs_storage_compact_bytes_total',
] as const;

function work(before: Scrape, after: Scrape, names: readonly string[], op: string) {
  return Object.fromEntries(names.map((name) => [name, grew(before, after, name, op)]));
}

async function seed(base: string, id: string, count: number): Promise<void> {
  const indexes = Array.from({ length: count }, (_, i) => i);
  await mapLimit(indexes, 16, async (i) => {
    const res = await appendMessage(base, id, text(i));
    if (res.status !== 201) throw new Error(`seed append: ${res.status} ${res.text}`);
  });
}

describe('cost follows the request, not the conversation (work counters, in process)', () => {
  // No compaction may happen while appends are measured: it is tested on its own below.
  const server = useApp({ env: { COMPACT_MIN_LOG_BYTES: String(2 ** 31) } });
  const ids = { tiny: '', small: '', big: '' };

  beforeAll(async () => {
    ids.tiny = (await createContext(server.url)).id;
    ids.small = (await createContext(server.url)).id;
    ids.big = (await createContext(server.url)).id;
    await seed(server.url, ids.tiny, 10);
    await seed(server.url, ids.small, 100);
    await seed(server.url, ids.big, 10_000);
  }, 120_000);

  async function readPage(id: string, offset: number) {
    const before = await scrape(server.url);
    const res = await request<MessagePage>(
      `${server.url}/v1/contexts/${id}/messages?limit=50&offset=${offset}`,
    );
    const after = await scrape(server.url);
    expect(res.status).toBe(200);
    expect(res.body.messages).toHaveLength(50);
    // The bytes the page carries: its records, as they are, between commas.
    const recordBytes = res.body.messages.reduce(
      (sum, m) => sum + Buffer.byteLength(JSON.stringify(m)),
      0,
    );
    return { work: work(before, after, READ_METRICS, 'listMessages'), recordBytes, res };
  }

  test('a page of 50 reads the same records and bytes from 100 and 10,000 messages', async () => {
    const small = await readPage(ids.small, 50);
    const big = await readPage(ids.big, 5_000);
    const bigEnd = await readPage(ids.big, 9_950);

    expect(small.res.body.total).toBe(100);
    expect(big.res.body.total).toBe(10_000);
    expect(big.res.body.messages[0]!.content[0]!.text).toMatch(/^message \d{6} x+$/);
    expect(small.work.ccs_records_read_total).toBe(50);
    expect(small.work.ccs_record_bytes_read_total).toBe(small.recordBytes);
    expect(small.work.ccs_records_written_total).toBe(0);
    expect(big.work).toEqual(small.work);
    // The same context at the same version: its metadata is decoded once per version.
    expect(bigEnd.work).toEqual({ ...small.work, ccs_meta_reads_total: 0 });
    console.info('page of 50 (100 vs 10,000 messages):', small.work, big.work);
  });

  test('an append writes the same bytes to storage for 10 and 10,000 messages', async () => {
    const logFile = (id: string) => path.join(server.dataDir, 'contexts', `${id}.log`);
    const snapFile = (id: string) => path.join(server.dataDir, 'contexts', `${id}.snap`);
    const measure = async (id: string, n: number) => {
      const logBefore = fs.statSync(logFile(id)).size;
      const snapBefore = fs.statSync(snapFile(id));
      const before = await scrape(server.url);
      const res = await appendMessage(server.url, id, text(n));
      const after = await scrape(server.url);
      expect(res.status).toBe(201);
      const snapAfter = fs.statSync(snapFile(id));
      expect(snapAfter.size).toBe(snapBefore.size); // the context is not rewritten
      expect(snapAfter.mtimeMs).toBe(snapBefore.mtimeMs);
      return {
        bytes: grew(before, after, 'ccs_storage_append_bytes_total', 'appendMessage'),
        logGrowth: fs.statSync(logFile(id)).size - logBefore,
        work: work(before, after, APPEND_METRICS, 'appendMessage'),
      };
    };

    for (let round = 0; round < 3; round++) {
      const tiny = await measure(ids.tiny, 20_000 + round);
      const big = await measure(ids.big, 30_000 + round);
      // What storage counted is what the log file grew by.
      expect(tiny.bytes).toBe(tiny.logGrowth);
      expect(big.bytes).toBe(big.logGrowth);
      // One frame, one record, no compaction, nothing read back: identical work.
      expect(tiny.work).toEqual({
        ccs_records_read_total: 0,
        ccs_refs_read_total: tiny.work.ccs_refs_read_total,
        ccs_records_written_total: 1,
        ccs_record_bytes_written_total: tiny.work.ccs_record_bytes_written_total,
        ccs_storage_appends_total: 1,
        ccs_storage_compactions_total: 0,
        ccs_storage_compact_bytes_total: 0,
      });
      expect(big.work).toEqual(tiny.work);
      expect(tiny.work.ccs_refs_read_total).toBeLessThanOrEqual(2);
      // Same content: the frames differ only in varint widths (version, message count).
      expect(Math.abs(big.bytes - tiny.bytes)).toBeLessThanOrEqual(8);
      // O(message): a frame is the record plus a constant (op fields and the summary).
      expect(tiny.bytes).toBeLessThan(tiny.work.ccs_record_bytes_written_total! + 512);
      if (round === 0) console.info('append (10 vs 10,000 messages):', tiny, big);
    }
  });
});

describe('compaction keeps working (real server)', () => {
  const data = useDataDir();

  test('COMPACT_AFTER_RECORDS (the count trigger tests use) still folds the log every N appends', async () => {
    const env = { COMPACT_AFTER_RECORDS: '10' };
    const server = await startServerProcess(data.dir, env);
    const logFile = (id: string) => path.join(data.dir, 'contexts', `${id}.log`);
    let page: string;
    let id: string;
    try {
      id = (await createContext(server.url)).id;
      const before = await scrape(server.url);
      const frames: number[] = [];
      for (let i = 0; i < 25; i++) {
        const res = await appendMessage(server.url, id, text(i));
        expect(res.status).toBe(201);
        frames.push(fs.statSync(logFile(id)).size);
      }
      const after = await scrape(server.url);
      expect(grew(before, after, 'ccs_storage_compactions_total', 'appendMessage')).toBe(2);
      expect(
        grew(before, after, 'ccs_storage_compact_bytes_total', 'appendMessage'),
      ).toBeGreaterThan(20 * 200);
      expect(grew(before, after, 'ccs_storage_appends_total', 'appendMessage')).toBe(25);
      // The log is emptied at the 10th and 20th append and holds the 5 appends since.
      expect(frames[9]).toBe(0);
      expect(frames[19]).toBe(0);
      expect(frames[24]).toBe(frames[14]);
      page = (await request(`${server.url}/v1/contexts/${id}/messages?limit=100`)).text;
    } finally {
      await server.stop();
    }
    const again = await startServerProcess(data.dir, env);
    try {
      const res = await request<MessagePage>(`${again.url}/v1/contexts/${id}/messages?limit=100`);
      expect(res.text).toBe(page);
      expect(res.body.total).toBe(25);
    } finally {
      await again.stop();
    }
  });
});
