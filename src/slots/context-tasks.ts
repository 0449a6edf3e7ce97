import { randomUUID } from 'node:crypto';
import type { ContextConfig, ContextMeta, MessageMetadata, MessageNode } from '../model/types.js';
import type { ContextUpdate, NewMessage } from '../model/validate.js';
import { frameWith, jsonFrame, type ReplyHead } from '../protocol/reply-frame.js';
import { TaskError } from '../protocol/task-error.js';
import { SlotStatus } from '../shm/slot-table.js';
import { ContextSlot } from './context-slot.js';
import { contextDto, type Stamp, summaryOf } from './dto.js';
import { recordLogGrowth } from './log-growth.js';
import { applyOp, branchIndex, type ContextOp } from './ops.js';
import { type ReadQuery, readWork } from './reads.js';
import type { SlotAccess } from './slot-access.js';
import type { SlotRef } from './slot-ref.js';
import { type ContextSnapshot, restoreSnapshot } from './snapshot.js';

const encoder = new TextEncoder();

/** The id of a branch's newest message, the parent of the next one appended to it. */
export function lastMessageId(ctx: ContextSlot, branch: number): string | null {
  const length = ctx.branchLength(branch);
  return length === 0 ? null : ctx.recordId(ctx.messageRef(branch, length - 1));
}

/** A message DTO as stored: built once, encoded once, copied into every reply after. */
export function newMessage(
  parentId: string | null,
  message: Omit<MessageNode, 'id' | 'parent_id' | 'metadata'>,
  now: number,
  metadata: Partial<Omit<MessageMetadata, 'created_at'>> = {},
): { node: MessageNode; json: Uint8Array } {
  const node: MessageNode = {
    id: randomUUID(),
    parent_id: parentId,
    role: message.role,
    content: message.content,
    tool_calls: message.tool_calls,
    tool_result: message.tool_result,
    metadata: {
      created_at: new Date(now).toISOString(),
      duration_ms: metadata.duration_ms ?? null,
      tokens: metadata.tokens ?? null,
      extra: metadata.extra ?? null,
    },
  };
  return { node, json: encoder.encode(JSON.stringify(node)) };
}

/**
 * The context operations a worker runs: create, load, evict, read, append, update,
 * delete. Each takes the slot's lock through `SlotAccess`, does the least work that
 * answers (reads copy only what they return; writes persist one op, then apply it), and
 * serialises what is not already bytes only after the lock is released.
 */
export class ContextTasks {
  constructor(private readonly access: SlotAccess) {}

  // ---- lifecycle of a slot ------------------------------------------------------------

  create(at: SlotRef, id: string, config: ContextConfig): ArrayBuffer {
    return this.access.write(at, SlotStatus.Free, (ctx) => {
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
      const summary = summaryOf(meta, 0, stamp);
      let snapshotBytes: number;
      try {
        snapshotBytes = this.access.storage.create(id, snapshot, summary);
      } catch (err) {
        ctx.freeAll();
        throw err;
      }
      this.access.setStamp(at.slot, stamp);
      recordLogGrowth(this.access.slots, at.slot, { logBytes: 0, logRecords: 0, snapshotBytes });
      this.access.slots.setStatus(at.slot, SlotStatus.Ready);
      const dto = contextDto(ctx, meta, stamp);
      return () => jsonFrame({ outcome: 'created', version: 1, summary }, dto);
    });
  }

  /** Loads a context from storage into a free slot: snapshot, then the log's ops. */
  load(at: SlotRef, id: string): ArrayBuffer {
    return this.access.write(at, SlotStatus.Free, (ctx) => {
      const loaded = this.access.storage.load(id);
      if (loaded === null) {
        return () => jsonFrame({ outcome: 'failed', code: 'not_found', gone: true }, undefined);
      }
      const snapshot = loaded.snapshot as ContextSnapshot;
      try {
        restoreSnapshot(ctx, snapshot);
        let meta = snapshot.meta;
        let stamp: Stamp = { version: snapshot.version, updatedAt: snapshot.updatedAt };
        for (const { version, op } of loaded.ops) {
          meta = applyOp(ctx, meta, op as ContextOp);
          stamp = { version, updatedAt: (op as ContextOp).at };
        }
        this.access.setStamp(at.slot, stamp);
      } catch (err) {
        ctx.freeAll();
        throw err;
      }
      recordLogGrowth(this.access.slots, at.slot, {
        logBytes: loaded.logBytes,
        logRecords: loaded.logRecords,
        snapshotBytes: loaded.snapshotBytes,
      });
      this.access.slots.setStatus(at.slot, SlotStatus.Ready);
      const bytes = this.access.slots.residentBytes(at.slot);
      return () => jsonFrame({ outcome: 'ok' }, { residentBytes: bytes });
    });
  }

