import fs from 'node:fs';
import { beforeAll, describe, expect, test } from 'vitest';
import { appendMessage, createContext, type MessagePage, request } from '../support/http.js';
import { makeDataDir, startServerProcess, useServer } from '../support/server-process.js';
import { mapLimit } from './metrics.js';

/**
 * Issue 14: a resident context's log stays open between appends (no open/close per append),
 * file descriptors stay bounded by the resident set × workers, and they are closed when a
 * context leaves memory (eviction, delete). Counted from the server process's
 * /proc/<pid>/fd, with 2 workers (real threads) and 4 slots.
 *
 * Bounds: 12 contexts × 3 appends, one delete, bursts of 8 appends (at most 40 per wait,
 * 5 s deadline), then 300 appends to one context (8 in flight) across a few dozen
 * compactions. FSYNC off.
 */

const SLOTS = 4;
const WORKERS = 2;

/** The context ids whose log file the process has open, one entry per fd. */
function openLogFds(pid: number): string[] {
  const ids: string[] = [];
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    let target: string;
    try {
      target = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed meanwhile
    }
    const match = /\/contexts\/([0-9a-f-]{36})\.log( \(deleted\))?$/.exec(target);
    if (match) ids.push(match[1]!);
  }
  return ids;
}

const fdsOf = (pid: number, id: string) => openLogFds(pid).filter((x) => x === id).length;

/** 8 appends at once to `id`. */
async function burst(base: string, id: string): Promise<void> {
  await mapLimit([0, 1, 2, 3, 4, 5, 6, 7], 8, async (i) => {
    expect((await appendMessage(base, id, `burst ${i}`)).status).toBe(201);
  });
}

/**
 * Bursts of appends to `id` until `probe` holds (at most 40 bursts, or `deadlineMs`). A
 * worker closes the fds of vacated slots only when it runs a task, and one burst does not
 * make sure every worker gets one: piscina hands a task to any idle worker, so when the
 * requests do not overlap (appends to one context serialise) one worker may run them all.
 * Repeating the burst until the probe holds gives every worker its turn.
 */
async function burstUntil(
  base: string,
  id: string,
  probe: () => boolean,
  deadlineMs: number,
): Promise<boolean> {
  const end = Date.now() + deadlineMs;
  for (let i = 0; i < 40 && Date.now() < end; i++) {
    await burst(base, id);
    if (probe()) return true;
  }
  return probe();
}

describe('open log files (real server, /proc/<pid>/fd)', () => {
  const server = useServer({
    env: { WORKERS: String(WORKERS), CACHE_MAX_CONTEXTS: String(SLOTS), FSYNC: 'false' },
  });
  let pid: number;

  beforeAll(() => {
    pid = server.process.proc.pid!;
  });

  test('a resident context keeps its log open; fds stay bounded as contexts are evicted', async () => {
    const ids: string[] = [];
    let most = 0;
    for (let c = 0; c < 3 * SLOTS; c++) {
      const { id } = await createContext(server.url);
      ids.push(id);
      await mapLimit([0, 1, 2], 3, async (i) => {
        expect((await appendMessage(server.url, id, `message ${i}`)).status).toBe(201);
      });
      // Kept open after the append (the old code opened and closed the log per append).
      expect(fdsOf(pid, id)).toBeGreaterThanOrEqual(1);
      const open = openLogFds(pid);
      most = Math.max(most, open.length);
      // At most one fd per worker per slot, whatever was evicted to make room.
      expect(open.length).toBeLessThanOrEqual(SLOTS * WORKERS);
    }
    // Once every worker has run a task since the last eviction (it sweeps then), only
    // resident contexts' logs are open: at most SLOTS distinct logs, none of the first
    // SLOTS contexts (evicted first).
    const onlyResident = () => {
      const open = new Set(openLogFds(pid));
      return open.size <= SLOTS && !ids.slice(0, SLOTS).some((id) => open.has(id));
    };
    const swept = await burstUntil(server.url, ids.at(-1)!, onlyResident, 5000);
    expect(swept, `open logs: ${openLogFds(pid)}`).toBe(true);
    console.info(`open log fds: at most ${most} while 12 contexts cycled through ${SLOTS} slots`);
  });

  test('delete closes the log fds of the context', async () => {
    const { id } = await createContext(server.url);
    await mapLimit([0, 1, 2, 3], 4, async (i) => {
      expect((await appendMessage(server.url, id, `message ${i}`)).status).toBe(201);
    });
    expect(fdsOf(pid, id)).toBeGreaterThanOrEqual(1);
    const del = await request(`${server.url}/v1/contexts/${id}`, { method: 'DELETE' });
    expect(del.status).toBe(204);
    // The deleting worker closed its fd at once; another worker closes its own at its next
    // task.
    const keeper = (await createContext(server.url)).id;
    expect(await burstUntil(server.url, keeper, () => fdsOf(pid, id) === 0, 5000)).toBe(true);
    expect(fs.existsSync(`${server.dataDir}/contexts/${id}.log`)).toBe(false);
  });

  test('several workers append through their own fds across compactions: nothing lost', async () => {
    const dir = makeDataDir();
    // Compacts whenever the log reaches a quarter of the snapshot (floor 4 KiB): dozens of
    // compactions truncate the log under the other worker's open fd.
    const env = { WORKERS: '2', FSYNC: 'false', COMPACT_LOG_RATIO: '0.25' };
    const small = await startServerProcess(dir.dir, { ...env, COMPACT_MIN_LOG_BYTES: '4096' });
    let page: string;
    let id: string;
    let fdsOnLog = 0;
    try {
      id = (await createContext(small.url)).id;
      const texts = Array.from({ length: 300 }, (_, i) => `m${String(i).padStart(3, '0')}`);
      await mapLimit(texts, 8, async (t) => {
        expect((await appendMessage(small.url, id, t)).status).toBe(201);
        fdsOnLog = Math.max(fdsOnLog, fdsOf(small.proc.pid!, id));
      });
      const res = await request<MessagePage & { messages: { content: { text: string }[] }[] }>(
        `${small.url}/v1/contexts/${id}/messages?limit=1000`,
      );
      expect(res.body.messages.map((m) => m.content[0]!.text).sort()).toEqual(texts);
      page = res.text;
    } finally {
      await small.stop();
    }
    // Both workers appended to the log, each through its own fd.
    expect(fdsOnLog).toBe(2);
    const logBytes = fs.statSync(`${dir.dir}/contexts/${id}.log`).size;
    const snapBytes = fs.statSync(`${dir.dir}/contexts/${id}.snap`).size;
    expect(logBytes).toBeLessThan(Math.max(4096, 0.25 * snapBytes) + 1024); // + one frame
    const again = await startServerProcess(dir.dir, env);
    try {
      const res = await request(`${again.url}/v1/contexts/${id}/messages?limit=1000`);
      expect(res.text).toBe(page);
    } finally {
      await again.stop();
      dir.remove();
    }
  });
});
