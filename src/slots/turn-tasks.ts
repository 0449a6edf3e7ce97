import {
  acceptsUserMessage,
  type ContextState,
  type FsmEvent,
  transition,
} from '../fsm/state-machine.js';
import {
  type ContentPart,
  type ContextDto,
  type ContextMeta,
  type MessageNode,
  statusName,
  type ToolCall,
} from '../model/types.js';
import type { ChangeEvent } from '../protocol/change-events.js';
import type { EngineMessage, PromptView } from '../protocol/messages.js';
import { jsonFrame } from '../protocol/reply-frame.js';
import { TaskError } from '../protocol/task-error.js';
import { SlotStatus } from '../shm/slot-table.js';
import type { ContextSlot } from './context-slot.js';
import { lastMessageId, newMessage } from './context-tasks.js';
import { contextDto } from './dto.js';
import { branchIndex, type ContextOp } from './ops.js';
import type { SlotAccess } from './slot-access.js';
import type { SlotRef } from './slot-ref.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function stateOf(meta: ContextMeta): ContextState {
  return { name: meta.current_state, detail: meta.state_detail };
}

function withState(meta: ContextMeta, state: ContextState): ContextMeta {
  return { ...meta, current_state: state.name, state_detail: state.detail };
}

/**
 * The worker side of a conversation turn. The engine on the main thread drives the state
 * machine; every step that changes data is one short write here (state and messages
 * committed together as one durable record), and no lock is held while the LLM thinks.
 */
export class TurnTasks {
  constructor(private readonly access: SlotAccess) {}

  /**
   * Starts a turn: only in Idle or Failed (else 409 `context_busy`, so two sends never
   * interleave); appends the user message and moves to ProcessingUserMessage, atomically.
   */
  beginTurn(at: SlotRef, content: ContentPart[]): ArrayBuffer {
    return this.access.write(at, SlotStatus.Ready, (ctx) => {
      const meta = ctx.meta();
      if (!acceptsUserMessage(meta.current_state)) {
        throw new TaskError(
          'context_busy',
          `the context is busy (${meta.current_state}); wait until it is idle`,
        );
      }
      const state = transition(stateOf(meta), { type: 'UserMessageSent' });
      const branch = branchIndex(meta, meta.active_branch_name);
      const now = Date.now();
      const { node, json } = newMessage(
        lastMessageId(ctx, branch),
        { role: 'user', content, tool_calls: null, tool_result: null },
        now,
      );
      const op: ContextOp = {
        t: 'batch',
        at: now,
        ops: [
          { t: 'meta', meta: withState(meta, state), at: now },
          { t: 'append', branch: meta.active_branch_name, id: node.id, json, at: now },
        ],
      };
      return this.reply(ctx, op, meta, [node], 'appended');
    });
  }

  /** Applies FSM events in order and commits the resulting state if it changed. */
  transition(at: SlotRef, events: FsmEvent[]): ArrayBuffer {
    return this.access.write(at, SlotStatus.Ready, (ctx) => {
      const meta = ctx.meta();
      const state = events.reduce(transition, stateOf(meta));
      if (state.name === meta.current_state && sameDetail(state, meta)) {
        return this.unchanged(ctx, meta);
      }
      const op: ContextOp = { t: 'meta', meta: withState(meta, state), at: Date.now() };
      return this.reply(ctx, op, meta, [], 'appended');
    });
  }

  /** Appends engine messages to the active branch, then applies `events`, in one commit. */
  appendAndTransition(at: SlotRef, messages: EngineMessage[], events: FsmEvent[]): ArrayBuffer {
    return this.access.write(at, SlotStatus.Ready, (ctx) => {
      const meta = ctx.meta();
      const branch = branchIndex(meta, meta.active_branch_name);
      const now = Date.now();
      const ops: ContextOp[] = [];
      const nodes: MessageNode[] = [];
      let parent = lastMessageId(ctx, branch);
      for (const m of messages) {
        const { node, json } = newMessage(parent, m, now, m.metadata);
        ops.push({ t: 'append', branch: meta.active_branch_name, id: node.id, json, at: now });
        nodes.push(node);
        parent = node.id;
      }
      const state = events.reduce(transition, stateOf(meta));
      if (state.name !== meta.current_state || !sameDetail(state, meta)) {
        ops.push({ t: 'meta', meta: withState(meta, state), at: now });
      }
      return this.reply(ctx, { t: 'batch', ops, at: now }, meta, nodes, 'appended');
    });
  }

