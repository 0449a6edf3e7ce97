import { checkJsonValue } from '../model/json-value.js';
import type {
  ChatMessage,
  LlmCallbacks,
  LlmProvider,
  LlmRequest,
  LlmResponse,
} from './provider.js';

/**
 * The default provider: deterministic, offline, streaming. It answers the last user
 * message by repeating it, and follows one documented instruction so the whole tool
 * approval flow can be tried without a model:
 *
 *   !tool <name> [<JSON arguments>]     e.g.  !tool calculator {"expression": "6*7"}
 *
 * asks for a call of tool <name>. After tool results it answers with a summary of them.
 * Arguments that are not JSON are passed as `{"input": "<text>"}`; JSON arguments that
 * break the server's JSON rules (nesting deeper than `MAX_JSON_DEPTH`, a lone surrogate, a
 * `__proto__` key) are the user's input at fault: `complete` throws the 400
 * `invalid_json_value`, and the turn ends in Failed with that error.
 */
export const TOOL_INSTRUCTION = /^!tool\s+([A-Za-z0-9_-]+)\s*([\s\S]*)$/;

export class BuiltinProvider implements LlmProvider {
  readonly name = 'builtin';

  async complete(request: LlmRequest, callbacks: LlmCallbacks = {}): Promise<LlmResponse> {
    const last = request.messages.at(-1);
    const reply = this.answer(request.messages, last);
    if (typeof reply !== 'string') return reply;
    callbacks.onStreamStart?.();
    const words = reply.split(/(?<= )/);
    for (const word of words) {
      await new Promise((resolve) => setImmediate(resolve));
      callbacks.onDelta?.(word);
    }
    return {
      content: reply,
      toolCalls: [],
      usage: { prompt_tokens: countWords(request.messages), completion_tokens: words.length },
    };
  }

  private answer(messages: ChatMessage[], last: ChatMessage | undefined): string | LlmResponse {
    if (last === undefined) return 'Hello! How can I help?';
    if (last.role === 'tool') {
      const results: string[] = [];
      for (let i = messages.length - 1; i >= 0 && messages[i]!.role === 'tool'; i--) {
        results.unshift((messages[i] as { content: string }).content);
      }
      return `Tool results: ${results.join('; ')}`;
    }
    const text = textOf(last);
    const match = last.role === 'user' ? TOOL_INSTRUCTION.exec(text.trim()) : null;
    if (match) {
      const args = match[2]!.trim() === '' ? {} : parseArguments(match[2]!);
      // The id depends only on the conversation, so the same input gives the same answer.
      return {
        content: '',
        toolCalls: [{ id: `call_${messages.length}`, name: match[1]!, arguments: args }],
        usage: null,
      };
    }
    return `You said: ${text}`;
  }
}

function parseArguments(raw: string): unknown {
  let args: unknown;
  try {
    args = JSON.parse(raw);
  } catch {
    return { input: raw.trim() };
  }
  checkJsonValue(args, 'the !tool arguments');
  return args;
}

function textOf(message: ChatMessage): string {
  const content = message.content;
  if (content === null) return '';
  if (typeof content === 'string') return content;
  return content.map((p) => (p.type === 'text' ? p.text : `[image ${p.image_url.url}]`)).join(' ');
}

function countWords(messages: ChatMessage[]): number {
  return messages.reduce((n, m) => n + textOf(m).split(/\s+/).filter(Boolean).length, 0);
}
