import net from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { request } from '../support/http.js';
import { makeDataDir, type ServerProcess, startServerProcess } from '../support/server-process.js';

/** One raw HTTP/1.1 exchange (Connection: close): the head lines and the body. */
async function raw(url: string, lines: string[]): Promise<{ head: string[]; body: string }> {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  socket.write(`${lines.join('\r\n')}\r\nHost: ${hostname}\r\nConnection: close\r\n\r\n`);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  await new Promise((resolve, reject) => {
    socket.on('end', resolve);
    socket.on('error', reject);
  });
  const text = Buffer.concat(chunks).toString();
  const split = text.indexOf('\r\n\r\n');
  return { head: text.slice(0, split).split('\r\n'), body: text.slice(split + 4) };
}

const header = (head: string[], name: string) =>
  head
    .find((line) => line.toLowerCase().startsWith(`${name}:`))
    ?.slice(name.length + 1)
    .trim();

/**
 * GET answers written straight to the Node response carry the same status line, headers
 * and bytes as before; HEAD, conditional GETs, errors and request headers read from Node's
 * raw list behave as fetch's would. Bounds: one server, about twenty requests.
 */
describe('reads written directly to the socket (real server, raw HTTP)', () => {
  let server: ServerProcess;
  const data = makeDataDir();
  const token = 'secret-token';
  const auth = `Authorization: Bearer ${token}`;

  beforeAll(async () => {
    server = await startServerProcess(data.dir, { API_TOKEN: token });
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    data.remove();
  });

  async function context(): Promise<string> {
    const res = await request<{ id: string }>(`${server.url}/v1/contexts`, {
      method: 'POST',
      json: { model_id: 'm', mode: 'chat' },
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(201);
    return res.body.id;
  }

  test('a GET carries status, JSON type, length, ETag and the trace id it was given', async () => {
    const id = await context();
    for (let i = 0; i < 2; i++) {
      // the second answer comes from the answer cache
      const res = await raw(server.url, [
        `GET /v1/contexts/${id} HTTP/1.1`,
        auth,
        'X-Trace-Id: t-1',
      ]);
      expect(res.head[0]).toBe('HTTP/1.1 200 OK');
      expect(header(res.head, 'content-type')).toBe('application/json; charset=utf-8');
      expect(Number(header(res.head, 'content-length'))).toBe(Buffer.byteLength(res.body));
      expect(header(res.head, 'etag')).toBe('"1"');
      expect(header(res.head, 'x-trace-id')).toBe('t-1');
      expect(JSON.parse(res.body)).toMatchObject({ id, version: 1 });
    }
    const page = await raw(server.url, [`GET /v1/contexts/${id}/messages HTTP/1.1`, auth]);
    expect(page.head[0]).toBe('HTTP/1.1 200 OK');
    expect(header(page.head, 'x-trace-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(JSON.parse(page.body)).toEqual({ messages: [], total: 0, limit: 50, offset: 0 });
  });

  test('If-None-Match answers 304 with the ETag and no body; HEAD answers without a body', async () => {
    const id = await context();
    const notModified = await raw(server.url, [
      `GET /v1/contexts/${id}/state HTTP/1.1`,
      auth,
      'If-None-Match: "7", "1"',
    ]);
    expect(notModified.head[0]).toBe('HTTP/1.1 304 Not Modified');
    expect(header(notModified.head, 'etag')).toBe('"1"');
    expect(notModified.body).toBe('');
    const head = await raw(server.url, [`HEAD /v1/contexts/${id} HTTP/1.1`, auth]);
    expect(head.head[0]).toBe('HTTP/1.1 200 OK');
    expect(head.body).toBe('');
  });

  test('errors of a GET are JSON {error, code} with their status', async () => {
    const id = await context();
    const missing = await raw(server.url, [
      `GET /v1/contexts/${id}/messages?branch=nope HTTP/1.1`,
      auth,
    ]);
    expect(missing.head[0]).toBe('HTTP/1.1 404 Not Found');
    expect(JSON.parse(missing.body)).toMatchObject({ code: 'not_found' });
  });

  test('duplicated headers are joined as fetch joins them: two Authorization headers are refused', async () => {
    const id = await context();
    const twice = await raw(server.url, [
      `GET /v1/contexts/${id} HTTP/1.1`,
      auth,
      'Authorization: Bearer other',
    ]);
    expect(twice.head[0]).toBe('HTTP/1.1 401 Unauthorized');
    const lower = await raw(server.url, [
      `GET /v1/contexts/${id} HTTP/1.1`,
      `authorization: bearer ${token}`,
    ]);
    expect(lower.head[0]).toBe('HTTP/1.1 200 OK');
    // Two trace ids join into one value the trace-id rule refuses: a fresh id is made.
    const traced = await raw(server.url, [
      `GET /v1/contexts/${id} HTTP/1.1`,
      auth,
      'X-Trace-Id: a',
      'X-Trace-Id: b',
    ]);
    expect(header(traced.head, 'x-trace-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  test('a page reflects an append at once, through the cache and the direct write', async () => {
    const id = await context();
    const headers = { authorization: `Bearer ${token}` };
    const page = () =>
      raw(server.url, [`GET /v1/contexts/${id}/messages HTTP/1.1`, auth]).then(
        (r) => (JSON.parse(r.body) as { total: number }).total,
      );
    expect(await page()).toBe(0);
    const res = await request(`${server.url}/v1/contexts/${id}/messages`, {
      method: 'POST',
      json: { role: 'user', content: 'hi' },
      headers,
    });
    expect(res.status).toBe(201);
    expect(await page()).toBe(1);
  });
});
