import {
  type ChatMessage,
  type LlmCallbacks,
  LlmError,
  type LlmProvider,
  type LlmRequest,
  type LlmResponse,
  type LlmToolCall,
} from './provider.js';

export interface OpenAiOptions {
  baseUrl: string;
  apiKey: string | undefined;
  timeoutMs: number;
}

interface StreamedToolCall {
  id: string;
  name: string;
  arguments: string;
}

interface ChatChoiceDelta {
  content?: string | null;
  tool_calls?: {
    index: number;
    id?: string;
    function?: { name?: string; arguments?: string };
  }[];
}

interface ChatChunk {
  choices?: { delta?: ChatChoiceDelta; message?: ChatMessage & { tool_calls?: unknown } }[];
  usage?: { prompt_tokens: number; completion_tokens: number } | null;
}

/**
 * An OpenAI-compatible chat-completions client: `POST {baseUrl}/chat/completions` with
 * `stream: true` and the registry's tools, parsing Server-Sent Events (a plain JSON answer
 * is accepted too). Network errors, timeouts, 408, 429 and 5xx are transient (retried by
 * the engine); other statuses are not.
 */
export class OpenAiProvider implements LlmProvider {
  readonly name = 'openai';

  constructor(private readonly options: OpenAiOptions) {}

  async complete(request: LlmRequest, callbacks: LlmCallbacks = {}): Promise<LlmResponse> {
    const body = {
      ...request.parameters,
      model: request.model,
      messages: request.messages,
      stream: true,
      stream_options: { include_usage: true },
      ...(request.tools.length === 0
        ? {}
        : {
            tools: request.tools.map((t) => ({
              type: 'function',
              function: { name: t.name, description: t.description, parameters: t.parameters },
            })),
          }),
    };
    let response: Response;
    const timeout = AbortSignal.timeout(this.options.timeoutMs);
    const signal = callbacks.signal ? AbortSignal.any([timeout, callbacks.signal]) : timeout;
    try {
      response = await fetch(`${this.options.baseUrl.replace(/\/+$/, '')}/chat/completions`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'text/event-stream, application/json',
          ...(this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {}),
        },
        body: JSON.stringify(body),
        signal,
      });
    } catch (err) {
      throw new LlmError(`LLM request failed: ${describe(err)}`, true);
    }
    if (!response.ok) {
      const text = await response.text().catch(() => '');
      const transient =
        response.status === 408 || response.status === 429 || response.status >= 500;
      throw new LlmError(
        `LLM answered ${response.status}: ${text.slice(0, 500)}`,
        transient,
        response.status,
      );
    }
    try {
      const type = response.headers.get('content-type') ?? '';
      if (type.includes('text/event-stream')) return await this.readStream(response, callbacks);
      return parseFullAnswer((await response.json()) as ChatChunk);
    } catch (err) {
      if (err instanceof LlmError) throw err;
      throw new LlmError(`LLM response failed: ${describe(err)}`, true);
    }
  }

  private async readStream(response: Response, callbacks: LlmCallbacks): Promise<LlmResponse> {
    const decoder = new TextDecoder();
    const calls: StreamedToolCall[] = [];
    let content = '';
    let usage: LlmResponse['usage'] = null;
    let started = false;
    let buffer = '';
    let done = false;
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let newline = buffer.indexOf('\n');
      while (newline >= 0) {
        const line = buffer.slice(0, newline).trim();
        buffer = buffer.slice(newline + 1);
        newline = buffer.indexOf('\n');
        if (!line.startsWith('data:')) continue;
        const data = line.slice(5).trim();
        if (data === '[DONE]') {
          done = true;
          continue;
        }
        const event = JSON.parse(data) as ChatChunk;
        if (event.usage) usage = event.usage;
        const delta = event.choices?.[0]?.delta;
        if (!delta) continue;
        if (!started) {
          started = true;
          callbacks.onStreamStart?.();
        }
        if (delta.content) {
          content += delta.content;
          callbacks.onDelta?.(delta.content);
        }
        for (const part of delta.tool_calls ?? []) {
          let call = calls[part.index];
          if (call === undefined) {
            call = { id: '', name: '', arguments: '' };
            calls[part.index] = call;
          }
          if (part.id) call.id = part.id;
          if (part.function?.name) call.name += part.function.name;
          if (part.function?.arguments) call.arguments += part.function.arguments;
        }
      }
    }
    if (!done && !started) throw new LlmError('LLM stream ended before any data', true);
    return { content, toolCalls: calls.filter(Boolean).map(toToolCall), usage };
  }
}

function parseFullAnswer(answer: ChatChunk): LlmResponse {
  const message = answer.choices?.[0]?.message as
    | {
        content?: string | null;
        tool_calls?: { id: string; function: { name: string; arguments: string } }[];
      }
    | undefined;
  if (!message) throw new LlmError('LLM answer has no message', true);
  return {
    content: message.content ?? '',
    toolCalls: (message.tool_calls ?? []).map((c) =>
      toToolCall({ id: c.id, name: c.function.name, arguments: c.function.arguments }),
    ),
    usage: answer.usage ?? null,
  };
}

function toToolCall(call: StreamedToolCall): LlmToolCall {
  let args: unknown = {};
  if (call.arguments.trim() !== '') {
    try {
      args = JSON.parse(call.arguments);
    } catch {
      args = { raw: call.arguments };
    }
  }
  return { id: call.id, name: call.name, arguments: args };
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    if (err.name === 'TimeoutError') return 'timed out';
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return cause?.code ?? cause?.message ?? err.message;
  }
  return String(err);
}
