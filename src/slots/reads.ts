import { notFound } from '../errors.js';
import { statusName } from '../model/types.js';
import { frameWith, jsonFrame } from '../protocol/reply-frame.js';
import type { ContextSlot } from './context-slot.js';
import { contextDto, etagOf } from './dto.js';
import { branchIndex } from './ops.js';
import type { DeferredReply } from './slot-access.js';

/** The reads that can be served from shared memory alone, on any thread. */
export type ReadQuery =
  | { op: 'getContext' }
  | { op: 'getState' }
  | { op: 'listMessages'; branch: string | undefined; limit: number; offset: number };

const encoder = new TextEncoder();

/**
 * Does a read under a read lock the caller holds, returning a reply to build after the
 * lock is released. Used by workers (blocking lock) and by the main thread (try-lock only).
 */
export function readWork(ctx: ContextSlot, query: ReadQuery): DeferredReply {
  switch (query.op) {
    case 'getContext': {
      const stamp = ctx.stamp();
      const dto = contextDto(ctx, ctx.meta(), stamp);
      return () => jsonFrame({ status: 200, etag: etagOf(stamp.version) }, dto);
    }
    case 'getState': {
      const stamp = ctx.stamp();
      const dto = contextDto(ctx, ctx.meta(), stamp);
      const body = { context: dto, status: statusName(dto.current_state) };
      return () => jsonFrame({ status: 200, etag: etagOf(stamp.version) }, body);
    }
    case 'listMessages':
      return pageWork(ctx, query.branch, query.limit, query.offset);
  }
}

/**
 * A page of messages, copied record by record from shared memory straight into the reply
 * frame while the lock is held: O(page) bytes touched, nothing decoded or re-encoded.
 */
function pageWork(
  ctx: ContextSlot,
  branchName: string | undefined,
  limit: number,
  offset: number,
): DeferredReply {
  const meta = ctx.meta();
  const name = branchName ?? meta.active_branch_name;
  const branch = branchIndex(meta, name);
  if (branch < 0) throw notFound(`branch "${name}" not found`);
  const total = ctx.branchLength(branch);
  const end = Math.min(total, offset + limit);
  const prefix = encoder.encode('{"messages":[');
  const suffix = encoder.encode(`],"total":${total},"limit":${limit},"offset":${offset}}`);
  let length = prefix.byteLength + suffix.byteLength + Math.max(0, end - offset - 1);
  for (let i = offset; i < end; i++) length += ctx.recordJsonLength(ctx.messageRef(branch, i));
  const frame = frameWith({ status: 200 }, length, (out, start) => {
    let pos = start;
    out.set(prefix, pos);
    pos += prefix.byteLength;
    for (let i = offset; i < end; i++) {
      if (i > offset) out[pos++] = 0x2c; // ','
      const json = ctx.recordJson(ctx.messageRef(branch, i));
      out.set(json, pos);
      pos += json.byteLength;
    }
    out.set(suffix, pos);
  });
  return () => frame;
}
