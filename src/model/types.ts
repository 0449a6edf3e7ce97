/** The data model (docs/api.md), as it appears on the wire (snake_case JSON). */

export const ROLES = ['system', 'user', 'assistant', 'tool'] as const;
export type Role = (typeof ROLES)[number];

export type ContentPart =
  | { type: 'text'; text: string }
  | { type: 'image'; url: string; detail?: 'auto' | 'low' | 'high' };

export type ApprovalStatus = 'Pending' | 'Approved' | 'Denied';
export type DisplayPreference = 'Default' | 'Collapsible' | 'Hidden';

export interface ToolCall {
  id: string;
  tool_name: string;
  arguments: unknown;
  approval_status: ApprovalStatus;
  display_preference: DisplayPreference;
  ui_hints: Record<string, unknown> | null;
}

export interface ToolResult {
  request_id: string;
  result: unknown;
}

export interface MessageMetadata {
  created_at: string;
  duration_ms: number | null;
  tokens: { prompt_tokens: number; completion_tokens: number } | null;
  extra: Record<string, unknown> | null;
}

export interface MessageNode {
  id: string;
  parent_id: string | null;
  role: Role;
  content: ContentPart[];
  tool_calls: ToolCall[] | null;
  tool_result: ToolResult | null;
  metadata: MessageMetadata | null;
}

export interface ContextConfig {
  model_id: string;
  mode: string;
  parameters: Record<string, unknown>;
  system_prompt_id: string | null;
}

export interface SystemPromptRef {
  id: string;
  content: string;
}

/** Branch metadata; its message ids live in shared memory as an array of record refs. */
export interface BranchMeta {
  name: string;
  system_prompt: SystemPromptRef | null;
  user_prompt: string | null;
}

/** Lifecycle states of the state machine (src/fsm/state-machine.ts, docs/api.md). */
export type ContextStateName =
  | 'Idle'
  | 'ProcessingUserMessage'
  | 'AwaitingLLMResponse'
  | 'StreamingLLMResponse'
  | 'ProcessingLLMResponse'
  | 'AwaitingToolApproval'
  | 'ExecutingTools'
  | 'ProcessingToolResults'
  | 'GeneratingResponse'
  | 'TransientFailure'
  | 'Failed';

export interface StateDetail {
  error: string;
  retry_count?: number;
}

/**
 * Everything about a context except its messages, version and updated_at: small, changes
 * rarely, stored as one encoded record that is replaced whole when it changes.
 */
export interface ContextMeta {
  id: string;
  parent_id: string | null;
  config: ContextConfig;
  current_state: ContextStateName;
  state_detail: StateDetail | null;
  active_branch_name: string;
  branches: BranchMeta[];
  created_at: string;
}

export interface BranchDto extends BranchMeta {
  message_count: number;
}

/** A context as the API shows it: its metadata, with counts, version and update time. */
export interface ContextDto extends Omit<ContextMeta, 'branches'> {
  message_count: number;
  branches: BranchDto[];
  version: number;
  updated_at: string;
}

/** `AwaitingToolApproval` → `awaiting_tool_approval`. */
export function statusName(state: ContextStateName): string {
  return state
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .toLowerCase();
}
