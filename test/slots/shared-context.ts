import { randomUUID } from 'node:crypto';
import type { BranchMeta, ContextMeta } from '../../src/model/types.js';
import { Arena } from '../../src/shm/arena.js';
import { SlotTable } from '../../src/shm/slot-table.js';
import { ContextSlot } from '../../src/slots/context-slot.js';

const MiB = 1024 * 1024;

/**
 * A context in a real arena and slot table, as a worker holds it under the slot's write
 * lock: the written view, which sees every write at once (readers' published view moves
 * only when a write is durable: test/durability/group-commit.test.ts) (these tests run on a worker thread: the arena's own lock blocks, so it refuses the
 * main thread).
 */
export function sharedContext(): { ctx: ContextSlot; arena: Arena; slots: SlotTable } {
  const arena = new Arena(Arena.createBuffer(MiB, 64 * MiB), 1_000);
  const slots = new SlotTable(SlotTable.createBuffer(4));
  return { ctx: new ContextSlot(slots, arena, 2, 'written'), arena, slots };
}

export function branch(name: string): BranchMeta {
  return { name, system_prompt: null, user_prompt: null };
}

export function contextMeta(branches: string[] = ['main']): ContextMeta {
  return {
    id: randomUUID(),
    parent_id: null,
    config: { model_id: 'm', mode: 'chat', parameters: {}, system_prompt_id: null },
    current_state: 'Idle',
    state_detail: null,
    active_branch_name: branches[0] ?? 'main',
    branches: branches.map(branch),
    created_at: '2026-01-01T00:00:00.000Z',
  };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A message record's bytes: any JSON will do, the slot stores it verbatim. */
export function messageJson(id: string, text: string): Uint8Array {
  return encoder.encode(JSON.stringify({ id, text }));
}

/** The texts of a branch, read record by record from shared memory. */
export function texts(ctx: ContextSlot, branchIndex: number): string[] {
  return ctx
    .branchRefs(branchIndex)
    .map((ref) => (JSON.parse(decoder.decode(ctx.recordJson(ref))) as { text: string }).text);
}
