import { describe, expect, test } from 'vitest';
import { streamText, streamToolCall, useFakeOpenAi } from '../support/fake-openai.js';
import { createContext, request } from '../support/http.js';
import { useApp } from '../support/in-process.js';

interface ActionBody {
  context: { current_state: string; state_detail: { error: string } | null };
  status: string;
  error?: string;
  code?: string;
}

describe('OpenAI-compatible provider against a local server speaking the protocol (app in process)', () => {
  const fake = useFakeOpenAi();
  const server = useApp({ env: () => fake.env({ LLM_API_KEY: 'test-key' }) });

  const send = (id: string, content: string) =>
    request<ActionBody>(`${server.url}/v1/contexts/${id}/actions/send_message`, {
      method: 'POST',
      json: { content },
    });

  test('streams an answer: model, key, tools and the conversation reach the upstream', async () => {
    fake.requests.length = 0;
    fake.script = (_req, res) => streamText(res, 'Streamed hello from upstream', 4);
    const ctx = await createContext(server.url, {
      model_id: 'gpt-test',
      parameters: { temperature: 0.2 },
    });
    const res = await send(ctx.id, 'Hi!');
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('idle');
    const [upstream] = fake.requests;
    expect(upstream!.model).toBe('gpt-test');
    expect(upstream!.stream).toBe(true);
    expect(upstream!.authorization).toBe('Bearer test-key');
    expect((upstream as unknown as { temperature: number }).temperature).toBe(0.2);
    expect(upstream!.tools!.map((t) => t.function.name).sort()).toEqual([
      'calculator',
      'current_time',
    ]);
    expect(upstream!.messages.at(-1)).toEqual({ role: 'user', content: 'Hi!' });
    const page = await request<{
      messages: { role: string; content: { text: string }[]; metadata: { tokens: unknown } }[];
    }>(`${server.url}/v1/contexts/${ctx.id}/messages`);
    const answer = page.body.messages.at(-1)!;
    expect(answer.content[0]!.text).toBe('Streamed hello from upstream');
    expect(answer.metadata.tokens).toEqual({ prompt_tokens: 11, completion_tokens: 7 });
  });

  test('tool calling: streamed call → approval → result sent back upstream → answer', async () => {
    fake.requests.length = 0;
    fake.script = (req, res) => {
      if (req.messages.at(-1)!.role === 'tool') streamText(res, 'The answer is 42.');
      else
        streamToolCall(res, {
          id: 'call_abc',
          name: 'calculator',
          arguments: { expression: '6*7' },
        });
    };
    const ctx = await createContext(server.url);
    const asked = await send(ctx.id, 'What is 6*7?');
    expect(asked.body.status).toBe('awaiting_tool_approval');
    const approved = await request<ActionBody>(
      `${server.url}/v1/contexts/${ctx.id}/actions/approve_tools`,
      { method: 'POST', json: { tool_call_ids: ['call_abc'] } },
    );
    expect(approved.status).toBe(200);
    expect(approved.body.status).toBe('idle');
    const second = fake.requests[1]!;
    const assistant = second.messages.at(-2) as unknown as {
      role: string;
      tool_calls: { id: string; function: { name: string; arguments: string } }[];
    };
    expect(assistant.role).toBe('assistant');
    expect(assistant.tool_calls[0]!.id).toBe('call_abc');
    expect(JSON.parse(assistant.tool_calls[0]!.function.arguments)).toEqual({ expression: '6*7' });
    expect(second.messages.at(-1)).toEqual({
      role: 'tool',
      tool_call_id: 'call_abc',
      content: JSON.stringify({ expression: '6*7', value: 42 }),
    });
  });

  test('a slow answer: reads of the context complete while the LLM request is open', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let upstreamOpen!: () => void;
    const opened = new Promise<void>((r) => {
      upstreamOpen = r;
    });
    fake.script = async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(
        `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'thinking… ' } }] })}\n\n`,
      );
      upstreamOpen();
      await gate;
      streamText(res, 'done');
    };
    const ctx = await createContext(server.url);
    const pending = send(ctx.id, 'take your time');
    await opened;
    // The upstream request is open right now: the context must still be readable.
    const got = await request<{ current_state: string }>(`${server.url}/v1/contexts/${ctx.id}`);
    const page = await request<{ total: number }>(`${server.url}/v1/contexts/${ctx.id}/messages`);
    const busy = await send(ctx.id, 'me too');
    release();
    expect(got.status).toBe(200);
    // The stream has started upstream; the engine records it asynchronously.
    expect(['AwaitingLLMResponse', 'StreamingLLMResponse']).toContain(got.body.current_state);
    expect(page.status).toBe(200);
    expect(page.body.total).toBe(1);
    expect(busy.status).toBe(409);
    expect(busy.body.code).toBe('context_busy');
    const done = await pending;
    expect(done.status).toBe(200);
    expect(done.body.status).toBe('idle');
  });

  test('a failing upstream ends in Failed after 3 retries; the action answers 502; reads work', async () => {
    fake.requests.length = 0;
    fake.script = (_req, res) => {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'overloaded' } }));
    };
    const ctx = await createContext(server.url);
    const res = await send(ctx.id, 'anyone?');
    expect(res.status).toBe(502);
    expect(res.body.code).toBe('llm_failed');
    expect(res.body.status).toBe('failed');
    expect(res.body.error).toMatch(/Max retries exceeded/);
    expect(fake.requests).toHaveLength(4); // the first try and 3 retries
    const state = await request<ActionBody>(`${server.url}/v1/contexts/${ctx.id}/state`);
    expect(state.status).toBe(200);
    expect(state.body.status).toBe('failed');
    expect(state.body.context.state_detail!.error).toMatch(/503/);

    // Failed accepts a new message, and the conversation goes on once upstream recovers.
    fake.script = (_req, r) => streamText(r, 'back again');
    const again = await send(ctx.id, 'retry please');
    expect(again.status).toBe(200);
    expect(again.body.status).toBe('idle');
  });

  test('the system prompt the LLM receives: library prompt, then a branch override', async () => {
    fake.script = (_req, res) => streamText(res, 'ok');
    const created = await request(`${server.url}/v1/system-prompts`, {
      method: 'POST',
      json: { id: 'pirate', content: 'Talk like a pirate.' },
    });
    expect(created.status).toBe(201);
    const ctx = await createContext(server.url, { system_prompt_id: 'pirate' });
    fake.requests.length = 0;
    await send(ctx.id, 'hello');
    expect(fake.requests[0]!.messages[0]).toEqual({
      role: 'system',
      content: 'Talk like a pirate.',
    });

    const put = await request(`${server.url}/v1/contexts/${ctx.id}/branches/main`, {
      method: 'PUT',
      json: { system_prompt: 'Be terse.', user_prompt: 'Answer in one word.' },
    });
    expect(put.status).toBe(200);
    fake.requests.length = 0;
    await send(ctx.id, 'hello again');
    expect(fake.requests[0]!.messages.slice(0, 2)).toEqual([
      { role: 'system', content: 'Be terse.' },
      { role: 'user', content: 'Answer in one word.' },
    ]);
  });
});
