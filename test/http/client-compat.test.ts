import { beforeAll, describe, expect, test } from 'vitest';
import { request } from '../support/http.js';
import { useApp } from '../support/in-process.js';

/**
 * The shapes the original backend's frontend reads, pinned through the app (in process). That frontend
 * treats any 2xx as success, reads exactly these fields, and saves a context by sending
 * back the whole DTO it got from GET. Anything here may gain fields; none may lose or
 * rename one.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const is2xx = (status: number) => status >= 200 && status < 300;

type Json = Record<string, unknown>;

function expectContextDto(dto: Json): void {
  expect(dto).toMatchObject({
    id: expect.stringMatching(UUID),
    config: {
      model_id: expect.any(String),
      mode: expect.any(String),
      parameters: expect.any(Object),
    },
    current_state: expect.any(String),
    active_branch_name: expect.any(String),
    message_count: expect.any(Number),
    branches: expect.any(Array),
    version: expect.any(Number),
    created_at: expect.any(String),
    updated_at: expect.any(String),
  });
  expect(dto).toHaveProperty('parent_id');
  expect(dto).toHaveProperty('state_detail');
  expect(dto).toHaveProperty('config.system_prompt_id');
}

function expectContextStatus(body: Json): void {
  expect(typeof body.status).toBe('string');
  expectContextDto(body.context as Json);
}

describe('clients written for the original backend work unchanged', () => {
  const live = useApp();
  let base: string;
  let id: string;

  beforeAll(() => {
    base = `${live.url}/v1`;
  });

  test('POST /v1/system-prompts with {id, content}; GET answers {prompts: [{id, content}]}', async () => {
    const created = await request(`${base}/system-prompts`, {
      method: 'POST',
      json: { id: 'frontend-prompt', content: 'You are helpful.' },
    });
    expect(is2xx(created.status)).toBe(true);
    const list = await request<{ prompts: Json[] }>(`${base}/system-prompts`);
    expect(is2xx(list.status)).toBe(true);
    expect(list.body.prompts).toEqual([{ id: 'frontend-prompt', content: 'You are helpful.' }]);
  });

  test('POST /v1/contexts answers {id}', async () => {
    const created = await request<{ id: string }>(`${base}/contexts`, {
      method: 'POST',
      json: { model_id: 'gpt-test', mode: 'chat', system_prompt_id: 'frontend-prompt' },
    });
    expect(is2xx(created.status)).toBe(true);
    expect(created.body.id).toMatch(UUID);
    id = created.body.id;
  });

  test('GET /v1/contexts answers {contexts: [{id, config, current_state, active_branch_name, message_count}]}', async () => {
    const list = await request<{ contexts: Json[] }>(`${base}/contexts`);
    expect(is2xx(list.status)).toBe(true);
    expect(list.body.contexts).toHaveLength(1);
    expect(list.body.contexts[0]).toMatchObject({
      id,
      config: { model_id: 'gpt-test', mode: 'chat', system_prompt_id: 'frontend-prompt' },
      current_state: 'Idle',
      active_branch_name: 'main',
      message_count: 0,
    });
  });

  test('GET /v1/contexts/{id} answers the context DTO', async () => {
    const got = await request<Json>(`${base}/contexts/${id}`);
    expect(is2xx(got.status)).toBe(true);
    expectContextDto(got.body);
  });

  test('…/actions/send_message, …/actions/approve_tools and …/state answer {context, status}', async () => {
    const said = await request<Json>(`${base}/contexts/${id}/actions/send_message`, {
      method: 'POST',
      json: { content: '!tool calculator {"expression": "2+3"}' },
    });
    expect(is2xx(said.status)).toBe(true);
    expectContextStatus(said.body);
    expect(said.body.status).toBe('awaiting_tool_approval');

    const page = await request<{ messages: { tool_calls: { id: string }[] }[] }>(
      `${base}/contexts/${id}/messages?limit=1000`,
    );
    const callId = page.body.messages.at(-1)!.tool_calls[0]!.id;
    const approved = await request<Json>(`${base}/contexts/${id}/actions/approve_tools`, {
      method: 'POST',
      json: { tool_call_ids: [callId] },
    });
    expect(is2xx(approved.status)).toBe(true);
    expectContextStatus(approved.body);
    expect(approved.body.status).toBe('idle');

    const state = await request<Json>(`${base}/contexts/${id}/state`);
    expect(is2xx(state.status)).toBe(true);
    expectContextStatus(state.body);
  });

  test('GET …/messages answers {messages, total, limit, offset}', async () => {
    const page = await request<Json>(`${base}/contexts/${id}/messages?limit=2&offset=1`);
    expect(is2xx(page.status)).toBe(true);
    expect(page.body).toMatchObject({
      messages: expect.any(Array),
      total: 4, // user, assistant (tool call), tool result, assistant
      limit: 2,
      offset: 1,
    });
    expect(page.body.messages).toHaveLength(2);
  });

  test('PUT /v1/contexts/{id} with the whole DTO from GET is accepted; read-only fields are ignored', async () => {
    const got = await request<Json>(`${base}/contexts/${id}`);
    const etag = got.headers.get('etag')!;
    const dto = got.body;
    const edited = {
      ...dto,
      config: { ...(dto.config as Json), mode: 'agent', parameters: { temperature: 0.2 } },
      // Read-only fields a client might send back stale or edited: ignored.
      current_state: 'Failed',
      message_count: 999,
      version: 1,
      created_at: '2000-01-01T00:00:00.000Z',
    };
    const saved = await request<Json>(`${base}/contexts/${id}`, {
      method: 'PUT',
      json: edited,
      headers: { 'if-match': etag },
    });
    expect(is2xx(saved.status)).toBe(true);
    expectContextDto(saved.body);
    expect(saved.body).toMatchObject({
      config: { mode: 'agent', parameters: { temperature: 0.2 }, model_id: 'gpt-test' },
      current_state: 'Idle',
      message_count: 4,
      version: (dto.version as number) + 1,
      created_at: dto.created_at,
    });

    // If-Match is still honoured: the same save against the old ETag is refused.
    const stale = await request<Json>(`${base}/contexts/${id}`, {
      method: 'PUT',
      json: edited,
      headers: { 'if-match': etag },
    });
    expect(stale.status).toBe(412);
    expect(stale.body).toMatchObject({ code: 'precondition_failed' });

    // And without If-Match the unchanged DTO round-trips.
    const again = await request<Json>(`${base}/contexts/${id}`, {
      method: 'PUT',
      json: saved.body,
    });
    expect(is2xx(again.status)).toBe(true);
    expect(again.body.config).toEqual(saved.body.config);
  });
});
