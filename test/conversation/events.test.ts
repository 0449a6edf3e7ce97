import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createContext, request } from '../support/http.js';
import { makeDataDir, type ServerProcess, startServerProcess } from '../support/server-process.js';
import { openSse } from '../support/sse-client.js';

describe('live events (Server-Sent Events)', () => {
  const data = makeDataDir();
  let server: ServerProcess;

  beforeAll(async () => {
    server = await startServerProcess(data.dir);
  });

  afterAll(async () => {
    await server?.stop();
    data.remove();
  });

  const send = (id: string, path: string, json: unknown) =>
    request<{ status: string }>(`${server.url}/v1/contexts/${id}/${path}`, {
      method: 'POST',
      json,
    });

  test('a client sees the state sequence of a tool-approval flow in order; a reconnect misses nothing', async () => {
    const { id } = await createContext(server.url);
    const url = `${server.url}/v1/contexts/${id}/events`;
    const first = await openSse(url);

    const asked = await send(id, 'actions/send_message', {
      content: '!tool calculator {"expression":"2+2"}',
    });
    expect(asked.body.status).toBe('awaiting_tool_approval');
    await first.waitFor(
      (e) =>
        e.event === 'state' && (e.data as { status: string }).status === 'awaiting_tool_approval',
    );
    first.close();
    const seen = first.events.at(-1)!.id!;

    // While disconnected: the approval runs the tool and the LLM answers.
    const page = await request<{ messages: { tool_calls: { id: string }[] | null }[] }>(
      `${server.url}/v1/contexts/${id}/messages`,
    );
    const callId = page.body.messages.at(-1)!.tool_calls![0]!.id;
    const approved = await send(id, 'actions/approve_tools', { tool_call_ids: [callId] });
    expect(approved.body.status).toBe('idle');

    const second = await openSse(url, seen);
    await second.waitFor(
      (e) => e.event === 'state' && (e.data as { status: string }).status === 'idle',
    );
    second.close();

    const all = [...first.events, ...second.events];
    const ids = all.map((e) => Number(e.id));
    // Ids are consecutive across the reconnect: no gap, no repeat.
    expect(ids).toEqual(ids.map((_, i) => ids[0]! + i));
    const states = all
      .filter((e) => e.event === 'state')
      .map((e) => (e.data as { state: string }).state);
    expect(states).toEqual([
      'ProcessingUserMessage',
      'AwaitingLLMResponse',
      'ProcessingLLMResponse',
      'AwaitingToolApproval',
      'ExecutingTools',
      'ProcessingToolResults',
      'GeneratingResponse',
      'AwaitingLLMResponse',
      'StreamingLLMResponse',
      'ProcessingLLMResponse',
      'Idle',
    ]);
    const roles = all
      .filter((e) => e.event === 'message')
      .map((e) => (e.data as { role: string }).role);
    expect(roles).toEqual(['user', 'assistant', 'tool', 'assistant']);
    const deltas = all
      .filter((e) => e.event === 'delta')
      .map((e) => (e.data as { text: string }).text);
    expect(deltas.join('')).toMatch(/^Tool results: /);
  });

  test('deleting a context ends its open event streams with a `deleted` event', async () => {
    const { id } = await createContext(server.url);
    const client = await openSse(`${server.url}/v1/contexts/${id}/events`);
    const deleted = await request(`${server.url}/v1/contexts/${id}`, { method: 'DELETE' });
    expect(deleted.status).toBe(204);
    let timer: NodeJS.Timeout | undefined;
    const stillOpen = new Promise<'open'>((r) => {
      timer = setTimeout(() => r('open'), 5_000);
    });
    try {
      expect(await Promise.race([client.ended.then(() => 'ended'), stillOpen])).toBe('ended');
    } finally {
      clearTimeout(timer);
      client.close();
    }
    expect(client.events.at(-1)?.event).toBe('deleted');
  });

  test('direct appends are events too; a bad Last-Event-ID is a 400; unknown context 404', async () => {
    const { id } = await createContext(server.url);
    const client = await openSse(`${server.url}/v1/contexts/${id}/events`);
    await request(`${server.url}/v1/contexts/${id}/messages`, {
      method: 'POST',
      json: { role: 'user', content: 'plain append' },
    });
    const event = await client.waitFor((e) => e.event === 'message');
    expect((event.data as { content: { text: string }[] }).content[0]!.text).toBe('plain append');
    client.close();
    const bad = await fetch(`${server.url}/v1/contexts/${id}/events`, {
      headers: { 'last-event-id': 'abc' },
    });
    expect(bad.status).toBe(400);
    await bad.body?.cancel();
    const missing = await fetch(
      `${server.url}/v1/contexts/7c9e6679-7425-40de-944b-e07fc1f90ae7/events`,
    );
    expect(missing.status).toBe(404);
    await missing.body?.cancel();
  });
});
