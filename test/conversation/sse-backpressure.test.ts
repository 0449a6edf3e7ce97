import { connect, type Socket } from 'node:net';
import { describe, expect, test } from 'vitest';
import { appendMessage, createContext, request } from '../support/http.js';
import { useServer } from '../support/server-process.js';
import { openSse } from '../support/sse-client.js';

/**
 * A subscriber that never reads must not make the server buffer without limit: it is
 * disconnected once SSE_MAX_QUEUED_BYTES are queued for it, the server's queued bytes stay
 * bounded, a reading subscriber gets every event, and the stalled one resumes with
 * Last-Event-ID without a gap. Bounded: at most MAX_POSTS messages of 100 KB.
 */
const MAX_QUEUED_BYTES = 1024 * 1024;
const EVENT_TEXT_BYTES = 100 * 1024;
const MAX_POSTS = 400;

async function metric(base: string, name: string): Promise<number | undefined> {
  const text = (await request(`${base}/metrics`)).text;
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

/** Polls `/metrics` until `name` reads `value`; fails past `timeoutMs`. */
async function waitForMetric(base: string, name: string, value: number, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const seen = await metric(base, name);
    if (seen === value) return;
    if (Date.now() > deadline) {
      throw new Error(`${name} read ${seen}, not ${value}, after ${timeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A raw socket that sends the request and then reads nothing until told to. */
function stalledSubscriber(base: string, path: string): Promise<Socket> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => {
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: ${url.host}\r\nAccept: text/event-stream\r\n\r\n`,
      );
      socket.pause();
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Resumes a paused socket and reads until the server closes it (bounded wait). */
function readToEnd(socket: Socket, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(
      () => reject(new Error('the stalled subscriber was never disconnected')),
      timeoutMs,
    );
    const done = () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    };
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.once('end', done);
    socket.once('close', done);
    socket.once('error', () => {}); // a reset after the data still ends the read
    socket.resume();
  });
}

describe('SSE backpressure: a stalled reader is bounded and disconnected', () => {
  const server = useServer({
    env: { FSYNC: 'false', SSE_MAX_QUEUED_BYTES: String(MAX_QUEUED_BYTES) },
  });

  test('100 KB events to a reader that never reads: queued bytes bounded, it is cut, a reader gets all, resume has no gap', async () => {
    const { id } = await createContext(server.url);
    const path = `/v1/contexts/${id}/events`;
    const stalled = await stalledSubscriber(server.url, path);
    const reader = await openSse(`${server.url}${path}`);
    // Both are subscribed once the stream count says so.
    await waitForMetric(server.url, 'ccs_sse_streams', 2, 10_000);

    const text = (n: number) => `#${n} ${'x'.repeat(EVENT_TEXT_BYTES)}`;
    let posts = 0;
    let maxQueued = 0;
    for (; posts < MAX_POSTS; ) {
      posts++;
      const res = await appendMessage(server.url, id, text(posts));
      expect(res.status).toBe(201);
      maxQueued = Math.max(maxQueued, (await metric(server.url, 'ccs_sse_queued_bytes')) ?? 0);
      // Stop soon after the cut, so the resume below can be checked for gaps.
      if (((await metric(server.url, 'ccs_sse_disconnected_slow_total')) ?? 0) >= 1) break;
    }
    // A 100 KB frame and a socket buffer over the bound at most.
    expect(maxQueued).toBeLessThanOrEqual(MAX_QUEUED_BYTES + 2 * (EVENT_TEXT_BYTES + 1024) + 65536);

    // The stalled reader was disconnected: reading now gets what the kernel held, then the end.
    const raw = await readToEnd(stalled, 10_000);
    const received = [...raw.matchAll(/id: (\d+)\nevent: message\ndata: (.*)\n\n/g)].map((m) =>
      Number(m[1]),
    );
    expect(received.length).toBeGreaterThan(0);
    expect(received).toEqual(received.map((_, i) => i + 1)); // a prefix, in order
    expect(received.length).toBeLessThan(posts);
    expect(await metric(server.url, 'ccs_sse_streams')).toBe(1);

    // The reading subscriber got every event, in order.
    await reader.waitFor((e) => e.id === String(posts), 20_000);
    const ids = reader.events.filter((e) => e.event === 'message').map((e) => Number(e.id));
    expect(ids).toEqual(Array.from({ length: posts }, (_, i) => i + 1));
    reader.close();

    // The stalled one resumes after the last event it received: nothing is missing.
    const last = received.at(-1)!;
    const resumed = await openSse(`${server.url}${path}`, String(last));
    await resumed.waitFor((e) => e.id === String(posts), 20_000);
    const rest = resumed.events.map((e) => Number(e.id));
    expect(rest).toEqual(Array.from({ length: posts - last }, (_, i) => last + 1 + i));
    const lastMessage = resumed.events.at(-1)!.data as { content: { text: string }[] };
    expect(lastMessage.content[0]!.text).toBe(text(posts));
    resumed.close();
  }, 120_000);
});

/**
 * SSE_MAX_HELD_BYTES bounds what all watched contexts hold together: two contexts each
 * publishing 1.5 MB (within their own 2 MiB window) with a reader each, and a 1 MiB budget
 * for both. Bounded: 2 × POSTS_EACH messages of 100 KB.
 */
describe('SSE: one budget for the events held by every watched context', () => {
  const HELD = 1024 * 1024;
  const POSTS_EACH = 15;
  const server = useServer({
    env: {
      FSYNC: 'false',
      SSE_MAX_QUEUED_BYTES: String(MAX_QUEUED_BYTES),
      SSE_MAX_HELD_BYTES: String(HELD),
    },
  });

  test('two busy watched contexts hold at most SSE_MAX_HELD_BYTES; readers get every event; a resume finds only the newest', async () => {
    const ids = [(await createContext(server.url)).id, (await createContext(server.url)).id];
    const readers = await Promise.all(
      ids.map((id) => openSse(`${server.url}/v1/contexts/${id}/events`)),
    );
    await waitForMetric(server.url, 'ccs_sse_streams', 2, 10_000);
    let maxHeld = 0;
    for (let n = 1; n <= POSTS_EACH; n++) {
      for (const id of ids) {
        const res = await appendMessage(server.url, id, `#${n} ${'x'.repeat(EVENT_TEXT_BYTES)}`);
        expect(res.status).toBe(201);
      }
      maxHeld = Math.max(maxHeld, (await metric(server.url, 'ccs_sse_held_bytes')) ?? 0);
    }
    expect(maxHeld).toBeGreaterThan(0);
    expect(maxHeld).toBeLessThanOrEqual(HELD);
    for (const reader of readers) {
      await reader.waitFor((e) => e.id === String(POSTS_EACH), 20_000);
      reader.close();
    }

    // What is still held: the newest events of each, about 1 MiB in all, not 3 MB.
    let resumedTotal = 0;
    for (const id of ids) {
      const resumed = await openSse(`${server.url}/v1/contexts/${id}/events`, '0');
      await resumed.waitFor((e) => e.id === String(POSTS_EACH), 20_000);
      const got = resumed.events.map((e) => Number(e.id));
      expect(got[0]).toBeGreaterThan(1);
      expect(got).toEqual(Array.from({ length: got.length }, (_, i) => got[0]! + i));
      resumedTotal += got.length;
      resumed.close();
    }
    expect(resumedTotal).toBeLessThanOrEqual(Math.ceil(HELD / EVENT_TEXT_BYTES));
  }, 60_000);
});
