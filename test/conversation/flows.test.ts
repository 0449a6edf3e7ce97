import { describe, expect, test } from 'vitest';
import { type ContextDto, createContext, type MessagePage, request } from '../support/http.js';
import { useApp } from '../support/in-process.js';

interface ActionBody {
  context: ContextDto & { state_detail: unknown };
  status: string;
}

interface FullMessage {
  id: string;
  parent_id: string | null;
  role: string;
  content: { type: string; text: string }[];
  tool_calls: { id: string; tool_name: string; approval_status: string }[] | null;
  tool_result: { request_id: string; result: unknown } | null;
}

describe('conversation flows with the built-in provider (in process)', () => {
  const server = useApp();
  const action = (id: string, name: string, json: unknown) =>
    request<ActionBody & { error?: string; code?: string }>(
      `${server.url}/v1/contexts/${id}/actions/${name}`,
      { method: 'POST', json },
    );
  const messages = async (id: string) =>
    (
      await request<Omit<MessagePage, 'messages'> & { messages: FullMessage[] }>(
        `${server.url}/v1/contexts/${id}/messages?limit=1000`,
      )
    ).body.messages;

  test('message → answer, back to idle', async () => {
    const { id } = await createContext(server.url);
    const res = await action(id, 'send_message', { content: 'hello there' });
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('idle');
    expect(res.body.context.current_state).toBe('Idle');
    const all = await messages(id);
    expect(all.map((m) => m.role)).toEqual(['user', 'assistant']);
    expect(all[1]!.content[0]!.text).toBe('You said: hello there');
    expect(all[1]!.parent_id).toBe(all[0]!.id);
    const state = await request<ActionBody>(`${server.url}/v1/contexts/${id}/state`);
    expect(state.body.status).toBe('idle');
  });

  test('message → tool call (awaiting approval) → approve → tool result → answer', async () => {
    const { id } = await createContext(server.url);
    const asked = await action(id, 'send_message', {
      content: '!tool calculator {"expression": "6*7"}',
    });
    expect(asked.status).toBe(200);
    expect(asked.body.status).toBe('awaiting_tool_approval');
    const call = (await messages(id)).at(-1)!.tool_calls![0]!;
    expect(call).toMatchObject({ tool_name: 'calculator', approval_status: 'Pending' });

    // Busy: a new message is refused while the approval is pending.
    const busy = await action(id, 'send_message', { content: 'are you there?' });
    expect(busy.status).toBe(409);
    expect(busy.body.code).toBe('context_busy');

    const approved = await action(id, 'approve_tools', { tool_call_ids: [call.id] });
    expect(approved.status).toBe(200);
    expect(approved.body.status).toBe('idle');
    const all = await messages(id);
    expect(all.map((m) => m.role)).toEqual(['user', 'assistant', 'tool', 'assistant']);
    expect(all[1]!.tool_calls![0]!.approval_status).toBe('Approved');
    expect(all[2]!.tool_result).toEqual({
      request_id: call.id,
      result: { expression: '6*7', value: 42 },
    });
    expect(all.at(-1)!.content[0]!.text).toContain('"value":42');
    expect(all.every((m, i) => m.parent_id === (i === 0 ? null : all[i - 1]!.id))).toBe(true);
  });

  test('deny path: the denied call gets a tool message saying so, then the LLM answers', async () => {
    const { id } = await createContext(server.url);
    await action(id, 'send_message', { content: '!tool current_time' });
    const denied = await action(id, 'approve_tools', { tool_call_ids: [] });
    expect(denied.status).toBe(200);
    expect(denied.body.status).toBe('idle');
    const all = await messages(id);
    expect(all[1]!.tool_calls![0]!.approval_status).toBe('Denied');
    expect(all[2]!.role).toBe('tool');
    expect(all[2]!.content[0]!.text).toMatch(/denied/);
    expect(all[2]!.tool_result!.result).toEqual({ denied: true });
    expect(all.at(-1)!.role).toBe('assistant');
  });

  test('a tool that throws gives a tool result carrying the error, not a crash', async () => {
    const { id } = await createContext(server.url);
    await action(id, 'send_message', { content: '!tool calculator {"expression": "1/0"}' });
    const call = (await messages(id)).at(-1)!.tool_calls![0]!;
    const res = await action(id, 'approve_tools', { tool_call_ids: [call.id] });
    expect(res.status).toBe(200);
    const tool = (await messages(id)).find((m) => m.role === 'tool')!;
    expect(tool.tool_result!.result).toEqual({ error: 'division by zero' });
  });

  test('tools/approve marks calls without running anything', async () => {
    const { id } = await createContext(server.url);
    await action(id, 'send_message', { content: '!tool current_time' });
    const call = (await messages(id)).at(-1)!.tool_calls![0]!;
    const marked = await request<FullMessage>(`${server.url}/v1/contexts/${id}/tools/approve`, {
      method: 'POST',
      json: { tool_call_ids: [call.id] },
    });
    expect(marked.status).toBe(200);
    const all = await messages(id);
    expect(all).toHaveLength(2); // nothing ran
    expect(all[1]!.tool_calls![0]!.approval_status).toBe('Approved');
    const state = await request<ActionBody>(`${server.url}/v1/contexts/${id}/state`);
    expect(state.body.status).toBe('awaiting_tool_approval');
    const unknown = await request<{ code: string }>(
      `${server.url}/v1/contexts/${id}/tools/approve`,
      { method: 'POST', json: { tool_call_ids: ['nope'] } },
    );
    expect(unknown.status).toBe(400);
  });

  test('approve when nothing is pending → 400 "No pending tool approvals"', async () => {
    const { id } = await createContext(server.url);
    const res = await action(id, 'approve_tools', { tool_call_ids: ['call_1'] });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('No pending tool approvals');
    await action(id, 'send_message', { content: 'hi' });
    const after = await action(id, 'approve_tools', { tool_call_ids: [] });
    expect(after.status).toBe(400);
    expect(after.body.error).toBe('No pending tool approvals');
  });

  test('bad action input → 400, unknown context → 404', async () => {
    const { id } = await createContext(server.url);
    expect((await action(id, 'send_message', {})).status).toBe(400);
    expect((await action(id, 'approve_tools', { tool_call_ids: 'x' })).status).toBe(400);
    const missing = await action('8a1e2c4d-1b2c-4d5e-8f90-123456789abc', 'send_message', {
      content: 'x',
    });
    expect(missing.status).toBe(404);
  });
});
