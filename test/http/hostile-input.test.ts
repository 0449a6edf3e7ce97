import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { appendMessage, createContext, fetchAt, request } from '../support/http.js';
import { useApp } from '../support/in-process.js';

/**
 * Issue 9, defects 1, 4 and 5, and the URL side of 5: hostile input — JSON nested thousands
 * of levels deep, a `__proto__` key, strings with lone surrogates, numbers beyond the double
 * range, bytes that are not UTF-8, and path or query values that do not decode — answers a
 * 4xx `{error, code}` (never 500), and changes nothing: the API answers and every stored
 * file stay byte-identical.
 */

interface ErrorBody {
  error: string;
  code: string;
}

const deepObject = (levels: number) => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;

describe('hostile input answers 4xx and changes nothing (in process)', () => {
  const live = useApp({ prefix: 'ccs-hostile-' });
  let id: string;

  /** Every answer a client can see, and every stored file's bytes. */
  const observe = async (): Promise<{ api: string[]; files: Map<string, Buffer> }> => {
    const api = await Promise.all(
      [
        `/v1/contexts/${id}`,
        `/v1/contexts/${id}/messages?limit=1000`,
        `/v1/contexts/${id}/messages?branch=alt&limit=1000`,
        '/v1/contexts?limit=1000',
        '/v1/system-prompts',
      ].map(async (p) => {
        const res = await request(`${live.url}${p}`);
        return `${res.status} ${res.headers.get('etag')} ${res.text}`;
      }),
    );
    const files = new Map<string, Buffer>();
    const walk = (dir: string) => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const file = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(file);
        else files.set(file, fs.readFileSync(file));
      }
    };
    walk(live.dataDir);
    return { api, files };
  };

  beforeAll(async () => {
    const prompt = await request(`${live.url}/v1/system-prompts`, {
      method: 'POST',
      json: { id: 'canary-prompt', content: 'be brief' },
    });
    expect(prompt.status).toBe(201);
    id = (await createContext(live.url, { system_prompt_id: 'canary-prompt' })).id;
    expect((await appendMessage(live.url, id, 'first')).status).toBe(201);
    const fork = await request(`${live.url}/v1/contexts/${id}/branches`, {
      method: 'POST',
      json: { name: 'alt' },
    });
    expect(fork.status).toBe(201);
  });

  /** Sends `body` (raw text or bytes, as JSON), expects a 4xx JSON error and no change. */
  const expectRefused = async (
    method: string,
    route: string,
    body: string | Uint8Array | undefined,
    expected: { status?: number; code?: string } = {},
  ): Promise<ErrorBody> => {
    const before = await observe();
    const res = await fetchAt(`${live.url}${route}`, {
      method,
      body,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
    });
    const text = await res.text();
    expect(res.status, `${method} ${route}: ${text}`).toBeGreaterThanOrEqual(400);
    expect(res.status, `${method} ${route}: ${text}`).toBeLessThan(500);
    if (expected.status !== undefined) expect(res.status, text).toBe(expected.status);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    const parsed = JSON.parse(text) as ErrorBody;
    expect(parsed).toEqual({ error: expect.any(String), code: expect.any(String) });
    if (expected.code !== undefined) expect(parsed.code, text).toBe(expected.code);
    const after = await observe();
    expect(after.api).toEqual(before.api);
    expect([...after.files.keys()].sort()).toEqual([...before.files.keys()].sort());
    for (const [file, bytes] of before.files) {
      expect(after.files.get(file)?.equals(bytes), `${file} changed`).toBe(true);
    }
    return parsed;
  };

  const invalidValue = { status: 400, code: 'invalid_json_value' };
  const contexts = '/v1/contexts';
  const ctx = () => `/v1/contexts/${id}`;
  const messages = () => `/v1/contexts/${id}/messages`;

  /** Defect 1: every place a client can put arbitrary JSON, nested `value` deep. */
  const deepBodies = (value: string): [string, string, () => string, string][] => [
    [
      'POST parameters',
      'POST',
      () => contexts,
      `{"model_id":"m","mode":"chat","parameters":${value}}`,
    ],
    ['PUT parameters', 'PUT', ctx, `{"parameters":${value}}`],
    ['PUT config.parameters', 'PUT', ctx, `{"config":{"parameters":${value}}}`],
    [
      'tool_calls[].arguments',
      'POST',
      messages,
      `{"role":"assistant","content":"x","tool_calls":[{"id":"c1","tool_name":"calculator","arguments":${value}}]}`,
    ],
    [
      'tool_calls[].ui_hints',
      'POST',
      messages,
      `{"role":"assistant","content":"x","tool_calls":[{"id":"c1","tool_name":"calculator","ui_hints":${value}}]}`,
    ],
    [
      'tool_result.result',
      'POST',
      messages,
      `{"role":"tool","content":"x","tool_result":{"request_id":"c1","result":${value}}}`,
    ],
  ];

  // Thousands of levels stop the body walk (its own bound, MAX_JSON_DEPTH + 8 levels).
  for (const levels of [4_000, 10_000]) {
    test.each(deepBodies(deepObject(levels)))(
      `defect 1: ${levels} levels deep in %s → 400 invalid_json_value`,
      async (_name, method, route, body) => {
        const error = await expectRefused(method, route(), body, invalidValue);
        expect(error.error).toMatch(/^request body: nesting deeper than 72 levels/);
      },
    );
  }

  // 65 levels of the value itself, wherever it sits: the stored value's limit, by field.
  test.each(deepBodies(deepObject(65)))(
    'a free-form value of 65 levels in %s → 400 invalid_json_value',
    async (_name, method, route, body) => {
      const error = await expectRefused(method, route(), body, invalidValue);
      expect(error.error).toMatch(
        /(parameters|arguments|ui_hints|result)"?: nesting deeper than 64 levels/,
      );
    },
  );

  test('defect 1: a 10,000-deep array answers 400 too', async () => {
    const array = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
    await expectRefused(
      'POST',
      contexts,
      `{"model_id":"m","mode":"chat","parameters":{"a":${array}}}`,
      invalidValue,
    );
  });

  /** Defect 4: raw JSON text, since a JS object literal would treat `__proto__` specially. */
  const protoBodies: [string, string, () => string, string][] = [
    [
      'POST parameters',
      'POST',
      () => contexts,
      '{"model_id":"m","mode":"chat","parameters":{"__proto__":{"x":1}}}',
    ],
    [
      'POST, top level',
      'POST',
      () => contexts,
      '{"__proto__":{"x":1},"model_id":"m","mode":"chat"}',
    ],
    ['PUT parameters', 'PUT', ctx, '{"parameters":{"__proto__":{"x":1}}}'],
    [
      'PUT config.parameters, nested',
      'PUT',
      ctx,
      '{"config":{"parameters":{"a":{"__proto__":1}}}}',
    ],
    [
      'deep inside arrays',
      'POST',
      () => contexts,
      '{"model_id":"m","mode":"chat","parameters":{"a":[1,[{"b":{"__proto__":null}}]]}}',
    ],
    [
      'tool_calls[].arguments',
      'POST',
      messages,
      '{"role":"assistant","content":"x","tool_calls":[{"id":"c1","tool_name":"t","arguments":{"__proto__":{}}}]}',
    ],
    [
      'tool_calls[].ui_hints',
      'POST',
      messages,
      '{"role":"assistant","content":"x","tool_calls":[{"id":"c1","tool_name":"t","ui_hints":{"x":{"__proto__":{}}}}]}',
    ],
    [
      'tool_result.result',
      'POST',
      messages,
      '{"role":"tool","content":"x","tool_result":{"request_id":"c1","result":{"__proto__":[]}}}',
    ],
  ];

  test.each(protoBodies)(
    'defect 4: a "__proto__" key in %s → 400',
    async (_name, method, route, body) => {
      const error = await expectRefused(method, route(), body, invalidValue);
      expect(error.error).toMatch(/__proto__/);
    },
  );

  /** Defect 5: JSON.stringify writes a lone surrogate as an escape (`"\ud800"`). */
  const lone = ['\ud800', '\udfff', 'a\ud83db', '\ude00x'];
  const surrogateBodies = (s: string): [string, string, () => string, unknown][] => [
    ['model_id', 'POST', () => contexts, { model_id: `m${s}`, mode: 'chat' }],
    ['mode', 'POST', () => contexts, { model_id: 'm', mode: s }],
    ['a parameter value', 'POST', () => contexts, { model_id: 'm', mode: 'c', parameters: { s } }],
    [
      'a parameter key',
      'POST',
      () => contexts,
      { model_id: 'm', mode: 'c', parameters: { [s]: 1 } },
    ],
    [
      'a nested array',
      'POST',
      () => contexts,
      { model_id: 'm', mode: 'c', parameters: { a: [[s]] } },
    ],
    ['PUT model_id', 'PUT', ctx, { model_id: s }],
    ['PUT a parameter', 'PUT', ctx, { parameters: { deep: { s } } }],
    ['message content', 'POST', messages, { role: 'user', content: s }],
    ['a content part', 'POST', messages, { role: 'user', content: [{ type: 'text', text: s }] }],
    [
      'a tool call id',
      'POST',
      messages,
      { role: 'assistant', content: 'x', tool_calls: [{ id: s, tool_name: 't' }] },
    ],
    ['send_message', 'POST', () => `/v1/contexts/${id}/actions/send_message`, { content: s }],
    ['branch system_prompt', 'PUT', () => `/v1/contexts/${id}/branches/alt`, { system_prompt: s }],
    [
      'branch system_prompt.content',
      'PUT',
      () => `/v1/contexts/${id}/branches/alt`,
      { system_prompt: { id: 'p', content: s } },
    ],
    ['branch user_prompt', 'PUT', () => `/v1/contexts/${id}/branches/alt`, { user_prompt: s }],
    ['library prompt content', 'POST', () => '/v1/system-prompts', { id: 'p2', content: s }],
    ['library prompt id', 'POST', () => '/v1/system-prompts', { id: `p${s}`, content: 'x' }],
    ['library prompt update', 'PUT', () => '/v1/system-prompts/canary-prompt', { content: s }],
  ];

  for (const s of lone) {
    test.each(surrogateBodies(s))(
      `defect 5: a lone surrogate (${JSON.stringify(s)}) in %s → 400`,
      async (_name, method, route, body) => {
        const text = JSON.stringify(body);
        expect(text).toMatch(/\\ud[89a-f][0-9a-f]{2}/); // sent as an escape, not as U+FFFD
        await expectRefused(method, route(), text, invalidValue);
      },
    );
  }

  test('an object with more keys than the codec can write (65,536) → 400', async () => {
    const keys = Array.from({ length: 65_536 }, (_, i) => `"${i.toString(36)}":0`).join(',');
    const error = await expectRefused('PUT', ctx(), `{"parameters":{${keys}}}`, invalidValue);
    expect(error.error).toMatch(/more than 65535 keys/);
  });

  test('numbers beyond the double range (parsed to Infinity) → 400', async () => {
    await expectRefused(
      'POST',
      contexts,
      '{"model_id":"m","mode":"c","parameters":{"x":1e400}}',
      invalidValue,
    );
    await expectRefused('PUT', ctx(), '{"parameters":{"x":[-1e999]}}', invalidValue);
  });

  test('a body that is not UTF-8 → 400 invalid_json, not stored as U+FFFD', async () => {
    const utf8 = (text: string) => Buffer.from(text, 'utf8');
    const bodies = [
      Buffer.concat([utf8('{"model_id":"m'), Buffer.from([0xff]), utf8('","mode":"chat"}')]),
      // A surrogate encoded as if it were a character (CESU-8): not UTF-8.
      Buffer.concat([
        utf8('{"model_id":"m'),
        Buffer.from([0xed, 0xa0, 0x80]),
        utf8('","mode":"c"}'),
      ]),
      Buffer.concat([utf8('{"model_id":"m'), Buffer.from([0xc0, 0xae]), utf8('","mode":"c"}')]),
    ];
    for (const body of bodies) {
      await expectRefused('POST', contexts, body, { status: 400, code: 'invalid_json' });
    }
  });

  test('path and query values that do not decode, or decode to nothing valid → 4xx', async () => {
    const bad = ['%ED%A0%80', '%ff', '%', '%C0%AE%C0%AE', '%2E%2E', '%00'];
    const withBody = '{"user_prompt":"x","content":"x"}';
    for (const b of bad) {
      await expectRefused('GET', `/v1/contexts/${b}`, undefined);
      await expectRefused('PUT', `/v1/contexts/${b}`, '{"mode":"x"}');
      await expectRefused('DELETE', `/v1/contexts/${b}`, undefined);
      await expectRefused('POST', `/v1/contexts/${b}/messages`, '{"role":"user","content":"x"}');
      await expectRefused('GET', `${messages()}?branch=${b}`, undefined);
      await expectRefused('GET', `${messages()}?limit=${b}`, undefined);
      await expectRefused('GET', `/v1/contexts?limit=1&offset=${b}`, undefined);
      await expectRefused('PUT', `/v1/contexts/${id}/branches/${b}`, withBody);
      await expectRefused('DELETE', `/v1/contexts/${id}/branches/${b}`, undefined);
      await expectRefused('GET', `/v1/system-prompts/${b}`, undefined);
      await expectRefused('PUT', `/v1/system-prompts/${b}`, withBody);
      await expectRefused('DELETE', `/v1/system-prompts/${b}`, undefined);
      // The prompt is in use: without a real `force=true` the delete is refused.
      await expectRefused('DELETE', `/v1/system-prompts/canary-prompt?force=${b}`, undefined, {
        status: 409,
        code: 'prompt_in_use',
      });
    }
  });

  test('the server is still healthy', async () => {
    expect((await request(`${live.url}/health`)).status).toBe(200);
    expect((await appendMessage(live.url, id, 'still writable')).status).toBe(201);
  });
});
