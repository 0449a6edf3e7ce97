import type { ServerResponse } from 'node:http';
import { describe, expect, test } from 'vitest';
import { type Script, streamText, useFakeOpenAi } from '../support/fake-openai.js';
import { createContext, type MessagePage, request } from '../support/http.js';
import { useApp } from '../support/in-process.js';
import { useServer } from '../support/server-process.js';

/**
 * No failure inside a turn may leave a context unsettled: each case below must end in
 * Failed (stored), answer a clear error, and accept the next `send_message`.
 */
interface ActionBody {
  context?: { current_state: string; state_detail: { error: string } | null };
  status?: string;
  error?: string;
  code?: string;
}

const deepArray = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

const send = (base: string, id: string, content: string) =>
  request<ActionBody>(`${base}/v1/contexts/${id}/actions/send_message`, {
    method: 'POST',
    json: { content },
  });

/** A new context's first `send_message`. */
async function sendToNew(base: string, content: string) {
  const { id } = await createContext(base);
  return { id, res: await send(base, id, content) };
}

const stateOf = (base: string, id: string) =>
  request<Required<ActionBody>>(`${base}/v1/contexts/${id}/state`);

/** Polls the context's status until `wanted` (bounded: 10 s). */
async function waitForStatus(base: string, id: string, wanted: string[]): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const { body } = await stateOf(base, id);
    if (wanted.includes(body.status)) return body.status;
    if (Date.now() > deadline) throw new Error(`status stayed ${body.status}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('the built-in provider: the hostile !tool input of issue 9, across a restart (real process)', () => {
  const server = useServer({ env: { FSYNC: 'false' } });

  test('`!tool calculator` + 10,000-deep JSON: 400, Failed (stored), then send_message recovers, also after a restart', async () => {
    const { id, res: hostile } = await sendToNew(
      server.url,
      `!tool calculator ${deepArray(10_000)}`,
    );
    expect(hostile.status).toBe(400);
    expect(hostile.body.code).toBe('invalid_json_value');
    expect(hostile.body.status).toBe('failed');
    const state = await stateOf(server.url, id);
    expect(state.body.status).toBe('failed');
    expect(state.body.context.state_detail!.error).toMatch(/nesting deeper than 64/);

    // Settled for good: it survives a restart as Failed, and a new message goes through.
    expect(await server.process.stop()).toBe(0);
    await server.start();
    expect((await stateOf(server.url, id)).body.status).toBe('failed');
    const next = await send(server.url, id, 'hello again');
    expect(next.status).toBe(200);
    expect(next.body.status).toBe('idle');
    const page = await request<MessagePage>(`${server.url}/v1/contexts/${id}/messages`);
    expect(page.body.messages.at(-1)!.content[0]!.text).toBe('You said: hello again');
  });
});

describe('the built-in provider: !tool arguments at the limit (in process)', () => {
  const server = useApp({ env: { FSYNC: 'false' } });

  test('arguments at the limit still make a tool call', async () => {
    const { res } = await sendToNew(server.url, `!tool calculator ${deepArray(64)}`);
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('awaiting_tool_approval');
  });
});

describe('the OpenAI-compatible provider: an upstream answering garbage or hanging up (in process)', () => {
  const fake = useFakeOpenAi();
  const server = useApp({ env: () => fake.env({ FSYNC: 'false' }) });

  const streamLines = (res: ServerResponse, lines: string[]) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    for (const line of lines) res.write(`data: ${line}\n\n`);
    res.end('data: [DONE]\n\n');
  };
  const toolCallLine = (args: string) =>
    JSON.stringify({
      choices: [
        {
          index: 0,
          delta: {
            tool_calls: [
              {
                index: 0,
                id: 'call_x',
                type: 'function',
                function: { name: 'calculator', arguments: args },
              },
            ],
          },
        },
      ],
    });

  const cases: [string, Script, RegExp][] = [
    [
      'a tool call with 10,000-deep arguments',
      (_req, res) => streamLines(res, [toolCallLine(deepArray(10_000))]),
      /refused: .*nesting deeper than 64/,
    ],
    [
      'a tool call whose arguments hold a lone surrogate',
      (_req, res) => streamLines(res, [toolCallLine('{"x":"\\ud800"}')]),
      /refused: .*well-formed Unicode/,
    ],
    [
      'a tool call with a __proto__ key in its arguments',
      (_req, res) => streamLines(res, [toolCallLine('{"__proto__":{"x":1}}')]),
      /refused: .*__proto__/,
    ],
    [
      'a stream line that is not JSON',
      (_req, res) => streamLines(res, ['{"choices": [ garbage']),
      /Max retries exceeded/,
    ],
    [
      'a connection closed in the middle of the stream',
      (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(
          `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'half' } }] })}\n\n`,
        );
        setTimeout(() => res.socket?.destroy(), 20);
      },
      /Max retries exceeded/,
    ],
  ];

  for (const [name, upstream, error] of cases) {
    test(`${name}: 502 llm_failed, Failed (stored), then send_message recovers`, async () => {
      fake.script = upstream;
      const { id, res: failed } = await sendToNew(server.url, 'go');
      expect(failed.status).toBe(502);
      expect(failed.body.code).toBe('llm_failed');
      expect(failed.body.status).toBe('failed');
      expect(failed.body.context!.state_detail!.error).toMatch(error);
      expect((await stateOf(server.url, id)).body.status).toBe('failed');

      fake.script = (_req, res) => streamText(res, 'recovered');
      const next = await send(server.url, id, 'again');
      expect(next.status).toBe(200);
      expect(next.body.status).toBe('idle');
    });
  }
});

describe('the OpenAI-compatible provider: the process dies mid-turn (real process)', () => {
  const fake = useFakeOpenAi();
  const server = useServer({ env: () => fake.env({ FSYNC: 'false' }) });

  test('the process dies mid-turn (SIGKILL during a slow answer): at start-up the context is Failed, and send_message recovers', async () => {
    let upstreamOpen!: () => void;
    const opened = new Promise<void>((r) => {
      upstreamOpen = r;
    });
    fake.script = (_req, res) => {
      // Starts streaming, then never finishes: the turn is stored mid-way.
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(
        `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'thinking' } }] })}\n\n`,
      );
      upstreamOpen();
    };
    const { id } = await createContext(server.url);
    const pending = send(server.url, id, 'take your time').catch(() => undefined);
    await opened;
    expect(await waitForStatus(server.url, id, ['streaming_llm_response'])).toBe(
      'streaming_llm_response',
    );
    await server.process.kill();
    await pending;

    fake.script = (_req, res) => streamText(res, 'back');
    await server.start();
    const state = await stateOf(server.url, id);
    expect(state.body.status).toBe('failed');
    expect(state.body.context.state_detail!.error).toMatch(/server stopped during this turn/);
    const listed = await request<{ contexts: { id: string; current_state: string }[] }>(
      `${server.url}/v1/contexts`,
    );
    expect(listed.body.contexts.find((c) => c.id === id)!.current_state).toBe('Failed');
    const next = await send(server.url, id, 'are you there?');
    expect(next.status).toBe(200);
    expect(next.body.status).toBe('idle');
  });
});
