import { describe, expect, test } from 'vitest';
import { AnswerCache } from '../../src/cache/answer-cache.js';
import { SlotStatus, SlotTable } from '../../src/shm/slot-table.js';
import {
  appendMessage,
  type ContextDto,
  createContext,
  type MessagePage,
  request,
} from '../support/http.js';
import { useServer } from '../support/server-process.js';

const body = (text: string) => Buffer.from(text) as Buffer<ArrayBuffer>;

describe('AnswerCache over a real slot table', () => {
  const slots = new SlotTable(SlotTable.createBuffer(4));
  const ready = (slot: number, version: number) => {
    slots.setStatus(slot, SlotStatus.Ready);
    slots.setVersion(slot, version);
  };

  test('an answer is reused while the slot shows the same occupant and version, never after', () => {
    const cache = new AnswerCache(slots, 1 << 20);
    ready(0, 3);
    const gen = slots.generation(0);
    cache.put(0, gen, 'c', { version: 3, body: body('v3'), head: { outcome: 'ok', version: 3 } });
    expect(cache.get(0, gen, 'c')?.body.toString()).toBe('v3');
    slots.setVersion(0, 4); // a committed write
    expect(cache.get(0, gen, 'c')).toBeUndefined();
    expect(cache.stats()).toMatchObject({ hits: 1, misses: 1, bytes: 0, entries: 0 });
  });

  test('an answer of a vacated slot is never served to its next occupant', () => {
    const cache = new AnswerCache(slots, 1 << 20);
    ready(1, 7);
    const gen = slots.generation(1);
    cache.put(1, gen, 'c', { version: 7, body: body('old'), head: { outcome: 'ok', version: 7 } });
    slots.vacate(1);
    ready(1, 7); // a new occupant at the same version number
    expect(cache.get(1, slots.generation(1), 'c')).toBeUndefined();
    expect(cache.get(1, gen, 'c')).toBeUndefined();
  });

  test('an answer read at a version the slot has already left is not kept', () => {
    const cache = new AnswerCache(slots, 1 << 20);
    ready(2, 5);
    cache.put(2, slots.generation(2), 'c', {
      version: 4,
      body: body('stale'),
      head: { outcome: 'ok', version: 4 },
    });
    expect(cache.stats().entries).toBe(0);
  });

  test('bounded in bytes (least recently used out first); 0 keeps nothing', () => {
    const cache = new AnswerCache(slots, 1000);
    ready(3, 1);
    const gen = slots.generation(3);
    for (let i = 0; i < 10; i++) {
      cache.put(3, gen, `m|${i}`, {
        version: 1,
        body: body('x'.repeat(200)),
        head: { outcome: 'ok' },
      });
      expect(cache.stats().bytes).toBeLessThanOrEqual(1000);
    }
    expect(cache.get(3, gen, 'm|9')).toBeDefined();
    expect(cache.get(3, gen, 'm|0')).toBeUndefined();
    const off = new AnswerCache(slots, 0);
    off.put(3, gen, 'c', { version: 1, body: body('x'), head: { outcome: 'ok', version: 1 } });
    expect(off.get(3, gen, 'c')).toBeUndefined();
    expect(off.stats().bytes).toBe(0);
  });
});

