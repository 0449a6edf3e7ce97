import { mkdirSync, readFileSync, renameSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { appendMessage, createContext, type MessagePage, request } from '../support/http.js';
import { startServerProcess, useDataDir } from '../support/server-process.js';
import { grew, scrape } from './metrics.js';

/**
 * A compaction runs after the op is durable in the log and applied in memory. If it fails
 * (ENOSPC, EIO), the write has still happened: it must answer 201 (a 500 would make the
 * client retry and append twice), and the next write must try the compaction again.
 *
 * The failure is real: the snapshot file is moved aside and a directory put at its name,
 * so the compaction's rename(temp, snapshot) fails with EISDIR (works as root, where
 * permissions do not stop writes). Bounds: 4 appends, 2 server starts.
 */
describe('a compaction that fails after the op is committed', () => {
  const data = useDataDir();

  test('the append answers 201, is stored once, and the next write compacts', async () => {
    // Every second record compacts, so the outcome of each append is known.
    const env = { FSYNC: 'false', COMPACT_AFTER_RECORDS: '2' };
    const server = await startServerProcess(data.dir, env);
    const { id } = await createContext(server.url);
    const snapshot = join(data.dir, 'contexts', `${id}.snap`);
    const aside = join(data.dir, 'snapshot-aside');
    try {
      expect((await appendMessage(server.url, id, 'one')).status).toBe(201);

      renameSync(snapshot, aside);
      mkdirSync(snapshot);
      const before = await scrape(server.url);
      const failed = await appendMessage(server.url, id, 'two'); // compaction due, fails
      expect(failed.status).toBe(201);
      const during = await scrape(server.url);
      expect(grew(before, during, 'ccs_storage_compaction_failures_total', 'appendMessage')).toBe(
        1,
      );
      expect(grew(before, during, 'ccs_storage_compactions_total', 'appendMessage')).toBe(0);
      expect(
        server.logs.some((line) => line.includes(id) && line.includes('compaction failed')),
      ).toBe(true);

      rmdirSync(snapshot);
      renameSync(aside, snapshot);
      const log = join(data.dir, 'contexts', `${id}.log`);
      expect(statSync(log).size).toBeGreaterThan(0); // both records still only in the log
      expect((await appendMessage(server.url, id, 'three')).status).toBe(201);
      const after = await scrape(server.url);
      // The growth was kept, so this write retried the compaction, and it worked.
      expect(grew(during, after, 'ccs_storage_compactions_total', 'appendMessage')).toBe(1);
      expect(statSync(log).size).toBe(0);
      expect(readFileSync(snapshot).length).toBeGreaterThan(0);
    } finally {
      await server.stop();
    }

    const restarted = await startServerProcess(data.dir, env);
    try {
      const page = await request<MessagePage>(`${restarted.url}/v1/contexts/${id}/messages`);
      expect(page.body.messages.map((m) => m.content[0]!.text)).toEqual(['one', 'two', 'three']);
    } finally {
      await restarted.stop();
    }
  }, 60_000);
});
