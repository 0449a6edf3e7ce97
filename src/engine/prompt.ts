import type { ChatContentPart, ChatMessage } from '../llm/provider.js';
import type { ContentPart, MessageNode } from '../model/types.js';
import type { PromptLibrary } from '../prompts/prompt-library.js';
import type { PromptView } from '../protocol/messages.js';

/**
 * The chat the LLM receives: the active branch's system prompt (else the library prompt
 * named by the context's `system_prompt_id`), the branch's user prompt as a standing
 * user instruction, then the branch's messages.
 */
export function buildChat(view: PromptView, prompts: PromptLibrary): ChatMessage[] {
  const chat: ChatMessage[] = [];
  const system =
    view.systemPrompt ??
    (view.systemPromptId === null ? undefined : prompts.get(view.systemPromptId)?.content);
  if (system) chat.push({ role: 'system', content: system });
  if (view.userPrompt) chat.push({ role: 'user', content: view.userPrompt });
  for (const m of view.messages) chat.push(toChat(m));
  return chat;
}

function toChat(m: MessageNode): ChatMessage {
  switch (m.role) {
    case 'system':
    case 'user':
      return { role: m.role, content: parts(m.content) };
    case 'assistant':
      return {
        role: 'assistant',
        content: text(m.content),
        ...(m.tool_calls && m.tool_calls.length > 0
          ? {
              tool_calls: m.tool_calls.map((c) => ({
                id: c.id,
                type: 'function' as const,
                function: { name: c.tool_name, arguments: JSON.stringify(c.arguments ?? {}) },
              })),
            }
          : {}),
      };
    case 'tool':
      return {
        role: 'tool',
        tool_call_id: m.tool_result?.request_id ?? '',
        content: m.tool_result ? JSON.stringify(m.tool_result.result) : text(m.content),
      };
  }
}

function text(content: ContentPart[]): string {
  return content.map((p) => (p.type === 'text' ? p.text : '')).join('');
}

function parts(content: ContentPart[]): string | ChatContentPart[] {
  if (content.every((p) => p.type === 'text')) return text(content);
  return content.map((p) =>
    p.type === 'text'
      ? { type: 'text', text: p.text }
      : {
          type: 'image_url',
          image_url: { url: p.url, ...(p.detail === undefined ? {} : { detail: p.detail }) },
        },
  );
}