/** The answer cache's counters from /metrics. */
async function cacheMetrics(url: string): Promise<Record<string, number>> {
  const text = (await request(`${url}/metrics`)).text;
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^(ccs_answer_cache_\w+) (\S+)$/.exec(line);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

/**
 * A real server on loopback: answers come from the cache while nothing changed and are
 * never stale after a write, a branch change or a delete. Bounds: one server, a few dozen
 * requests.
 */
describe('answer cache in the server (real sockets)', () => {
  const server = useServer({ startTimeoutMs: 60_000 });

  test('a repeated read is a hit with the same bytes; a write makes the next read fresh', async () => {
    const ctx = await createContext(server.url);
    await appendMessage(server.url, ctx.id, 'one');
    const before = await cacheMetrics(server.url);
    const a = await request<ContextDto>(`${server.url}/v1/contexts/${ctx.id}`);
    const b = await request<ContextDto>(`${server.url}/v1/contexts/${ctx.id}`);
    expect(b.text).toBe(a.text);
    expect(b.headers.get('etag')).toBe(a.headers.get('etag'));
    const page1 = await request<MessagePage>(`${server.url}/v1/contexts/${ctx.id}/messages`);
    const page2 = await request<MessagePage>(`${server.url}/v1/contexts/${ctx.id}/messages`);
    expect(page2.text).toBe(page1.text);
    const after = await cacheMetrics(server.url);
    expect(after.ccs_answer_cache_hits_total! - before.ccs_answer_cache_hits_total!).toBe(2);
    expect(after.ccs_answer_cache_bytes).toBeGreaterThan(0);

    expect((await appendMessage(server.url, ctx.id, 'two')).status).toBe(201);
    const c = await request<ContextDto>(`${server.url}/v1/contexts/${ctx.id}`);
    expect(c.body.version).toBe(a.body.version + 1);
    expect(c.body.message_count).toBe(2);
    const page3 = await request<MessagePage>(`${server.url}/v1/contexts/${ctx.id}/messages`);
    expect(page3.body.messages.map((m) => m.content[0]!.text)).toEqual(['one', 'two']);
    const state = await request<{ context: ContextDto }>(
      `${server.url}/v1/contexts/${ctx.id}/state`,
    );
    expect(state.body.context.version).toBe(c.body.version);
  });

  test('If-None-Match on a cached answer is 304; after a write it is 200 again', async () => {
    const ctx = await createContext(server.url);
    const first = await request(`${server.url}/v1/contexts/${ctx.id}`);
    const etag = first.headers.get('etag')!;
    const cached = await request(`${server.url}/v1/contexts/${ctx.id}`, {
      headers: { 'if-none-match': etag },
    });
    expect(cached.status).toBe(304);
    expect(cached.headers.get('etag')).toBe(etag);
    await appendMessage(server.url, ctx.id, 'changed');
    const fresh = await request(`${server.url}/v1/contexts/${ctx.id}`, {
      headers: { 'if-none-match': etag },
    });
    expect(fresh.status).toBe(200);
    expect(fresh.headers.get('etag')).not.toBe(etag);
  });

  test('pages are kept per query: branch, limit and offset; a fork and an active-branch change show at once', async () => {
    const ctx = await createContext(server.url);
    for (const t of ['a', 'b', 'c']) await appendMessage(server.url, ctx.id, t);
    const texts = async (q: string) =>
      (
        await request<MessagePage>(`${server.url}/v1/contexts/${ctx.id}/messages${q}`)
      ).body.messages.map((m) => m.content[0]!.text);
    expect(await texts('?limit=2')).toEqual(['a', 'b']);
    expect(await texts('?limit=2&offset=1')).toEqual(['b', 'c']);
    expect(await texts('')).toEqual(['a', 'b', 'c']);
    const fork = await request(`${server.url}/v1/contexts/${ctx.id}/branches`, {
      method: 'POST',
      json: { name: 'alt' },
    });
    expect(fork.status).toBe(201);
    await appendMessage(server.url, ctx.id, 'd');
    expect(await texts('?branch=alt')).toEqual(['a', 'b', 'c']);
    const put = await request(`${server.url}/v1/contexts/${ctx.id}`, {
      method: 'PUT',
      json: { active_branch_name: 'alt' },
    });
    expect(put.status).toBe(200);
    expect(await texts('')).toEqual(['a', 'b', 'c']);
    expect(await texts('?branch=main')).toEqual(['a', 'b', 'c', 'd']);
  });

  test('a deleted context answers 404, never its cached answer; a new one in its slot shows itself', async () => {
    const old = await createContext(server.url);
    await appendMessage(server.url, old.id, 'old');
    await request(`${server.url}/v1/contexts/${old.id}/messages`);
    await request(`${server.url}/v1/contexts/${old.id}/messages`);
    const del = await request(`${server.url}/v1/contexts/${old.id}`, { method: 'DELETE' });
    expect(del.status).toBe(204);
    expect((await request(`${server.url}/v1/contexts/${old.id}/messages`)).status).toBe(404);
    const next = await createContext(server.url);
    await appendMessage(server.url, next.id, 'new');
    const page = await request<MessagePage>(`${server.url}/v1/contexts/${next.id}/messages`);
    expect(page.body.messages.map((m) => m.content[0]!.text)).toEqual(['new']);
  });
});

describe('answer cache off (ANSWER_CACHE_MAX_BYTES=0)', () => {
  const server = useServer({ env: { ANSWER_CACHE_MAX_BYTES: '0' }, startTimeoutMs: 60_000 });

  test('reads answer the same, and nothing is cached', async () => {
    const ctx = await createContext(server.url);
    await appendMessage(server.url, ctx.id, 'x');
    const a = await request(`${server.url}/v1/contexts/${ctx.id}/messages`);
    const b = await request(`${server.url}/v1/contexts/${ctx.id}/messages`);
    expect(a.status).toBe(200);
    expect(b.text).toBe(a.text);
    const m = await cacheMetrics(server.url);
    expect(m.ccs_answer_cache_hits_total).toBe(0);
    expect(m.ccs_answer_cache_bytes).toBe(0);
  });
});
