import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fetchAt } from '../support/http.js';
import { useApp } from '../support/in-process.js';
import { type Answer, OpenApiContract } from '../support/openapi-contract.js';
import { useServer } from '../support/server-process.js';
import { openSse } from '../support/sse-client.js';

/**
 * The OpenAPI document (`docs/openapi.yaml`, served at `/openapi.json`) against the server
 * (in process through `app.request()`; a real process for the live events stream and a
 * worker's end): every route is driven through its success and error paths, and every
 * answer is checked with ajv (status declared for that operation, declared headers present,
 * body valid against its schema, undeclared fields refused). Bounded: about 150 requests
 * on the main server, 40 concurrent appends on the one set up for errors.
 */

interface Sent {
  params?: Record<string, string>;
  query?: string;
  json?: unknown;
  body?: string;
  type?: string;
  headers?: Record<string, string>;
}

interface Result extends Answer {
  body: unknown;
}

const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';

function urlOf(base: string, template: string, sent: Sent): string {
  const path = template.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = sent.params?.[name];
    if (value === undefined) throw new Error(`no value for {${name}} in ${template}`);
    return encodeURIComponent(value);
  });
  return `${base}${path}${sent.query === undefined ? '' : `?${sent.query}`}`;
}

async function send(
  contract: OpenApiContract,
  base: string,
  method: string,
  template: string,
  sent: Sent = {},
): Promise<Result> {
  const headers: Record<string, string> = { ...sent.headers };
  let body = sent.body;
  if (sent.json !== undefined) body = JSON.stringify(sent.json);
  if (body !== undefined) headers['content-type'] = sent.type ?? 'application/json';
  const res = await fetchAt(urlOf(base, template, sent), { method, headers, body });
  const text = await res.text();
  const answer = { status: res.status, headers: res.headers, text };
  expect(contract.check(method, template, answer)).toEqual([]);
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = text;
  }
  return { ...answer, body: parsed };
}

/** The contracts of every server below: together they must have seen every operation. */
const contracts: OpenApiContract[] = [];

/**
 * The document the server serves, fetched before the enclosing `describe`'s tests (after
 * the server starts), as a contract to check its answers against.
 */
interface ContractClient {
  readonly contract: OpenApiContract;
  /** Sends a request to the server, its answer checked against the contract. */
  call(method: string, template: string, sent?: Sent): Promise<Result>;
  /** `call`, and expects `status`. */
  expectStatus(method: string, template: string, sent: Sent, status: number): Promise<Result>;
}

function useContract(server: { readonly url: string }): ContractClient {
  let contract: OpenApiContract | undefined;
  beforeAll(async () => {
    const res = await fetchAt(`${server.url}/openapi.json`);
    contract = new OpenApiContract((await res.json()) as Record<string, unknown>);
    contracts.push(contract);
  });
  const client: ContractClient = {
    get contract() {
      if (contract === undefined) throw new Error('the contract is not fetched yet');
      return contract;
    },
    call: (method, template, sent) => send(client.contract, server.url, method, template, sent),
    expectStatus: async (method, template, sent, status) => {
      const res = await client.call(method, template, sent);
      expect(res.status, `${method} ${template}: ${res.text}`).toBe(status);
      return res;
    },
  };
  return client;
}

/** Nested arrays `depth` levels deep: past the JSON value rules' limit of 64. */
const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

