import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll } from 'vitest';

/**
 * A local server that speaks the OpenAI chat-completions protocol over real HTTP, with
 * streaming (SSE) and tool calls, whose behaviour each test scripts.
 */
export interface ChatRequest {
  model: string;
  messages: { role: string; content: unknown; tool_call_id?: string }[];
  tools?: { function: { name: string } }[];
  stream?: boolean;
  authorization: string | undefined;
}

export type Script = (request: ChatRequest, res: ServerResponse) => void | Promise<void>;

export interface FakeOpenAi {
  url: string;
  requests: ChatRequest[];
  script: Script;
  close(): Promise<void>;
}

export async function startFakeOpenAi(script: Script): Promise<FakeOpenAi> {
  const fake: FakeOpenAi = {
    url: '',
    requests: [],
    script,
    close: async () => {},
  };
  const server: Server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
      res.writeHead(404).end();
      return;
    }
    const request = {
      ...(JSON.parse(body) as ChatRequest),
      authorization: req.headers.authorization,
    };
    fake.requests.push(request);
    await fake.script(request, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  fake.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return fake;
}

/** The fake upstream of a describe block, and the server settings that point at it. */
export interface FakeUpstream {
  readonly url: string;
  /** Every request it received, oldest first (tests may empty it). */
  readonly requests: ChatRequest[];
  /** How it answers; set per test (until then it streams "unused"). */
  script: Script;
  /** The server's environment for this upstream (5 s timeout), with `extra` on top. */
  env(extra?: Record<string, string>): Record<string, string>;
}

/**
 * Starts a fake upstream before the block's tests and closes it after them. Call it before
 * the block's `useApp`/`useServer`, so the server starts after it and stops before it
 * (hooks unwind in reverse).
 */
export function useFakeOpenAi(): FakeUpstream {
  let fake: FakeOpenAi | undefined;
  const upstream: FakeUpstream = {
    get url() {
      return fake!.url;
    },
    get requests() {
      return fake!.requests;
    },
    script: (_req, res) => streamText(res, 'unused'),
    env: (extra = {}) => ({
      LLM_PROVIDER: 'openai',
      LLM_BASE_URL: upstream.url,
      LLM_TIMEOUT_MS: '5000',
      ...extra,
    }),
  };
  beforeAll(async () => {
    fake = await startFakeOpenAi((req, res) => upstream.script(req, res));
  });
  afterAll(async () => {
    await fake?.close();
  });
  return upstream;
}

/** Streams `text` as content deltas, then `[DONE]`. */
export function streamText(res: ServerResponse, text: string, pieces = 3): void {
  if (!res.headersSent) res.writeHead(200, { 'content-type': 'text/event-stream' });
  const size = Math.ceil(text.length / pieces);
  for (let i = 0; i < text.length; i += size) {
    sse(res, { choices: [{ index: 0, delta: { content: text.slice(i, i + size) } }] });
  }
  sse(res, { choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] });
  sse(res, { choices: [], usage: { prompt_tokens: 11, completion_tokens: 7 } });
  res.end('data: [DONE]\n\n');
}

/** Streams one tool call, its arguments split across chunks as real servers do. */
export function streamToolCall(
  res: ServerResponse,
  call: { id: string; name: string; arguments: unknown },
): void {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const args = JSON.stringify(call.arguments);
  const half = Math.floor(args.length / 2);
  sse(res, {
    choices: [
      {
        index: 0,
        delta: {
          tool_calls: [
            {
              index: 0,
              id: call.id,
              type: 'function',
              function: { name: call.name, arguments: '' },
            },
          ],
        },
      },
    ],
  });
  for (const part of [args.slice(0, half), args.slice(half)]) {
    sse(res, {
      choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: part } }] } }],
    });
  }
  sse(res, { choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }] });
  res.end('data: [DONE]\n\n');
}

function sse(res: ServerResponse, data: unknown): void {
  res.write(`data: ${JSON.stringify(data)}\n\n`);
}
