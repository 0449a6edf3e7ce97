/**
 * What the conversation engine needs from an LLM: one completion of a chat, streamed or
 * not, possibly asking for tool calls. Messages use the OpenAI chat format, which both
 * providers speak.
 */
export type ChatContentPart =
  | { type: 'text'; text: string }
  | { type: 'image_url'; image_url: { url: string; detail?: string } };

export type ChatMessage =
  | { role: 'system' | 'user'; content: string | ChatContentPart[] }
  | {
      role: 'assistant';
      content: string | null;
      tool_calls?: {
        id: string;
        type: 'function';
        function: { name: string; arguments: string };
      }[];
    }
  | { role: 'tool'; tool_call_id: string; content: string };

export interface ToolSpec {
  name: string;
  description: string;
  parameters: Record<string, unknown>;
}

export interface LlmRequest {
  model: string;
  messages: ChatMessage[];
  tools: ToolSpec[];
  /** The context's `config.parameters` (temperature, max_tokens, …), passed through. */
  parameters: Record<string, unknown>;
}

export interface LlmToolCall {
  id: string;
  name: string;
  /** As parsed, unchecked: the engine checks what it stores. */
  arguments: unknown;
  /**
   * The arguments were written by the user, not by a model (the built-in provider's
   * `!tool`): arguments the server cannot store are then the request's fault (400).
   */
  fromUserInput?: true;
}

export interface LlmResponse {
  content: string;
  toolCalls: LlmToolCall[];
  usage: { prompt_tokens: number; completion_tokens: number } | null;
}

export interface LlmCallbacks {
  /** The answer is being streamed: called once, before the first delta. */
  onStreamStart?: () => void;
  /** A piece of streamed text. */
  onDelta?: (text: string) => void;
  /** Aborts the call (the server is shutting down): it then fails at once. */
  signal?: AbortSignal;
}

export interface LlmProvider {
  readonly name: string;
  complete(request: LlmRequest, callbacks?: LlmCallbacks): Promise<LlmResponse>;
}

/** A failed completion. `transient` failures are retried; others fail the turn at once. */
export class LlmError extends Error {
  constructor(
    message: string,
    readonly transient: boolean,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'LlmError';
  }
}