describe('the OpenAPI document matches what the server answers (in process)', () => {
  const server = useApp({ env: { MAX_BODY_BYTES: '4096' } });
  const api = useContract(server);
  const { call, expectStatus } = api;

  test('operations: /openapi.json, /health, /metrics', async () => {
    const doc = await expectStatus('GET', '/openapi.json', {}, 200);
    expect((doc.body as { openapi: string }).openapi).toBe('3.1.0');
    await expectStatus('GET', '/health', {}, 200);
    const metrics = await expectStatus('GET', '/metrics', {}, 200);
    expect(metrics.text).toContain('# HELP');
    const traced = await expectStatus(
      'GET',
      '/health',
      { headers: { 'x-trace-id': 'abc-1' } },
      200,
    );
    expect(traced.headers.get('x-trace-id')).toBe('abc-1');
  });

  test('system prompts: create, list, get, update, and their errors', async () => {
    const P = '/v1/system-prompts';
    const P1 = '/v1/system-prompts/{id}';
    const created = await expectStatus(
      'POST',
      P,
      { json: { id: 'helper', content: 'Help.' } },
      201,
    );
    expect(created.headers.get('location')).toBe('/v1/system-prompts/helper');
    await expectStatus('POST', P, { json: { id: 'helper', content: 'again' } }, 409);
    await expectStatus('POST', P, { json: { id: 'no-content' } }, 400);
    await expectStatus('POST', P, { body: '{"id":', type: 'application/json' }, 400);
    await expectStatus('POST', P, { body: 'id=x', type: 'text/plain' }, 415);
    await expectStatus('POST', P, { json: { id: 'big', content: 'x'.repeat(5000) } }, 413);
    await expectStatus('GET', P, {}, 200);
    await expectStatus('GET', P1, { params: { id: 'helper' } }, 200);
    await expectStatus('GET', P1, { params: { id: 'missing' } }, 404);
    await expectStatus('GET', P1, { params: { id: 'no spaces' } }, 400);
    await expectStatus('PUT', P1, { params: { id: 'helper' }, json: { content: 'Help!' } }, 200);
    await expectStatus('PUT', P1, { params: { id: 'missing' }, json: { content: 'x' } }, 404);
    await expectStatus('PUT', P1, { params: { id: 'helper' }, json: { content: 7 } }, 400);
    await expectStatus('PUT', P1, { params: { id: 'helper' }, body: 'x', type: 'text/plain' }, 415);
    await expectStatus('POST', P, { json: { id: 'spare', content: 'Spare.' } }, 201);
    await expectStatus('DELETE', P1, { params: { id: 'spare' } }, 204);
    await expectStatus('DELETE', P1, { params: { id: 'spare' } }, 404);
    await expectStatus('DELETE', P1, { params: { id: 'no spaces' } }, 400);
  });

  test('contexts: create, list, get, update, delete, and their errors', async () => {
    const C = '/v1/contexts';
    const C1 = '/v1/contexts/{id}';
    const created = await expectStatus(
      'POST',
      C,
      { json: { model_id: 'm', mode: 'chat', system_prompt_id: 'helper' } },
      201,
    );
    const ctx = created.body as { id: string };
    const params = { id: ctx.id };
    expect(created.headers.get('location')).toBe(`/v1/contexts/${ctx.id}`);
    await expectStatus('POST', C, { json: { model_id: 'm' } }, 400);
    await expectStatus('POST', C, { body: '{"model_id":', type: 'application/json' }, 400);
    const deep = await expectStatus('POST', C, { body: nested(80), type: 'application/json' }, 400);
    expect((deep.body as { code: string }).code).toBe('invalid_json_value');
    await expectStatus(
      'POST',
      C,
      { json: { model_id: 'm', mode: 'c', system_prompt_id: 'x' } },
      404,
    );
    await expectStatus('POST', C, { body: 'x', type: 'text/plain' }, 415);
    await expectStatus('POST', C, { json: { model_id: 'm', mode: 'x'.repeat(5000) } }, 413);

    await expectStatus('GET', C, {}, 200);
    await expectStatus('GET', C, { query: 'limit=1&offset=0' }, 200);
    await expectStatus('GET', C, { query: 'limit=0' }, 400);

    const got = await expectStatus('GET', C1, { params }, 200);
    const etag = got.headers.get('etag')!;
    await expectStatus('GET', C1, { params, headers: { 'if-none-match': etag } }, 304);
    await expectStatus('GET', C1, { params: { id: 'not-a-uuid' } }, 400);
    await expectStatus('GET', C1, { params: { id: UNKNOWN_ID } }, 404);

    const updated = await expectStatus(
      'PUT',
      C1,
      { params, json: { mode: 'agent' }, headers: { 'if-match': etag } },
      200,
    );
    await expectStatus(
      'PUT',
      C1,
      { params, json: { mode: 'x' }, headers: { 'if-match': etag } },
      412,
    );
    // A whole context DTO, as GET returns it, is accepted.
    await expectStatus('PUT', C1, { params, json: updated.body }, 200);
    await expectStatus('PUT', C1, { params, json: { active_branch_name: 'nope' } }, 404);
    await expectStatus('PUT', C1, { params, json: { system_prompt_id: 'missing' } }, 404);
    await expectStatus('PUT', C1, { params, json: { mode: 5 } }, 400);
    await expectStatus('PUT', C1, { params, body: 'x', type: 'text/plain' }, 415);
    await expectStatus('PUT', C1, { params, json: { mode: 'y'.repeat(5000) } }, 413);
    await expectStatus('PUT', C1, { params: { id: UNKNOWN_ID }, json: { mode: 'x' } }, 404);

    const doomed = (await expectStatus('POST', C, { json: { model_id: 'm', mode: 'c' } }, 201))
      .body as { id: string };
    await expectStatus('DELETE', C1, { params: doomed, headers: { 'if-match': '"99"' } }, 412);
    await expectStatus('DELETE', C1, { params: doomed, headers: { 'if-match': '"1"' } }, 204);
    await expectStatus('DELETE', C1, { params: doomed }, 404);
    await expectStatus('GET', C1, { params: doomed }, 404);
    await expectStatus('DELETE', C1, { params: { id: 'nope' } }, 400);
  });

  test('messages and state: append, page, conditional reads, and their errors', async () => {
    const ctx = (await call('POST', '/v1/contexts', { json: { model_id: 'm', mode: 'c' } }))
      .body as { id: string };
    const params = { id: ctx.id };
    const M = '/v1/contexts/{id}/messages';
    await expectStatus('POST', M, { params, json: { role: 'user', content: 'hi' } }, 201);
    await expectStatus(
      'POST',
      M,
      {
        params,
        json: {
          role: 'user',
          content: [
            { type: 'text', text: 'look' },
            { type: 'image', url: 'https://example.invalid/a.png', detail: 'low' },
          ],
        },
      },
      201,
    );
    await expectStatus(
      'POST',
      M,
      {
        params,
        json: { role: 'tool', content: '42', tool_result: { request_id: 'c1', result: 42 } },
      },
      201,
    );
    const bad = await expectStatus(
      'POST',
      M,
      { params, json: { role: 'robot', content: 'x' } },
      400,
    );
    expect((bad.body as { code: string }).code).toBe('invalid_role');
    await expectStatus('POST', M, { params, json: { role: 'user' } }, 400);
    const lone = '{"role":"user","content":"\\ud800"}';
    await expectStatus('POST', M, { params, body: lone, type: 'application/json' }, 400);
    const proto = '{"role":"user","content":"x","__proto__":{}}';
    await expectStatus('POST', M, { params, body: proto, type: 'application/json' }, 400);
    await expectStatus(
      'POST',
      M,
      { params, json: { role: 'user', content: 'x', branch: 'no' } },
      404,
    );
    await expectStatus(
      'POST',
      M,
      { params, json: { role: 'user', content: 'x' }, headers: { 'if-match': '"1"' } },
      412,
    );
    await expectStatus('POST', M, { params, body: 'x', type: 'text/plain' }, 415);
    await expectStatus(
      'POST',
      M,
      { params, json: { role: 'user', content: 'z'.repeat(5000) } },
      413,
    );
    await expectStatus(
      'POST',
      M,
      { params: { id: UNKNOWN_ID }, json: { role: 'user', content: 'x' } },
      404,
    );

    const page = await expectStatus('GET', M, { params, query: 'limit=2&offset=1' }, 200);
    expect((page.body as { total: number }).total).toBe(3);
    await expectStatus('GET', M, { params, query: 'branch=main' }, 200);
    await expectStatus('GET', M, { params, query: 'branch=nope' }, 404);
    await expectStatus('GET', M, { params, query: 'branch=-bad' }, 400);
    await expectStatus('GET', M, { params, query: 'limit=5000' }, 400);
    await expectStatus('GET', M, { params: { id: 'x' } }, 400);
    await expectStatus('GET', M, { params: { id: UNKNOWN_ID } }, 404);

    const S = '/v1/contexts/{id}/state';
    const state = await expectStatus('GET', S, { params }, 200);
    expect((state.body as { status: string }).status).toBe('idle');
    const etag = state.headers.get('etag')!;
    await expectStatus('GET', S, { params, headers: { 'if-none-match': `W/"0", ${etag}` } }, 304);
    await expectStatus('GET', S, { params: { id: 'x' } }, 400);
    await expectStatus('GET', S, { params: { id: UNKNOWN_ID } }, 404);
  });

  test('branches: fork, set prompts, delete, and their errors', async () => {
    const ctx = (await call('POST', '/v1/contexts', { json: { model_id: 'm', mode: 'c' } }))
      .body as { id: string };
    const params = { id: ctx.id };
    const first = (
      await call('POST', '/v1/contexts/{id}/messages', {
        params,
        json: { role: 'user', content: 'one' },
      })
    ).body as { id: string };
    await call('POST', '/v1/contexts/{id}/messages', {
      params,
      json: { role: 'user', content: 'two' },
    });

    const B = '/v1/contexts/{id}/branches';
    const B1 = '/v1/contexts/{id}/branches/{name}';
    const fork = await expectStatus(
      'POST',
      B,
      { params, json: { name: 'alt', from_branch: 'main', at_message_id: first.id } },
      201,
    );
    expect(fork.headers.get('location')).toBe(`/v1/contexts/${ctx.id}/branches/alt`);
    expect((fork.body as { message_count: number }).message_count).toBe(1);
    await expectStatus('POST', B, { params, json: { name: 'alt' } }, 409);
    await expectStatus('POST', B, { params, json: { name: 'b2', from_branch: 'nope' } }, 404);
    await expectStatus('POST', B, { params, json: { name: 'b3', at_message_id: UNKNOWN_ID } }, 404);
    await expectStatus('POST', B, { params, json: { name: '' } }, 400);
    await expectStatus('POST', B, { params, body: 'x', type: 'text/plain' }, 415);
    await expectStatus('POST', B, { params, json: { name: 'x'.repeat(5000) } }, 413);

    const alt = { id: ctx.id, name: 'alt' };
    await expectStatus('PUT', B1, { params: alt, json: { system_prompt_id: 'helper' } }, 200);
    await expectStatus(
      'PUT',
      B1,
      { params: alt, json: { system_prompt: { content: 'inline' }, user_prompt: 'be brief' } },
      200,
    );
    await expectStatus('PUT', B1, { params: alt, json: { system_prompt: null } }, 200);
    await expectStatus('PUT', B1, { params: alt, json: {} }, 400);
    await expectStatus('PUT', B1, { params: alt, json: { system_prompt_id: 'missing' } }, 404);
    await expectStatus(
      'PUT',
      B1,
      { params: { id: ctx.id, name: 'nope' }, json: { user_prompt: 'x' } },
      404,
    );
    await expectStatus('PUT', B1, { params: alt, body: 'x', type: 'text/plain' }, 415);
    await expectStatus('PUT', B1, { params: alt, json: { user_prompt: 'u'.repeat(5000) } }, 413);

    await expectStatus('DELETE', B1, { params: { id: ctx.id, name: 'main' } }, 409);
    await expectStatus('DELETE', B1, { params: alt }, 204);
    await expectStatus('DELETE', B1, { params: alt }, 404);
    await expectStatus('DELETE', B1, { params: { id: ctx.id, name: '.bad' } }, 400);
  });

  test('prompt in use, then forced delete', async () => {
    const P1 = '/v1/system-prompts/{id}';
    const used = await expectStatus('DELETE', P1, { params: { id: 'helper' } }, 409);
    expect((used.body as { code: string }).code).toBe('prompt_in_use');
    await expectStatus('DELETE', P1, { params: { id: 'helper' }, query: 'force=true' }, 204);
  });
});

