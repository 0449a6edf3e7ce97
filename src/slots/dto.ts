import type { ContextDto, ContextMeta } from '../model/types.js';
import type { ContextSummary } from '../storage/types.js';
import type { ContextSlot } from './context-slot.js';
import { branchIndex } from './ops.js';

/** The committed counters of a context, read from its slot. */
export interface Stamp {
  version: number;
  updatedAt: number;
}

/** Context DTO from metadata plus branch lengths: O(branches), never O(messages). */
export function contextDto(ctx: ContextSlot, meta: ContextMeta, stamp: Stamp): ContextDto {
  const branches = meta.branches.map((b, i) => ({ ...b, message_count: ctx.branchLength(i) }));
  const active = branches[branchIndex(meta, meta.active_branch_name)];
  return {
    id: meta.id,
    parent_id: meta.parent_id,
    config: meta.config,
    current_state: meta.current_state,
    state_detail: meta.state_detail,
    active_branch_name: meta.active_branch_name,
    message_count: active?.message_count ?? 0,
    branches,
    version: stamp.version,
    created_at: meta.created_at,
    updated_at: new Date(stamp.updatedAt).toISOString(),
  };
}

/**
 * The summary kept by storage and the main thread's index. Besides the listing fields it
 * names the system prompts the context uses, so a prompt delete can tell whether the
 * prompt is in use without loading any context.
 */
export type IndexedSummary = ContextSummary & { prompt_ids: string[] };

export function promptIdsOf(meta: ContextMeta): string[] {
  const ids = new Set<string>();
  if (meta.config.system_prompt_id !== null) ids.add(meta.config.system_prompt_id);
  for (const b of meta.branches) if (b.system_prompt !== null) ids.add(b.system_prompt.id);
  return [...ids];
}

export function summaryOf(meta: ContextMeta, messageCount: number, stamp: Stamp): IndexedSummary {
  return {
    id: meta.id,
    config: meta.config,
    current_state: meta.current_state,
    active_branch_name: meta.active_branch_name,
    message_count: messageCount,
    updated_at: new Date(stamp.updatedAt).toISOString(),
    version: stamp.version,
    prompt_ids: promptIdsOf(meta),
  };
}

/**
 * A context version as its ETag, `"<version>"`: the `ETag` header (src/http/reply.ts, and
 * kept with each cached answer), and the If-Match failure message.
 */
export function etagOf(version: number): string {
  return `"${version}"`;
}
