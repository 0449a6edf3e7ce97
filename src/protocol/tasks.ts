import type { ContextState, FsmEvent } from '../fsm/state-machine.js';
import type { ContentPart, ContextConfig } from '../model/types.js';
import type { ContextUpdate, NewMessage } from '../model/validate.js';
import type { BranchUpdate, EngineMessage } from './messages.js';

/**
 * What the main thread asks a worker to do. Every task names the slot and the slot
 * generation the main thread pinned, so a worker never acts on a slot's next occupant.
 */
interface SlotTask {
  slot: number;
  gen: number;
  traceId: string;
}

export type Task =
  | (SlotTask & { op: 'create'; id: string; config: ContextConfig })
  | (SlotTask & { op: 'load'; id: string })
  | (SlotTask & { op: 'evict' })
  | (SlotTask & { op: 'getContext' })
  | (SlotTask & { op: 'getState' })
  | (SlotTask & { op: 'listMessages'; branch: string | undefined; limit: number; offset: number })
  | (SlotTask & { op: 'appendMessage'; message: NewMessage; ifMatch: number | undefined })
  | (SlotTask & { op: 'updateContext'; update: ContextUpdate; ifMatch: number | undefined })
  | (SlotTask & { op: 'deleteContext'; ifMatch: number | undefined })
  | (SlotTask & { op: 'beginTurn'; content: ContentPart[] })
  | (SlotTask & { op: 'transition'; events: FsmEvent[] })
  | (SlotTask & { op: 'appendAndTransition'; messages: EngineMessage[]; events: FsmEvent[] })
  | (SlotTask & { op: 'decideTools'; approve: string[] })
  | (SlotTask & { op: 'markApproved'; approve: string[] })
  | (SlotTask & { op: 'promptView' })
  | (SlotTask & { op: 'forceState'; state: ContextState })
  | (SlotTask & {
      op: 'fork';
      name: string;
      from: string | undefined;
      atMessageId: string | undefined;
    })
  | (SlotTask & { op: 'updateBranch'; name: string; update: BranchUpdate })
  | (SlotTask & { op: 'deleteBranch'; name: string })
  | (SlotTask & { op: 'crashWhileHolding'; mode: 'read' | 'write' })
  /** Sync the appends written to the log but not yet durable (slots/group-commit.ts). */
  | (SlotTask & { op: 'syncLog'; staleOwner: number });

export type TaskOp = Task['op'];
