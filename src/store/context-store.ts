import { randomUUID } from 'node:crypto';
import { AppError, notFound, preconditionFailed } from '../errors.js';
import type { ContextConfig, ContextMeta, MessageNode } from '../model/types.js';
import { statusName } from '../model/types.js';
import type { ContextUpdate, NewMessage } from '../model/validate.js';
import { errorFrame, frameWith, jsonFrame } from '../pool/frame.js';
import type { Arena } from '../shm/arena.js';
import { SlotStatus, type SlotTable } from '../shm/slot-table.js';
import type { ContextStorage } from '../storage/types.js';
import { ContextSlot } from './context-slot.js';
import { contextDto, etagOf, type Stamp, summaryOf } from './dto.js';
import { applyOp, branchIndex, type ContextOp } from './ops.js';
import { type ContextSnapshot, captureSnapshot, restoreSnapshot } from './snapshot.js';

export interface StoreOptions {
  lockTimeoutMs: number;
  /** Log records after which a write folds the log into a new snapshot. */
  compactAfterRecords: number;
  /** Told of every failure that is the server's fault (5xx), with the request's trace id. */
  onError?: (traceId: string, err: unknown, mapped: AppError) => void;
}

const encoder = new TextEncoder();

/** Which slot a task is for, at which generation, on behalf of which request. */
export interface SlotRef {
  slot: number;
  gen: number;
  traceId: string;
}

/**
 * The context operations a worker runs against shared memory and storage. Each one takes
 * the slot's lock, does the least work that answers (reads copy only what they return;
 * writes persist one op, then apply it), releases the lock, and only then serialises
 * anything that is not already bytes. Every method returns a reply frame.
 */
export class ContextStore {
  constructor(
    private readonly slots: SlotTable,
    private readonly arena: Arena,
    private readonly storage: ContextStorage,
    private readonly options: StoreOptions,
  ) {}

  // ---- lifecycle of a slot ------------------------------------------------------------

  create(at: SlotRef, id: string, config: ContextConfig): ArrayBuffer {
    return this.withWrite(at, SlotStatus.Free, (ctx) => {
      const now = Date.now();
      const meta: ContextMeta = {
        id,
        parent_id: null,
        config,
        current_state: 'Idle',
        state_detail: null,
        active_branch_name: 'main',
        branches: [{ name: 'main', system_prompt: null, user_prompt: null }],
        created_at: new Date(now).toISOString(),
      };
      const stamp = { version: 1, updatedAt: now };
      const snapshot: ContextSnapshot = { meta, ...stamp, records: [], branches: [[]] };
      restoreSnapshot(ctx, snapshot);
      try {
        this.storage.create(id, snapshot, summaryOf(meta, 0, stamp));
      } catch (err) {
        ctx.freeAll();
        throw err;
      }
      this.commitStamp(at.slot, stamp);
      this.slots.setLogRecords(at.slot, 0);
      this.slots.setStatus(at.slot, SlotStatus.Ready);
      const dto = contextDto(ctx, meta, stamp);
      return () =>
        jsonFrame(
          {
            status: 201,
            etag: etagOf(1),
            location: `/v1/contexts/${id}`,
            summary: summaryOf(meta, 0, stamp),
          },
          dto,
        );
    });
  }

  /** Loads a context from storage into a free slot: snapshot, then the log's ops. */
  load(at: SlotRef, id: string): ArrayBuffer {
    return this.withWrite(at, SlotStatus.Free, (ctx) => {
      const loaded = this.storage.load(id);
      if (loaded === null) return () => jsonFrame({ status: 404, gone: true }, undefined);
      const snapshot = loaded.snapshot as ContextSnapshot;
      try {
        restoreSnapshot(ctx, snapshot);
        let meta = snapshot.meta;
        let stamp: Stamp = { version: snapshot.version, updatedAt: snapshot.updatedAt };
        for (const { version, op } of loaded.ops) {
          meta = applyOp(ctx, meta, op as ContextOp);
          stamp = { version, updatedAt: (op as ContextOp).at };
        }
        this.commitStamp(at.slot, stamp);
      } catch (err) {
        ctx.freeAll();
        throw err;
      }
      this.slots.setLogRecords(at.slot, loaded.logRecords);
      this.slots.setStatus(at.slot, SlotStatus.Ready);
      const bytes = this.slots.residentBytes(at.slot);
      return () => jsonFrame({ status: 200 }, { residentBytes: bytes });
    });
  }

  /** Drops a context from memory (it is durable in storage already). */
  evict(at: SlotRef): ArrayBuffer {
    return this.withWrite(at, SlotStatus.Ready, (ctx) => {
      ctx.freeAll();
      this.slots.vacate(at.slot);
      return () => jsonFrame({ status: 200 }, undefined);
    });
  }