describe('the OpenAPI document: the live events stream over a real socket', () => {
  // The events route writes to the Node response itself, so it needs a real socket.
  const server = useServer({ env: { MAX_BODY_BYTES: '4096' } });
  const api = useContract(server);
  const { call, expectStatus } = api;

  test('conversation: send_message, tool approvals, busy, and live events', async () => {
    const ctx = (await call('POST', '/v1/contexts', { json: { model_id: 'm', mode: 'c' } }))
      .body as { id: string };
    const params = { id: ctx.id };
    const E = '/v1/contexts/{id}/events';

    // The stream's own answer: status and headers (the body never ends, so it is not read).
    const controller = new AbortController();
    const head = await fetch(urlOf(server.url, E, { params }), { signal: controller.signal });
    expect(
      api.contract.check('GET', E, { status: head.status, headers: head.headers, text: '' }),
    ).toEqual([]);
    expect(head.status).toBe(200);
    controller.abort();
    await expectStatus('GET', E, { params, headers: { 'last-event-id': 'abc' } }, 400);
    await expectStatus('GET', E, { params, query: 'last_event_id=-1' }, 400);
    await expectStatus('GET', E, { params: { id: UNKNOWN_ID } }, 404);
    await expectStatus('GET', E, { params: { id: 'x' } }, 400);

    const stream = await openSse(urlOf(server.url, E, { params }));
    try {
      const A = '/v1/contexts/{id}/actions/send_message';
      // `!tool` arguments the server cannot store: 400 with the context, left Failed.
      const unstorable = await expectStatus(
        'POST',
        A,
        { params, json: { content: '!tool calculator {"x": 1e400}' } },
        400,
      );
      expect(unstorable.body).toMatchObject({ code: 'invalid_json_value', status: 'failed' });
      const said = await expectStatus('POST', A, { params, json: { content: 'hello there' } }, 200);
      expect((said.body as { status: string }).status).toBe('idle');
      const asked = await expectStatus(
        'POST',
        A,
        { params, json: { content: '!tool calculator {"expression": "6*7"}' } },
        200,
      );
      expect((asked.body as { status: string }).status).toBe('awaiting_tool_approval');
      const busy = await expectStatus('POST', A, { params, json: { content: 'again' } }, 409);
      expect((busy.body as { code: string }).code).toBe('context_busy');
      await expectStatus('POST', A, { params, json: {} }, 400);
      await expectStatus('POST', A, { params, body: 'x', type: 'text/plain' }, 415);
      await expectStatus('POST', A, { params, json: { content: 'c'.repeat(5000) } }, 413);
      await expectStatus('POST', A, { params: { id: UNKNOWN_ID }, json: { content: 'x' } }, 404);

      const T = '/v1/contexts/{id}/tools/approve';
      const X = '/v1/contexts/{id}/actions/approve_tools';
      const state = (
        await call('GET', '/v1/contexts/{id}/messages', { params, query: 'limit=1000' })
      ).body as { messages: { tool_calls: { id: string }[] | null }[] };
      const callId = state.messages.at(-1)!.tool_calls![0]!.id;
      const noSuchContext = { params: { id: UNKNOWN_ID }, json: { tool_call_ids: [] } };
      await expectStatus('POST', T, { params, json: { tool_call_ids: ['nope'] } }, 400);
      await expectStatus('POST', T, { params, json: { tool_call_ids: 'x' } }, 400);
      await expectStatus('POST', T, { params, body: 'x', type: 'text/plain' }, 415);
      await expectStatus('POST', T, { params, json: { tool_call_ids: ['t'.repeat(5000)] } }, 413);
      await expectStatus('POST', T, noSuchContext, 404);
      await expectStatus('POST', T, { params, json: { tool_call_ids: [callId] } }, 200);
      await expectStatus('POST', X, { params, json: { tool_call_ids: [] } }, 200);
      const none = await expectStatus('POST', X, { params, json: { tool_call_ids: [] } }, 400);
      expect((none.body as { code: string }).code).toBe('no_pending_tool_approvals');
      await expectStatus('POST', T, { params, json: { tool_call_ids: [] } }, 400);
      await expectStatus('POST', X, { params, body: 'x', type: 'text/plain' }, 415);
      await expectStatus('POST', X, { params, json: { tool_call_ids: ['t'.repeat(5000)] } }, 413);
      await expectStatus('POST', X, noSuchContext, 404);

      // The turn ended in Idle; every event it published matches its declared schema.
      await stream.waitFor(
        (e) => e.event === 'state' && (e.data as { state: string }).state === 'Idle',
      );
      const kinds = new Set(stream.events.map((e) => e.event));
      expect([...kinds].sort()).toEqual(['delta', 'message', 'state']);
      for (const event of stream.events) expect(api.contract.checkEvent(E, event)).toEqual([]);
    } finally {
      stream.close();
    }
  });
});

