import { beforeAll, describe, expect, test } from 'vitest';
import { appendMessage, createContext, request } from '../support/http.js';
import { useApp } from '../support/in-process.js';

describe('bad input gets a clear 4xx JSON error and changes nothing (in process)', () => {
  const server = useApp({ env: { MAX_BODY_BYTES: '4096' } });
  let id: string;
  let snapshot: () => Promise<string[]>;

  beforeAll(async () => {
    id = (await createContext(server.url)).id;
    await appendMessage(server.url, id, 'first');
    await appendMessage(server.url, id, 'second', 'assistant');
    snapshot = async () =>
      Promise.all(
        [
          `/v1/contexts/${id}`,
          `/v1/contexts/${id}/messages?limit=1000`,
          '/v1/contexts?limit=1000',
        ].map(async (path) => (await request(`${server.url}${path}`)).text),
      );
  });

  const json = 'application/json';
  const cases: {
    name: string;
    path: () => string;
    method?: string;
    body?: string;
    type?: string;
    status: number;
    code: string;
  }[] = [
    {
      name: 'malformed JSON',
      path: () => `/v1/contexts/${id}/messages`,
      method: 'POST',
      body: '{"role": "user", "content": ',
      type: json,
      status: 400,
      code: 'invalid_json',
    },
    {
      name: 'missing model_id',
      path: () => '/v1/contexts',
      method: 'POST',
      body: '{"mode":"chat"}',
      type: json,
      status: 400,
      code: 'validation_error',
    },
    {
      name: 'unknown role',
      path: () => `/v1/contexts/${id}/messages`,
      method: 'POST',
      body: '{"role":"robot","content":"hi"}',
      type: json,
      status: 400,
      code: 'invalid_role',
    },
    {
      name: 'non-UUID id',
      path: () => '/v1/contexts/not-a-uuid/messages',
      status: 400,
      code: 'invalid_id',
    },
    {
      name: 'negative limit',
      path: () => `/v1/contexts/${id}/messages?limit=-5`,
      status: 400,
      code: 'invalid_query',
    },
    {
      name: 'limit over the maximum',
      path: () => `/v1/contexts/${id}/messages?limit=1001`,
      status: 400,
      code: 'invalid_query',
    },
    {
      name: 'body over the limit',
      path: () => `/v1/contexts/${id}/messages`,
      method: 'POST',
      body: JSON.stringify({ role: 'user', content: 'x'.repeat(10_000) }),
      type: json,
      status: 413,
      code: 'payload_too_large',
    },
    {
      name: 'non-JSON content type',
      path: () => `/v1/contexts/${id}/messages`,
      method: 'POST',
      body: 'role=user&content=hi',
      type: 'application/x-www-form-urlencoded',
      status: 415,
      code: 'unsupported_media_type',
    },
    {
      name: 'content of the wrong type',
      path: () => `/v1/contexts/${id}/messages`,
      method: 'POST',
      body: '{"role":"user","content":42}',
      type: json,
      status: 400,
      code: 'validation_error',
    },
    {
      name: 'a body that is not an object',
      path: () => '/v1/contexts',
      method: 'POST',
      body: '[1,2,3]',
      type: json,
      status: 400,
      code: 'validation_error',
    },
    {
      name: 'unknown context',
      path: () => '/v1/contexts/3f1b8a52-9c1e-4d7a-8f00-000000000000',
      status: 404,
      code: 'not_found',
    },
    {
      name: 'unknown branch',
      path: () => `/v1/contexts/${id}/messages?branch=nope`,
      status: 404,
      code: 'not_found',
    },
  ];

  test.each(cases)('$name → $status $code', async (c) => {
    const before = await snapshot();
    const res = await request<{ error: string; code: string }>(`${server.url}${c.path()}`, {
      method: c.method ?? 'GET',
      ...(c.body === undefined ? {} : { body: c.body }),
      headers: c.type === undefined ? {} : { 'content-type': c.type },
    });
    expect(res.status).toBe(c.status);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    expect(res.body.code).toBe(c.code);
    expect(typeof res.body.error).toBe('string');
    expect(res.body.error.length).toBeGreaterThan(0);
    expect(res.text).not.toMatch(/at .*\.js:\d+/); // no stack traces
    expect(await snapshot()).toEqual(before);
  });

  test('If-Match mismatch → 412 and nothing changes; a matching If-Match writes', async () => {
    const before = await snapshot();
    const stale = await request(`${server.url}/v1/contexts/${id}/messages`, {
      method: 'POST',
      json: { role: 'user', content: 'conditional' },
      headers: { 'if-match': '"1"' },
    });
    expect(stale.status).toBe(412);
    expect(await snapshot()).toEqual(before);

    const current = await request(`${server.url}/v1/contexts/${id}`);
    const etag = current.headers.get('etag')!;
    const notModified = await request(`${server.url}/v1/contexts/${id}`, {
      headers: { 'if-none-match': etag },
    });
    expect(notModified.status).toBe(304);
    const ok = await request(`${server.url}/v1/contexts/${id}`, {
      method: 'PUT',
      json: { mode: 'agent' },
      headers: { 'if-match': etag },
    });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('etag')).not.toBe(etag);
  });

  test('X-Trace-Id is echoed, on success and on error', async () => {
    const ok = await request(`${server.url}/v1/contexts/${id}`, {
      headers: { 'x-trace-id': 'trace-abc-123' },
    });
    expect(ok.headers.get('x-trace-id')).toBe('trace-abc-123');
    const bad = await request(`${server.url}/v1/contexts/nope`, {
      headers: { 'x-trace-id': 'trace-err-1' },
    });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('x-trace-id')).toBe('trace-err-1');
    const generated = await request(`${server.url}/health`);
    expect(generated.headers.get('x-trace-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});
