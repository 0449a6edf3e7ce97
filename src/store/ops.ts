import type { ContextMeta } from '../model/types.js';
import type { ContextSlot } from './context-slot.js';

/**
 * The committed changes of a context, as they are logged in storage and applied in shared
 * memory. A live write validates under the write lock, persists the op, then applies it;
 * loading replays the same ops over the snapshot through the same `applyOp`, so memory and
 * storage cannot drift apart.
 */
export type ContextOp =
  /** A message appended to a branch: `json` is the finished message DTO. */
  | { t: 'append'; branch: string; id: string; json: Uint8Array; at: number }
  /** The metadata record replaced (config, active branch, state). */
  | { t: 'meta'; meta: ContextMeta; at: number };

export function branchIndex(meta: ContextMeta, name: string): number {
  return meta.branches.findIndex((b) => b.name === name);
}

/** Applies `op` to the context in shared memory and returns the metadata after it. */
export function applyOp(ctx: ContextSlot, meta: ContextMeta, op: ContextOp): ContextMeta {
  switch (op.t) {
    case 'append': {
      const branch = branchIndex(meta, op.branch);
      if (branch < 0) throw new Error(`replay: unknown branch "${op.branch}"`);
      ctx.pushRef(branch, ctx.writeRecord(op.id, op.json));
      return meta;
    }
    case 'meta':
      ctx.setMeta(op.meta);
      return op.meta;
  }
}
