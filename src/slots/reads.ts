import { type ContextMeta, statusName } from '../model/types.js';
import { frameWith, jsonFrame, type ReplyHead } from '../protocol/reply-frame.js';
import { TaskError } from '../protocol/task-error.js';
import type { SlotTable } from '../shm/slot-table.js';
import type { ContextSlot } from './context-slot.js';
import { contextDto } from './dto.js';
import { branchIndex } from './ops.js';
import type { DeferredReply } from './slot-access.js';

/** The reads that can be served from shared memory alone, on any thread. */
export type ReadQuery =
  | { op: 'getContext' }
  | { op: 'getState' }
  | { op: 'listMessages'; branch: string | undefined; limit: number; offset: number };

/**
 * What a read found, taken under the read lock and encoded after it is released: a JSON
 * value (context DTO or state), or a page as the byte ranges that make up its body.
 */
export type ReadResult =
  | { kind: 'json'; version: number; value: unknown }
  | { kind: 'page'; version: number; page: PageParts };

/**
 * A page body as parts, in order: `prefix`, the records' JSON joined by commas, `suffix`.
 * `records` are views of shared memory, valid only while the records cannot be freed (under
 * the read lock, or while the slot is pinned against frees).
 */
export interface PageParts {
  prefix: Uint8Array;
  records: Uint8Array[];
  suffix: Uint8Array;
  /** Total body bytes. */
  length: number;
}

/** Where a read happens: the slot table and the generation the caller checked. */
export interface ReadSite {
  slots: SlotTable;
  gen: number;
}

/** The cache key of a read (answers differ only by these fields). */
export function queryKey(query: ReadQuery): string {
  switch (query.op) {
    case 'getContext':
      return 'c';
    case 'getState':
      return 's';
    case 'listMessages':
      return `m|${query.limit}|${query.offset}|${query.branch ?? ''}`;
  }
}

const encoder = new TextEncoder();
const COMMA = 0x2c;

/** Reads under a read lock the caller holds; nothing is encoded yet. */
export function readResult(ctx: ContextSlot, query: ReadQuery, site: ReadSite): ReadResult {
  const stamp = ctx.stamp();
  const version = stamp.version;
  switch (query.op) {
    case 'getContext':
    case 'getState': {
      const dto = contextDto(ctx, metaOf(ctx, site, version), stamp);
      const value =
        query.op === 'getContext' ? dto : { context: dto, status: statusName(dto.current_state) };
      return { kind: 'json', version, value };
    }
    case 'listMessages':
      return {
        kind: 'page',
        version,
        page: pageParts(ctx, metaOf(ctx, site, version), query.branch, query.limit, query.offset),
      };
  }
}

/** The reply head of a read's answer: DTO and state answers carry their version (the ETag), pages do not. */
export function headOfResult(result: ReadResult): ReplyHead {
  return result.kind === 'json' ? { outcome: 'ok', version: result.version } : PAGE_HEAD;
}

const PAGE_HEAD: ReplyHead = { outcome: 'ok' };

/** A page's body in one new buffer (the records copied once). */
export function joinPage(page: PageParts): Buffer<ArrayBuffer> {
  const out = Buffer.allocUnsafe(page.length) as Buffer<ArrayBuffer>;
  writePage(page, out, 0);
  return out;
}

/**
 * A page's body as chunks to write in order: records of at least `minViewBytes` as the
 * views they are (no copy), everything between them (brackets, commas, smaller records)
 * copied into one buffer (handing the socket a chunk costs about as much as copying a few
 * hundred bytes). The chunks are valid only while the records they view cannot be freed.
 * Undefined when no record is that large.
 */
export function pageChunks(page: PageParts, minViewBytes: number): Uint8Array[] | undefined {
  let copied = page.length;
  for (const json of page.records) if (json.byteLength >= minViewBytes) copied -= json.byteLength;
  if (copied === page.length) return undefined;
  const joint = Buffer.allocUnsafe(copied);
  const chunks: Uint8Array[] = [];
  let pos = 0;
  let runStart = 0;
  const put = (bytes: Uint8Array) => {
    joint.set(bytes, pos);
    pos += bytes.byteLength;
  };
  put(page.prefix);
  for (let i = 0; i < page.records.length; i++) {
    if (i > 0) joint[pos++] = COMMA;
    const json = page.records[i]!;
    if (json.byteLength < minViewBytes) {
      put(json);
      continue;
    }
    if (pos > runStart) chunks.push(joint.subarray(runStart, pos));
    runStart = pos;
    chunks.push(json);
  }
  put(page.suffix);
  chunks.push(joint.subarray(runStart, pos));
  return chunks;
}

function writePage(page: PageParts, out: Uint8Array, at: number): void {
  let pos = at;
  out.set(page.prefix, pos);
  pos += page.prefix.byteLength;
  for (let i = 0; i < page.records.length; i++) {
    if (i > 0) out[pos++] = COMMA;
    const json = page.records[i]!;
    out.set(json, pos);
    pos += json.byteLength;
  }
  out.set(page.suffix, pos);
}

/**
 * Does a read under a read lock the caller holds (a worker), returning a reply frame to
 * build after the lock is released. A page is copied into the frame under the lock.
 */
export function readWork(ctx: ContextSlot, query: ReadQuery, site: ReadSite): DeferredReply {
  const result = readResult(ctx, query, site);
  if (result.kind === 'json') {
    return () => jsonFrame(headOfResult(result), result.value);
  }
  const page = result.page;
  const frame = frameWith(PAGE_HEAD, page.length, (out, at) => writePage(page, out, at));
  return () => frame;
}

/**
 * A page of messages as views of its records in shared memory: O(page) refs read, nothing
 * copied, decoded or re-encoded.
 */
function pageParts(
  ctx: ContextSlot,
  meta: ContextMeta,
  branchName: string | undefined,
  limit: number,
  offset: number,
): PageParts {
  const name = branchName ?? meta.active_branch_name;
  const branch = branchIndex(meta, name);
  if (branch < 0) throw new TaskError('not_found', `branch "${name}" not found`);
  const total = ctx.branchLength(branch);
  const end = Math.min(total, offset + limit);
  const prefix = PAGE_PREFIX;
  const suffix = encoder.encode(`],"total":${total},"limit":${limit},"offset":${offset}}`);
  const records: Uint8Array[] = [];
  let length = prefix.byteLength + suffix.byteLength + Math.max(0, end - offset - 1);
  for (let i = offset; i < end; i++) {
    const json = ctx.recordJson(ctx.messageRef(branch, i));
    records.push(json);
    length += json.byteLength;
  }
  return { prefix, records, suffix, length };
}

const PAGE_PREFIX = encoder.encode('{"messages":[');

/**
 * The decoded metadata of each slot this thread read, kept while the slot shows the same
 * occupant (generation), version and metadata record: a read decodes the msgpack record
 * once per version, not once per request. At most one entry per slot.
 */
const metaBySlot = new Map<
  number,
  { gen: number; version: number; ref: number; meta: ContextMeta }
>();

function metaOf(ctx: ContextSlot, site: ReadSite, version: number): ContextMeta {
  const ref = site.slots.metaRef(ctx.slot);
  const known = metaBySlot.get(ctx.slot);
  if (
    known !== undefined &&
    known.gen === site.gen &&
    known.version === version &&
    known.ref === ref
  ) {
    return known.meta;
  }
  const meta = ctx.meta();
  metaBySlot.set(ctx.slot, { gen: site.gen, version, ref, meta });
  return meta;
}
