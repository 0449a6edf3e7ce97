import type {
  ContentPart,
  ContextMeta,
  MessageMetadata,
  MessageNode,
  SystemPromptRef,
  ToolCall,
  ToolResult,
} from '../model/types.js';

/*
 * The data the main thread and the workers pass each other inside tasks and replies,
 * beyond the HTTP request types of model/validate.ts.
 */

/** A message the conversation engine adds (assistant answer, tool result). */
export interface EngineMessage {
  role: 'assistant' | 'tool';
  content: ContentPart[];
  tool_calls: ToolCall[] | null;
  tool_result: ToolResult | null;
  metadata?: Partial<Omit<MessageMetadata, 'created_at'>>;
}

/** The conversation as the LLM sees it: the active branch, with its prompts. */
export interface PromptView {
  config: ContextMeta['config'];
  systemPrompt: string | null;
  systemPromptId: string | null;
  userPrompt: string | null;
  messages: MessageNode[];
}

/** A branch prompt change, its prompt already resolved by the main thread. */
export interface BranchUpdate {
  /** A prompt resolved by the main thread (from the library or given inline), or null. */
  system_prompt?: SystemPromptRef | null;
  user_prompt?: string | null;
}
