import type { BranchDto, BranchMeta } from '../model/types.js';
import type { ChangeEvent } from '../protocol/change-events.js';
import type { BranchUpdate } from '../protocol/messages.js';
import { jsonFrame, type ReplyHead } from '../protocol/reply-frame.js';
import { TaskError } from '../protocol/task-error.js';
import { SlotStatus } from '../shm/slot-table.js';
import { branchIndex, type ContextOp } from './ops.js';
import type { SlotAccess } from './slot-access.js';
import type { SlotRef } from './slot-ref.js';

/** Branch operations on a worker: fork (sharing records), prompts, delete. */
export class BranchTasks {
  constructor(private readonly access: SlotAccess) {}

  /**
   * Forks `from` (default: the active branch) into a new branch holding its messages up to
   * and including `atMessageId` (default: all). Copies refs, 4 bytes a message, never a
   * message record.
   */
  fork(
    at: SlotRef,
    name: string,
    from: string | undefined,
    atMessageId: string | undefined,
  ): ArrayBuffer {
    return this.access.write(at, SlotStatus.Ready, (ctx) => {
      const meta = ctx.meta();
      if (branchIndex(meta, name) >= 0) {
        throw new TaskError('conflict', `branch "${name}" already exists`);
      }
      const source = from ?? meta.active_branch_name;
      const index = branchIndex(meta, source);
      if (index < 0) throw new TaskError('not_found', `branch "${source}" not found`);
      let count = ctx.branchLength(index);
      if (atMessageId !== undefined) {
        const position = ctx.indexInBranch(index, atMessageId);
        if (position < 0) {
          throw new TaskError(
            'not_found',
            `message ${atMessageId} not found in branch "${source}"`,
          );
        }
        count = position + 1;
      }
      const branch: BranchMeta = {
        name,
        system_prompt: meta.branches[index]!.system_prompt,
        user_prompt: meta.branches[index]!.user_prompt,
      };
      const op: ContextOp = { t: 'fork', branch, from: source, count, at: Date.now() };
      const { stamp, summary } = this.access.commit(ctx, meta, op);
      const dto: BranchDto = { ...branch, message_count: count };
      const events: ChangeEvent[] = [{ kind: 'branch_created', dataIsBody: true }];
      const head: ReplyHead = { outcome: 'created', version: stamp.version, summary, events };
      return () => jsonFrame(head, dto);
    });
  }

  updateBranch(at: SlotRef, name: string, update: BranchUpdate): ArrayBuffer {
    return this.access.write(at, SlotStatus.Ready, (ctx) => {
      const meta = ctx.meta();
      const index = branchIndex(meta, name);
      if (index < 0) throw new TaskError('not_found', `branch "${name}" not found`);
      const branch = { ...meta.branches[index]!, ...update };
      const next = { ...meta, branches: meta.branches.map((b, i) => (i === index ? branch : b)) };
      const op: ContextOp = { t: 'meta', meta: next, at: Date.now() };
      const { stamp, summary } = this.access.commit(ctx, meta, op);
      const dto: BranchDto = { ...branch, message_count: ctx.branchLength(index) };
      const events: ChangeEvent[] = [{ kind: 'branch_updated', dataIsBody: true }];
      const head: ReplyHead = { outcome: 'ok', version: stamp.version, summary, events };
      return () => jsonFrame(head, dto);
    });
  }

  deleteBranch(at: SlotRef, name: string): ArrayBuffer {
    return this.access.write(at, SlotStatus.Ready, (ctx) => {
      const meta = ctx.meta();
      if (branchIndex(meta, name) < 0) {
        throw new TaskError('not_found', `branch "${name}" not found`);
      }
      if (name === 'main') {
        throw new TaskError('branch_protected', 'the main branch cannot be deleted');
      }
      if (name === meta.active_branch_name) {
        throw new TaskError(
          'branch_protected',
          `branch "${name}" is the active branch; switch to another branch first`,
        );
      }
      const { stamp, summary } = this.access.commit(ctx, meta, { t: 'drop', name, at: Date.now() });
      const events: ChangeEvent[] = [{ kind: 'branch_deleted', data: { name } }];
      const head: ReplyHead = { outcome: 'deleted', version: stamp.version, summary, events };
      return () => jsonFrame(head, undefined);
    });
  }
}
