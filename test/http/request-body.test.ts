import http from 'node:http';
import { describe, expect, test } from 'vitest';
import { useServer } from '../support/server-process.js';

/**
 * Request bodies are read from Node's request itself (src/http/body-limit.ts), not through
 * a fetch Request: a body sent chunked, or in several TCP writes, arrives whole; one over
 * MAX_BODY_BYTES is refused 413 with the JSON error, whether its size is declared
 * (Content-Length) or found while reading (chunked). Real server, real sockets; each request
 * has a 5 s deadline.
 */

const LIMIT = 2048;

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** Sends `parts` as separate writes, 5 ms apart (chunked unless `length` is given). */
function send(
  url: string,
  method: string,
  path: string,
  parts: (string | Uint8Array)[],
  length?: number,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { 'content-type': 'application/json' };
    if (length !== undefined) headers['content-length'] = length;
    const req = http.request(`${url}${path}`, { method, headers, timeout: 5_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 5 s')));
    // The server may answer 413 and stop reading before the whole body is written.
    req.on('error', reject);
    let i = 0;
    const next = () => {
      if (i === parts.length) {
        req.end();
        return;
      }
      req.write(parts[i++]);
      setTimeout(next, 5);
    };
    next();
  });
}

describe('request bodies over a real socket', () => {
  const live = useServer({ prefix: 'ccs-request-body-', env: { MAX_BODY_BYTES: String(LIMIT) } });

  const create = async (): Promise<string> => {
    const res = await send(live.url, 'POST', '/v1/contexts', ['{"model_id":"m","mode":"chat"}']);
    expect(res.status).toBe(201);
    return (JSON.parse(res.body) as { id: string }).id;
  };

  test('a chunked body in several writes arrives whole: 201 with the message as sent', async () => {
    const id = await create();
    const content = 'é'.repeat(300); // multi-byte characters split across writes
    const json = JSON.stringify({ role: 'user', content });
    const bytes = Buffer.from(json);
    const parts = [bytes.subarray(0, 7), bytes.subarray(7, 301), bytes.subarray(301)];
    const res = await send(live.url, 'POST', `/v1/contexts/${id}/messages`, parts);
    expect(res.status).toBe(201);
    expect(res.headers.etag).toMatch(/^"\d+"$/);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(res.headers['x-trace-id']).toBeDefined();
    expect(Number(res.headers['content-length'])).toBe(Buffer.byteLength(res.body));
    expect(JSON.parse(res.body)).toMatchObject({
      role: 'user',
      content: [{ type: 'text', text: content }],
    });
  });

  test('a chunked body over the limit → 413 payload_too_large', async () => {
    const id = await create();
    const big = JSON.stringify({ role: 'user', content: 'x'.repeat(LIMIT) });
    const res = await send(live.url, 'POST', `/v1/contexts/${id}/messages`, [
      big.slice(0, 1000),
      big.slice(1000),
    ]);
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body)).toEqual({
      error: `the request body exceeds ${LIMIT} bytes`,
      code: 'payload_too_large',
    });
  });

  test('a declared Content-Length over the limit → 413 before the body is read', async () => {
    const id = await create();
    const big = JSON.stringify({ role: 'user', content: 'x'.repeat(LIMIT) });
    const res = await send(live.url, 'POST', `/v1/contexts/${id}/messages`, [big], big.length);
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body)).toMatchObject({ code: 'payload_too_large' });
  });

  test('a body that is not JSON → 400 invalid_json; the connection keeps serving', async () => {
    const id = await create();
    const res = await send(live.url, 'POST', `/v1/contexts/${id}/messages`, ['{"role":', 'x']);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({ code: 'invalid_json' });
    const ok = await send(live.url, 'POST', `/v1/contexts/${id}/messages`, [
      '{"role":"user","content":"hi"}',
    ]);
    expect(ok.status).toBe(201);
  });
});