/**
 * One worker and a queue of one, so concurrent writes overflow it (503 `overloaded`); an
 * upstream that always fails, so a turn fails after its retries (502 `llm_failed`); a
 * token, so requests without it answer 401; fault injection.
 */
const SET_UP_FOR_ERRORS = {
  WORKERS: '1',
  MAX_QUEUE: '1',
  API_TOKEN: 's3cret',
  LLM_PROVIDER: 'openai',
  LLM_API_KEY: 'none',
  LLM_TIMEOUT_MS: '2000',
  FAULT_INJECTION: 'true',
};
const auth = { authorization: 'Bearer s3cret' };

describe('the OpenAPI document: 401, 502, 503 on a server set up for them (in process)', () => {
  let upstream: Server;

  beforeAll(async () => {
    // An OpenAI-compatible upstream on loopback that always answers 500 (a transient error).
    upstream = createServer((_, res) => res.writeHead(500).end('{"error":"down"}'));
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  });
  afterAll(() => {
    upstream?.close();
  });
  // Built after the upstream listens, stopped before it closes (hooks unwind in reverse).
  const server = useApp({
    env: () => ({
      ...SET_UP_FOR_ERRORS,
      LLM_BASE_URL: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`,
    }),
  });
  const api = useContract(server);
  test('401 with WWW-Authenticate on /v1 without the token; operations routes stay open', async () => {
    const denied = await api.call('GET', '/v1/contexts');
    expect(denied.status).toBe(401);
    expect(denied.headers.get('www-authenticate')).toBe('Bearer');
    const wrong = await api.call('POST', '/v1/system-prompts', {
      json: { id: 'a', content: 'b' },
      headers: { authorization: 'Bearer nope' },
    });
    expect(wrong.status).toBe(401);
    expect((await api.call('GET', '/health')).status).toBe(200);
    expect((await api.call('GET', '/openapi.json')).status).toBe(200);
  });

  test('502 llm_failed with the context when the LLM keeps failing', async () => {
    const created = await api.call('POST', '/v1/contexts', {
      json: { model_id: 'm', mode: 'c' },
      headers: auth,
    });
    expect(created.status).toBe(201);
    const params = { id: (created.body as { id: string }).id };
    const failed = await api.call('POST', '/v1/contexts/{id}/actions/send_message', {
      params,
      json: { content: 'hello' },
      headers: auth,
    });
    expect(failed.status).toBe(502);
    expect((failed.body as { status: string }).status).toBe('failed');
  });

  test('503 overloaded with Retry-After when the worker queue is full (40 concurrent appends)', async () => {
    const created = await api.call('POST', '/v1/contexts', {
      json: { model_id: 'm', mode: 'c' },
      headers: auth,
    });
    const params = { id: (created.body as { id: string }).id };
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        api.call('POST', '/v1/contexts/{id}/messages', {
          params,
          json: { role: 'user', content: `m${i}` },
          headers: auth,
        }),
      ),
    );
    const statuses = new Set(answers.map((a) => a.status));
    expect([...statuses].every((s) => s === 201 || s === 503)).toBe(true);
    expect(statuses.has(503)).toBe(true);
  });
});

describe('the OpenAPI document: fault injection, a worker ended (real process)', () => {
  const server = useServer({
    env: { ...SET_UP_FOR_ERRORS, LLM_BASE_URL: 'http://127.0.0.1:9/v1' },
  });
  const api = useContract(server);
  test('fault injection: a worker ended holding a read lock answers 500; the context serves again', async () => {
    const created = await api.call('POST', '/v1/contexts', {
      json: { model_id: 'm', mode: 'c' },
      headers: auth,
    });
    const params = { id: (created.body as { id: string }).id };
    const crash = '/v1/contexts/{id}/debug/crash-worker';
    const bad = await api.call('POST', crash, {
      params,
      query: 'mode=sideways',
      headers: auth,
    });
    expect(bad.status).toBe(400);
    const crashed = await api.call('POST', crash, {
      params,
      query: 'mode=read',
      headers: auth,
    });
    expect(crashed.status).toBe(500);
    // Bounded: at most 50 reads, 100 ms apart, until the replaced worker serves it.
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      const got = await api.call('GET', '/v1/contexts/{id}/messages', {
        params,
        headers: auth,
      });
      status = got.status;
      if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(status).toBe(200);
  });
});

describe('coverage', () => {
  test('every operation of the document was driven over HTTP', () => {
    expect(contracts).toHaveLength(4);
    const driven = new Set(
      contracts.flatMap((c) => [...c.seen].map((s) => s.split(' ').slice(0, 2).join(' '))),
    );
    expect(contracts[0]!.operations().filter((op) => !driven.has(op))).toEqual([]);
  });
});