  /**
   * `approve_tools`: in AwaitingToolApproval only (else 400 "No pending tool approvals").
   * The listed pending calls of the active branch's last message are approved, its other
   * pending calls denied; the message gets a new record; the state moves on.
   */
  decideTools(at: SlotRef, approve: string[]): ArrayBuffer {
    return this.access.write(at, SlotStatus.Ready, (ctx) => {
      const meta = ctx.meta();
      if (meta.current_state !== 'AwaitingToolApproval') {
        throw noPendingApprovals();
      }
      const node = this.lastMessage(ctx, meta);
      checkKnown(node, approve);
      const wanted = new Set(approve);
      const decided = (node.tool_calls ?? []).map((call) =>
        call.approval_status === 'Pending'
          ? { ...call, approval_status: wanted.has(call.id) ? 'Approved' : 'Denied' }
          : call,
      ) as ToolCall[];
      const anyApproved = decided.some((c) => c.approval_status === 'Approved');
      const state = transition(stateOf(meta), {
        type: anyApproved ? 'ToolCallsApproved' : 'ToolCallsDenied',
      });
      const now = Date.now();
      const updated = { ...node, tool_calls: decided };
      const op: ContextOp = {
        t: 'batch',
        at: now,
        ops: [
          { t: 'replace', id: node.id, json: encoder.encode(JSON.stringify(updated)), at: now },
          { t: 'meta', meta: withState(meta, state), at: now },
        ],
      };
      return this.reply(ctx, op, meta, [updated], 'replaced');
    });
  }

  /** `tools/approve`: marks listed pending calls Approved; runs nothing, state unchanged. */
  markApproved(at: SlotRef, approve: string[]): ArrayBuffer {
    return this.access.write(at, SlotStatus.Ready, (ctx) => {
      const meta = ctx.meta();
      const node = this.lastMessage(ctx, meta);
      if (pendingCalls(node).length === 0) throw noPendingApprovals();
      checkKnown(node, approve);
      const wanted = new Set(approve);
      const updated: MessageNode = {
        ...node,
        tool_calls: (node.tool_calls ?? []).map((call) =>
          call.approval_status === 'Pending' && wanted.has(call.id)
            ? { ...call, approval_status: 'Approved' }
            : call,
        ),
      };
      const now = Date.now();
      const json = encoder.encode(JSON.stringify(updated));
      const op: ContextOp = { t: 'replace', id: node.id, json, at: now };
      return this.reply(ctx, op, meta, [updated], 'replaced');
    });
  }

  /** The active branch as the LLM sees it. O(conversation): the LLM needs all of it. */
  promptView(at: SlotRef): ArrayBuffer {
    return this.access.read(at, (ctx) => {
      const meta = ctx.meta();
      const index = branchIndex(meta, meta.active_branch_name);
      const branch = meta.branches[index]!;
      const parts: Uint8Array[] = [];
      for (let i = 0; i < ctx.branchLength(index); i++) {
        parts.push(ctx.recordJson(ctx.messageRef(index, i)).slice());
      }
      return () => {
        const view: PromptView = {
          config: meta.config,
          systemPrompt: branch.system_prompt?.content ?? null,
          systemPromptId: branch.system_prompt?.id ?? meta.config.system_prompt_id,
          userPrompt: branch.user_prompt,
          messages: parts.map((p) => JSON.parse(decoder.decode(p)) as MessageNode),
        };
        return jsonFrame({ outcome: 'ok' }, view);
      };
    });
  }

