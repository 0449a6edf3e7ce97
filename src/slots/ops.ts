import type { BranchMeta, ContextMeta } from '../model/types.js';
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
  /** The metadata record replaced (config, active branch, prompts, state). */
  | { t: 'meta'; meta: ContextMeta; at: number }
  /** A message rewritten (a tool call's approval): a new record, every reference moved. */
  | { t: 'replace'; id: string; json: Uint8Array; at: number }
  /** A fork: `branch` starts with the first `count` messages of `from` (shared records). */
  | { t: 'fork'; branch: BranchMeta; from: string; count: number; at: number }
  /** A branch removed, with the records nothing else references. */
  | { t: 'drop'; name: string; at: number }
  /** Several ops committed as one durable record. */
  | { t: 'batch'; ops: ContextOp[]; at: number };

export function branchIndex(meta: ContextMeta, name: string): number {
  return meta.branches.findIndex((b) => b.name === name);
}

function requireBranch(meta: ContextMeta, name: string): number {
  const index = branchIndex(meta, name);
  if (index < 0) throw new Error(`op names unknown branch "${name}"`);
  return index;
}

/** Applies `op` to the context in shared memory and returns the metadata after it. */
export function applyOp(ctx: ContextSlot, meta: ContextMeta, op: ContextOp): ContextMeta {
  switch (op.t) {
    case 'append':
      ctx.pushRef(requireBranch(meta, op.branch), ctx.writeRecord(op.id, op.json));
      return meta;
    case 'meta':
      ctx.setMeta(op.meta);
      return op.meta;
    case 'replace': {
      const old = ctx.findRecord(op.id);
      if (old === undefined) throw new Error(`op names unknown message ${op.id}`);
      ctx.replaceRecord(old, ctx.writeRecord(op.id, op.json));
      return meta;
    }
    case 'fork': {
      const from = requireBranch(meta, op.from);
      ctx.addBranch(ctx.branchRefs(from).slice(0, op.count));
      const next = { ...meta, branches: [...meta.branches, op.branch] };
      ctx.setMeta(next);
      return next;
    }
    case 'drop': {
      const index = requireBranch(meta, op.name);
      ctx.removeBranch(index);
      const next = { ...meta, branches: meta.branches.filter((_, i) => i !== index) };
      ctx.setMeta(next);
      return next;
    }
    case 'batch':
      return op.ops.reduce((m, inner) => applyOp(ctx, m, inner), meta);
  }
}

/** Metadata after `op`, without touching memory (to summarise a write before it is made). */
export function metaAfter(meta: ContextMeta, op: ContextOp): ContextMeta {
  switch (op.t) {
    case 'meta':
      return op.meta;
    case 'fork':
      return { ...meta, branches: [...meta.branches, op.branch] };
    case 'drop':
      return { ...meta, branches: meta.branches.filter((b) => b.name !== op.name) };
    case 'batch':
      return op.ops.reduce(metaAfter, meta);
    default:
      return meta;
  }
}

/** Length of `branch` after `op`, given a function for the current lengths. */
export function lengthAfter(
  op: ContextOp,
  branch: string,
  current: (name: string) => number,
): number {
  switch (op.t) {
    case 'append':
      return current(branch) + (op.branch === branch ? 1 : 0);
    case 'fork':
      return op.branch.name === branch ? op.count : current(branch);
    case 'batch':
      return op.ops.reduce(
        (length, inner) =>
          lengthAfter(inner, branch, (name) => (name === branch ? length : current(name))),
        current(branch),
      );
    default:
      return current(branch);
  }
}
