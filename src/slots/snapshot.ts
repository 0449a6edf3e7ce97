import type { ContextMeta } from '../model/types.js';
import type { Ref } from '../shm/arena.js';
import type { ContextSlot } from './context-slot.js';

/**
 * A whole context as written to storage when it is created or compacted: the metadata,
 * every message record once (id + DTO JSON), and each branch as indexes into `records`.
 */
export interface ContextSnapshot {
  meta: ContextMeta;
  version: number;
  updatedAt: number;
  records: { id: string; json: Uint8Array }[];
  branches: number[][];
}

/** Copies a context out of shared memory. O(context): only for create and compaction. */
export function captureSnapshot(
  ctx: ContextSlot,
  meta: ContextMeta,
  version: number,
  updatedAt: number,
): ContextSnapshot {
  const index = new Map<Ref, number>();
  const records: ContextSnapshot['records'] = [];
  const branches = meta.branches.map((_, b) =>
    ctx.branchRefs(b).map((ref) => {
      let i = index.get(ref);
      if (i === undefined) {
        i = records.length;
        index.set(ref, i);
        records.push({ id: ctx.recordId(ref), json: ctx.recordJson(ref).slice() });
      }
      return i;
    }),
  );
  return { meta, version, updatedAt, records, branches };
}

/** Builds a context in shared memory from a snapshot (the slot must be empty). */
export function restoreSnapshot(ctx: ContextSlot, snapshot: ContextSnapshot): void {
  const refs = snapshot.records.map((r) => ctx.writeRecord(r.id, r.json));
  ctx.setMeta(snapshot.meta);
  ctx.initBranches(snapshot.branches.map((indexes) => indexes.map((i) => refs[i]!)));
}
