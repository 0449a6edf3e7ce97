import net from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { appendMessage, createContext, request } from '../support/http.js';
import { makeDataDir, type ServerProcess, startServerProcess } from '../support/server-process.js';

/**
 * Zero-copy pages: with the answer cache off, a page of large records is written to the
 * socket as views of shared memory. Readers that pause mid-page keep those views in flight
 * while their contexts are deleted, evicted, or lose a branch, and while new records of the
 * same size are written (which would reuse any block freed too early). Every reader must
 * still get exactly the bytes of the version it read.
 *
 * Bounds: one server (4 context slots, so creating contexts evicts others), 3 paused
 * readers of a 150 × 60 KB page (9 MB, more than the kernel buffers a paused reader), about
 * 750 appends; under 90 s.
 */

const MESSAGES = 150;
const TEXT_BYTES = 60_000;
const text = (tag: string, i: number) =>
  `${tag}-${String(i).padStart(4, '0')} ${'x'.repeat(TEXT_BYTES)}`;
const other = (i: number) => `reuse-${String(i).padStart(4, '0')} ${'y'.repeat(TEXT_BYTES)}`;

/** A GET over a raw socket that reads the first bytes, then pauses until `resume()`. */
function slowGet(url: string, path: string) {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  const chunks: Buffer[] = [];
  let received = 0;
  const started = new Promise<void>((resolve) => {
    socket.once('data', () => {
      socket.pause(); // the kernel buffers fill; the server's write cannot complete
      resolve();
    });
  });
  const ended = new Promise<Buffer>((resolve, reject) => {
    socket.on('end', () => resolve(Buffer.concat(chunks)));
    socket.on('error', reject);
  });
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    received += chunk.byteLength;
  });
  socket.write(`GET ${path} HTTP/1.1\r\nHost: ${hostname}\r\nConnection: close\r\n\r\n`);
  return {
    started,
    received: () => received,
    resume: () => socket.resume(),
    body: async () => {
      const raw = await ended;
      const split = raw.indexOf('\r\n\r\n');
      const head = raw.subarray(0, split).toString();
      expect(head).toMatch(/^HTTP\/1\.1 200/);
      const length = Number(/content-length: (\d+)/i.exec(head)?.[1]);
      const body = raw.subarray(split + 4);
      expect(body.byteLength).toBe(length);
      return body;
    },
  };
}

describe('zero-copy pages to slow readers (real sockets, ANSWER_CACHE_MAX_BYTES=0)', () => {
  let server: ServerProcess;
  const data = makeDataDir();

  beforeAll(async () => {
    server = await startServerProcess(data.dir, {
      ANSWER_CACHE_MAX_BYTES: '0',
      CACHE_MAX_CONTEXTS: '4',
    });
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    data.remove();
  });

  async function seeded(tag: string, count: number, branch?: string): Promise<string> {
    const ctx = await createContext(server.url);
    for (let i = 0; i < count; i++) {
      const res = await request(`${server.url}/v1/contexts/${ctx.id}/messages`, {
        method: 'POST',
        json: { role: 'user', content: text(tag, i), ...(branch ? { branch } : {}) },
      });
      expect(res.status).toBe(201);
    }
    return ctx.id;
  }

  test('deleted, evicted and branch-deleted contexts: every paused reader gets its page whole', async () => {
    const deleted = await seeded('del', MESSAGES);
    const evicted = await seeded('evi', MESSAGES);
    const forked = await createContext(server.url);
    await appendMessage(server.url, forked.id, 'root');
    const fork = await request(`${server.url}/v1/contexts/${forked.id}/branches`, {
      method: 'POST',
      json: { name: 'alt' },
    });
    expect(fork.status).toBe(201);
    for (let i = 0; i < MESSAGES; i++) {
      const res = await request(`${server.url}/v1/contexts/${forked.id}/messages`, {
        method: 'POST',
        json: { role: 'user', content: text('alt', i), branch: 'alt' },
      });
      expect(res.status).toBe(201);
    }

    const pagePath = (id: string, branch?: string) =>
      `/v1/contexts/${id}/messages?limit=${MESSAGES + 1}${branch ? `&branch=${branch}` : ''}`;
    const expected = new Map<string, string>();
    for (const [id, branch] of [[deleted], [evicted], [forked.id, 'alt']] as const) {
      expected.set(id, (await request(`${server.url}${pagePath(id, branch)}`)).text);
    }

    const readers = [
      { id: deleted, reader: slowGet(server.url, pagePath(deleted)) },
      { id: evicted, reader: slowGet(server.url, pagePath(evicted)) },
      { id: forked.id, reader: slowGet(server.url, pagePath(forked.id, 'alt')) },
    ];
    await Promise.all(readers.map((r) => r.reader.started));

    // While the pages are in flight: delete one context, delete the other's branch, and
    // create contexts until the third is evicted (4 slots), then write records of the same
    // size, which would land in any block freed too early.
    expect(
      (await request(`${server.url}/v1/contexts/${deleted}`, { method: 'DELETE' })).status,
    ).toBe(204);
    expect(
      (await request(`${server.url}/v1/contexts/${forked.id}/branches/alt`, { method: 'DELETE' }))
        .status,
    ).toBe(204);
    const fillers: string[] = [];
    for (let c = 0; c < 4; c++) fillers.push((await createContext(server.url)).id);
    for (let i = 0; i < 2 * MESSAGES; i++) {
      const res = await appendMessage(server.url, fillers[i % fillers.length]!, other(i));
      expect(res.status).toBe(201);
    }

    for (const { reader } of readers) {
      // Still paused mid-page: the server could not have written it all yet.
      expect(reader.received()).toBeLessThan(expected.get(readers[0]!.id)!.length);
      reader.resume();
    }
    for (const { id, reader } of readers) {
      const body = (await reader.body()).toString();
      expect(body.length).toBe(expected.get(id)!.length);
      expect(body === expected.get(id)).toBe(true);
    }
    // The deleted context is gone; the evicted one loads again with the same messages.
    expect((await request(`${server.url}${pagePath(deleted)}`)).status).toBe(404);
    expect((await request(`${server.url}${pagePath(evicted)}`)).text).toBe(expected.get(evicted));
  }, 90_000);
});