  /**
   * Drops a context from memory (it is durable in storage already). A poisoned copy (a
   * writer died in the middle of changing it) is not walked: its blocks may be half
   * linked, so they are left allocated — a bounded leak per crash — rather than risk
   * freeing a block twice.
   */
  evict(at: SlotRef): ArrayBuffer {
    return this.access.write(at, [SlotStatus.Ready, SlotStatus.Poisoned], (ctx) => {
      const poisoned = this.access.slots.status(at.slot) === SlotStatus.Poisoned;
      const leaked = poisoned ? this.access.slots.residentBytes(at.slot) : 0;
      if (!poisoned) ctx.freeAll();
      this.access.logs.close(at.slot);
      this.access.slots.vacate(at.slot);
      return () => jsonFrame({ outcome: 'ok' }, { leakedBytes: leaked });
    });
  }

  /**
   * Fault injection (FAULT_INJECTION=true only): takes the context's lock, makes an
   * unpersisted change under a write lock, and ends this worker thread while holding it —
   * as a crash would, skipping every `finally`. Tests use it to prove recovery.
   */
  crashWhileHolding(at: SlotRef, mode: 'read' | 'write'): never {
    const lock = this.access.slots.lock(at.slot);
    if (mode === 'read') {
      lock.readLock(this.access.options.lockTimeoutMs);
    } else {
      lock.writeLock(this.access.options.lockTimeoutMs);
      const ctx = new ContextSlot(this.access.slots, this.access.arena, at.slot);
      ctx.setMeta({
        ...ctx.meta(),
        current_state: 'Failed',
        state_detail: { error: 'half-written' },
      });
    }
    process.exit(70);
  }

  // ---- reads ----------------------------------------------------------------------------

  /** A read (context DTO, state, or a page of messages) under the read lock. */
  read(at: SlotRef, query: ReadQuery): ArrayBuffer {
    return this.access.read(at, (ctx) =>
      readWork(ctx, query, { slots: this.access.slots, gen: at.gen }),
    );
  }

  // ---- writes ---------------------------------------------------------------------------

  appendMessage(at: SlotRef, message: NewMessage, ifMatch: number | undefined): ArrayBuffer {
    return this.access.write(at, SlotStatus.Ready, (ctx) => {
      this.access.checkIfMatch(at.slot, ifMatch);
      const meta = ctx.meta();
      const name = message.branch ?? meta.active_branch_name;
      const branch = branchIndex(meta, name);
      if (branch < 0) throw new TaskError('not_found', `branch "${name}" not found`);
      const now = Date.now();
      const { node, json } = newMessage(lastMessageId(ctx, branch), message, now);
      const op: ContextOp = { t: 'append', branch: name, id: node.id, json, at: now };
      const { stamp, summary } = this.access.commit(ctx, meta, op);
      const head: ReplyHead = {
        outcome: 'created',
        version: stamp.version,
        summary,
        events: [{ kind: 'message', dataIsBody: true }],
      };
      return () => frameWith(head, json.byteLength, (out, pos) => out.set(json, pos));
    });
  }

  updateContext(at: SlotRef, update: ContextUpdate, ifMatch: number | undefined): ArrayBuffer {
    return this.access.write(at, SlotStatus.Ready, (ctx) => {
      this.access.checkIfMatch(at.slot, ifMatch);
      const meta = ctx.meta();
      const next: ContextMeta = { ...meta, config: { ...meta.config, ...update.config } };
      if (update.active_branch_name !== undefined) {
        if (branchIndex(meta, update.active_branch_name) < 0) {
          throw new TaskError('not_found', `branch "${update.active_branch_name}" not found`);
        }
        next.active_branch_name = update.active_branch_name;
      }
      const op: ContextOp = { t: 'meta', meta: next, at: Date.now() };
      const { stamp, summary } = this.access.commit(ctx, meta, op);
      const dto = contextDto(ctx, next, stamp);
      const head: ReplyHead = {
        outcome: 'ok',
        version: stamp.version,
        summary,
        events: [{ kind: 'context_updated', dataIsBody: true }],
      };
      return () => jsonFrame(head, dto);
    });
  }

  deleteContext(at: SlotRef, ifMatch: number | undefined): ArrayBuffer {
    return this.access.write(at, SlotStatus.Ready, (ctx) => {
      this.access.checkIfMatch(at.slot, ifMatch);
      this.access.logs.close(at.slot);
      this.access.storage.delete(ctx.meta().id);
      ctx.freeAll();
      this.access.slots.vacate(at.slot);
      return () => jsonFrame({ outcome: 'deleted', gone: true }, undefined);
    });
  }
}