  /**
   * Records a state in memory only. For the one case where the state cannot be persisted:
   * storage itself failed. What is stored stays as it was.
   */
  forceState(at: SlotRef, state: ContextState): ArrayBuffer {
    return this.access.write(at, SlotStatus.Ready, (ctx) => {
      const before = ctx.meta();
      const meta = withState(before, state);
      ctx.setMeta(meta);
      const stamp = { version: this.access.stampOf(at.slot).version + 1, updatedAt: Date.now() };
      this.access.setStamp(at.slot, stamp);
      const dto = contextDto(ctx, meta, stamp);
      // Events and JSON are built after the lock is released (plain objects by then).
      return () =>
        jsonFrame(
          { outcome: 'ok', version: stamp.version, events: stepEvents(before, dto, []) },
          { context: dto, messages: [] },
        );
    });
  }

  /** The active branch's newest message, decoded (just that one record). */
  private lastMessage(ctx: ContextSlot, meta: ContextMeta): MessageNode {
    const index = branchIndex(meta, meta.active_branch_name);
    const length = ctx.branchLength(index);
    if (length === 0) throw noPendingApprovals();
    const json = ctx.recordJson(ctx.messageRef(index, length - 1)).slice();
    return JSON.parse(decoder.decode(json)) as MessageNode;
  }

  private unchanged(ctx: ContextSlot, meta: ContextMeta): () => ArrayBuffer {
    const stamp = this.access.stampOf(ctx.slot);
    const dto = contextDto(ctx, meta, stamp);
    return () =>
      jsonFrame({ outcome: 'ok', version: stamp.version }, { context: dto, messages: [] });
  }

  /**
   * Commits a step and answers `{context, messages}`. Its live events: each message if they
   * were appended (a replaced one, its tool calls decided, is not announced), then the new
   * state if the state changed.
   */
  private reply(
    ctx: ContextSlot,
    op: ContextOp,
    meta: ContextMeta,
    messages: MessageNode[],
    how: 'appended' | 'replaced',
  ): () => ArrayBuffer {
    const { stamp, meta: after, summary } = this.access.commit(ctx, meta, op);
    const dto = contextDto(ctx, after, stamp);
    // Events and JSON are built after the lock is released (plain objects by then).
    return () => {
      const events = stepEvents(meta, dto, how === 'appended' ? messages : []);
      return jsonFrame(
        { outcome: 'ok', version: stamp.version, summary, events },
        { context: dto, messages },
      );
    };
  }
}

function sameDetail(state: ContextState, meta: ContextMeta): boolean {
  return JSON.stringify(state.detail) === JSON.stringify(meta.state_detail);
}

/** A step's live events: each appended message, then the state reached if it changed. */
function stepEvents(
  before: ContextMeta,
  after: ContextDto,
  appended: MessageNode[],
): ChangeEvent[] {
  const events: ChangeEvent[] = appended.map((m) => ({ kind: 'message', data: m }));
  const state: ContextState = { name: after.current_state, detail: after.state_detail };
  if (state.name !== before.current_state || !sameDetail(state, before)) {
    events.push({
      kind: 'state',
      data: {
        state: state.name,
        status: statusName(state.name),
        detail: state.detail,
        version: after.version,
      },
    });
  }
  return events;
}

function noPendingApprovals(): TaskError {
  return new TaskError('no_pending_tool_approvals', 'No pending tool approvals');
}

function pendingCalls(node: MessageNode): ToolCall[] {
  return (node.tool_calls ?? []).filter((c) => c.approval_status === 'Pending');
}

function checkKnown(node: MessageNode, ids: string[]): void {
  const known = new Set((node.tool_calls ?? []).map((c) => c.id));
  const unknown = ids.filter((id) => !known.has(id));
  if (unknown.length > 0) {
    throw new TaskError('validation_error', `unknown tool call id(s): ${unknown.join(', ')}`);
  }
}
