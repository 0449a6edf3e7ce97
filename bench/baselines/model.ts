import { randomUUID } from 'node:crypto';
import { notFound } from '../../src/errors.js';
import type { ContextConfig } from '../../src/model/types.js';
import type { NewMessage } from '../../src/model/validate.js';
import type { SeedContext } from './seed.js';

/**
 * The in-memory object model of the baselines: a context is one plain object graph, the way
 * a typical Node server keeps it — a message pool keyed by id and branches holding ordered
 * id arrays. The DTOs built from it have the same fields, in the same order, as the
 * product's, so that equal data serialises to equal bytes.
 */

export type StoredMessage = { id: string } & Record<string, unknown>;

export interface StoredBranch {
  name: string;
  message_ids: string[];
  system_prompt: unknown;
  user_prompt: unknown;
}

export interface StoredContext {
  id: string;
  parent_id: string | null;
  config: Record<string, unknown>;
  current_state: string;
  state_detail: unknown;
  active_branch_name: string;
  message_pool: Map<string, StoredMessage>;
  branches: StoredBranch[];
  version: number;
  created_at: string;
  updated_at: string;
}

export function fromSeed(seed: SeedContext): StoredContext {
  const dto = seed.dto as Omit<StoredContext, 'message_pool' | 'branches'> & {
    branches: Omit<StoredBranch, 'message_ids'>[];
  };
  const ids = new Map(seed.branches.map((b) => [b.name, b.message_ids]));
  return {
    id: dto.id,
    parent_id: dto.parent_id,
    config: dto.config,
    current_state: dto.current_state,
    state_detail: dto.state_detail,
    active_branch_name: dto.active_branch_name,
    message_pool: new Map(seed.messages.map((m) => [m.id as string, m as StoredMessage])),
    branches: dto.branches.map((b) => ({
      name: b.name,
      message_ids: ids.get(b.name) ?? [],
      system_prompt: b.system_prompt,
      user_prompt: b.user_prompt,
    })),
    version: dto.version,
    created_at: dto.created_at,
    updated_at: dto.updated_at,
  };
}

export function newContext(config: ContextConfig): StoredContext {
  const now = new Date().toISOString();
  return {
    id: randomUUID(),
    parent_id: null,
    config: { ...config },
    current_state: 'Idle',
    state_detail: null,
    active_branch_name: 'main',
    message_pool: new Map(),
    branches: [{ name: 'main', message_ids: [], system_prompt: null, user_prompt: null }],
    version: 1,
    created_at: now,
    updated_at: now,
  };
}

/** The context DTO (`GET /v1/contexts/{id}`). */
export function contextDto(ctx: StoredContext) {
  const branches = ctx.branches.map((b) => ({
    name: b.name,
    system_prompt: b.system_prompt,
    user_prompt: b.user_prompt,
    message_count: b.message_ids.length,
  }));
  const active = branches.find((b) => b.name === ctx.active_branch_name);
  return {
    id: ctx.id,
    parent_id: ctx.parent_id,
    config: ctx.config,
    current_state: ctx.current_state,
    state_detail: ctx.state_detail,
    active_branch_name: ctx.active_branch_name,
    message_count: active?.message_count ?? 0,
    branches,
    version: ctx.version,
    created_at: ctx.created_at,
    updated_at: ctx.updated_at,
  };
}

function branchOf(ctx: StoredContext, name: string | undefined): StoredBranch {
  const wanted = name ?? ctx.active_branch_name;
  const branch = ctx.branches.find((b) => b.name === wanted);
  if (branch === undefined) throw notFound(`branch "${wanted}" not found`);
  return branch;
}

/** A page of messages (`GET /v1/contexts/{id}/messages`), oldest first. */
export function messagePage(
  ctx: StoredContext,
  branchName: string | undefined,
  limit: number,
  offset: number,
) {
  const branch = branchOf(ctx, branchName);
  const ids = branch.message_ids.slice(offset, offset + limit);
  return {
    messages: ids.map((id) => ctx.message_pool.get(id)!),
    total: branch.message_ids.length,
    limit,
    offset,
  };
}

/** Appends a message (`POST /v1/contexts/{id}/messages`) and returns its DTO. */
export function appendMessage(ctx: StoredContext, message: NewMessage): StoredMessage {
  const branch = branchOf(ctx, message.branch);
  const now = new Date();
  const last = branch.message_ids[branch.message_ids.length - 1];
  const node: StoredMessage = {
    id: randomUUID(),
    parent_id: last ?? null,
    role: message.role,
    content: message.content,
    tool_calls: message.tool_calls,
    tool_result: message.tool_result,
    metadata: { created_at: now.toISOString(), duration_ms: null, tokens: null, extra: null },
  };
  ctx.message_pool.set(node.id, node);
  branch.message_ids.push(node.id);
  ctx.version += 1;
  ctx.updated_at = now.toISOString();
  return node;
}