  // ---- reads ----------------------------------------------------------------------------

  getContext(at: SlotRef): ArrayBuffer {
    return this.withRead(at, (ctx) => {
      const stamp = this.stampOf(at.slot);
      const dto = contextDto(ctx, ctx.meta(), stamp);
      return () => jsonFrame({ status: 200, etag: etagOf(stamp.version) }, dto);
    });
  }

  getState(at: SlotRef): ArrayBuffer {
    return this.withRead(at, (ctx) => {
      const stamp = this.stampOf(at.slot);
      const dto = contextDto(ctx, ctx.meta(), stamp);
      return () =>
        jsonFrame(
          { status: 200, etag: etagOf(stamp.version) },
          { context: dto, status: statusName(dto.current_state) },
        );
    });
  }

  /**
   * A page of messages, copied record by record from shared memory straight into the reply
   * frame, under the read lock: O(page) bytes touched, nothing decoded, nothing re-encoded.
   */
  listMessages(
    at: SlotRef,
    branchName: string | undefined,
    limit: number,
    offset: number,
  ): ArrayBuffer {
    return this.withRead(at, (ctx) => {
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
        let at = start;
        out.set(prefix, at);
        at += prefix.byteLength;
        for (let i = offset; i < end; i++) {
          if (i > offset) out[at++] = 0x2c; // ','
          const json = ctx.recordJson(ctx.messageRef(branch, i));
          out.set(json, at);
          at += json.byteLength;
        }
        out.set(suffix, at);
      });
      return () => frame;
    });
  }

  // ---- writes ---------------------------------------------------------------------------

  appendMessage(at: SlotRef, message: NewMessage, ifMatch: number | undefined): ArrayBuffer {
    return this.withWrite(at, SlotStatus.Ready, (ctx) => {
      this.checkIfMatch(at.slot, ifMatch);
      const meta = ctx.meta();
      const name = message.branch ?? meta.active_branch_name;
      const branch = branchIndex(meta, name);
      if (branch < 0) throw notFound(`branch "${name}" not found`);
      const length = ctx.branchLength(branch);
      const now = Date.now();
      const node: MessageNode = {
        id: randomUUID(),
        parent_id: length === 0 ? null : ctx.recordId(ctx.messageRef(branch, length - 1)),
        role: message.role,
        content: message.content,
        tool_calls: message.tool_calls,
        tool_result: message.tool_result,
        metadata: {
          created_at: new Date(now).toISOString(),
          duration_ms: null,
          tokens: null,
          extra: null,
        },
      };
      const json = encoder.encode(JSON.stringify(node));
      const op: ContextOp = { t: 'append', branch: name, id: node.id, json, at: now };
      const activeCount =
        ctx.branchLength(branchIndex(meta, meta.active_branch_name)) +
        (name === meta.active_branch_name ? 1 : 0);
      const stamp = this.commit(ctx, meta, op, activeCount);
      const summary = summaryOf(meta, activeCount, stamp);
      return () =>
        frameWith({ status: 201, etag: etagOf(stamp.version), summary }, json.byteLength, (o, at) =>
          o.set(json, at),
        );
    });
  }

  updateContext(at: SlotRef, update: ContextUpdate, ifMatch: number | undefined): ArrayBuffer {
    return this.withWrite(at, SlotStatus.Ready, (ctx) => {
      this.checkIfMatch(at.slot, ifMatch);
      const meta = ctx.meta();
      const next: ContextMeta = { ...meta, config: { ...meta.config, ...update.config } };
      if (update.active_branch_name !== undefined) {
        if (branchIndex(meta, update.active_branch_name) < 0) {
          throw notFound(`branch "${update.active_branch_name}" not found`);
        }
        next.active_branch_name = update.active_branch_name;
      }
      const activeCount = ctx.branchLength(branchIndex(next, next.active_branch_name));
      const stamp = this.commit(ctx, meta, { t: 'meta', meta: next, at: Date.now() }, activeCount);
      const dto = contextDto(ctx, next, stamp);
      const summary = summaryOf(next, activeCount, stamp);
      return () => jsonFrame({ status: 200, etag: etagOf(stamp.version), summary }, dto);
    });
  }

  deleteContext(at: SlotRef, ifMatch: number | undefined): ArrayBuffer {
    return this.withWrite(at, SlotStatus.Ready, (ctx) => {
      this.checkIfMatch(at.slot, ifMatch);
      this.storage.delete(ctx.meta().id);
      ctx.freeAll();
      this.slots.vacate(at.slot);
      return () => jsonFrame({ status: 204, gone: true }, undefined);
    });
  }

  // ---- helpers --------------------------------------------------------------------------

  /**
   * Persists `op` (durable before anything is visible), applies it in memory, bumps the
   * version, and folds the log into a snapshot once it has grown long (amortised O(1)).
   */
  private commit(ctx: ContextSlot, meta: ContextMeta, op: ContextOp, activeCount: number): Stamp {
    const slot = ctx.slot;
    const stamp = { version: this.slots.version(slot) + 1, updatedAt: op.at };
    const after = op.t === 'meta' ? op.meta : meta;
    this.storage.append(meta.id, stamp.version, op, summaryOf(after, activeCount, stamp));
    applyOp(ctx, meta, op);
    this.commitStamp(slot, stamp);
    const records = this.slots.logRecords(slot) + 1;
    if (records >= this.options.compactAfterRecords) {
      const snapshot = captureSnapshot(ctx, after, stamp.version, stamp.updatedAt);
      this.storage.compact(meta.id, snapshot, summaryOf(after, activeCount, stamp));
      this.slots.setLogRecords(slot, 0);
    } else {
      this.slots.setLogRecords(slot, records);
    }
    return stamp;
  }

  private commitStamp(slot: number, stamp: Stamp): void {
    this.slots.setUpdatedAt(slot, stamp.updatedAt);
    this.slots.setVersion(slot, stamp.version);
  }

  private stampOf(slot: number): Stamp {
    return { version: this.slots.version(slot), updatedAt: this.slots.updatedAt(slot) };
  }

  private checkIfMatch(slot: number, ifMatch: number | undefined): void {
    if (ifMatch !== undefined && ifMatch !== this.slots.version(slot)) {
      throw preconditionFailed(
        `If-Match ${etagOf(ifMatch)} does not match the current version ${etagOf(this.slots.version(slot))}`,
      );
    }
  }

  private checkSlot(slot: number, gen: number, expected: SlotStatus): void {
    if (this.slots.generation(slot) !== gen) throw notFound('context not found');
    const status = this.slots.status(slot);
    if (status !== expected) {
      if (expected === SlotStatus.Ready && status === SlotStatus.Free) {
        throw notFound('context not found');
      }
      throw new AppError(500, 'internal_error', `slot ${slot} is in an unexpected state`);
    }
  }

  /**
   * Runs `work` under the read lock; `work` returns a thunk that builds the reply after the
   * lock is released (so serialisation never happens under the lock).
   */
  private withRead(at: SlotRef, work: (ctx: ContextSlot) => () => ArrayBuffer): ArrayBuffer {
    const lock = this.slots.lock(at.slot);
    let reply: () => ArrayBuffer;
    try {
      lock.readLock(this.options.lockTimeoutMs);
    } catch (err) {
      return this.fail(at, err);
    }
    try {
      this.checkSlot(at.slot, at.gen, SlotStatus.Ready);
      reply = work(new ContextSlot(this.slots, this.arena, at.slot));
    } catch (err) {
      return this.fail(at, err);
    } finally {
      lock.readUnlock();
    }
    return reply();
  }

  private withWrite(
    at: SlotRef,
    expected: SlotStatus,
    work: (ctx: ContextSlot) => () => ArrayBuffer,
  ): ArrayBuffer {
    const lock = this.slots.lock(at.slot);
    let reply: () => ArrayBuffer;
    try {
      lock.writeLock(this.options.lockTimeoutMs);
    } catch (err) {
      return this.fail(at, err);
    }
    try {
      this.checkSlot(at.slot, at.gen, expected);
      reply = work(new ContextSlot(this.slots, this.arena, at.slot));
    } catch (err) {
      return this.fail(at, err);
    } finally {
      lock.writeUnlock();
    }
    return reply();
  }

  /** An error reply; failures that are the server's fault are reported with the trace id. */
  private fail(at: SlotRef, err: unknown): ArrayBuffer {
    const mapped = toAppError(err);
    if (mapped.status >= 500) this.options.onError?.(at.traceId, err, mapped);
    return errorFrame(mapped);
  }
}

/** Maps what a worker can throw to the HTTP error it stands for. */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  switch (code) {
    case 'lock_timeout':
      return new AppError(503, 'lock_timeout', 'the context is busy; try again', {
        'Retry-After': '1',
      });
    case 'storage_corrupt':
      return new AppError(500, 'storage_corrupt', 'the stored context cannot be read');
    case 'storage_conflict':
      return new AppError(409, 'conflict', message);
    case 'arena_full':
      return new AppError(507, 'insufficient_storage', 'shared memory is full');
    case 'storage_error':
      return new AppError(500, 'storage_error', 'the write could not be made durable');
    default:
      return new AppError(500, 'internal_error', 'internal error');
  }
}
