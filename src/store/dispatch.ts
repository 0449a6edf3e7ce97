import { AppError } from '../errors.js';
import { errorFrame } from '../pool/frame.js';
import type { Task } from '../pool/tasks.js';
import type { Arena } from '../shm/arena.js';
import type { SlotTable } from '../shm/slot-table.js';
import type { ContextStorage } from '../storage/types.js';
import { BranchStore } from './branch-store.js';
import { ContextStore } from './context-store.js';
import { SlotAccess, type StoreOptions } from './slot-access.js';
import { TurnStore } from './turn-store.js';

/**
 * Routes a task to the store operation that does it, on a worker thread. One instance per
 * worker, over the shared buffers it received at start-up.
 */
export class TaskDispatcher {
  private readonly access: SlotAccess;
  private readonly contexts: ContextStore;
  private readonly turns: TurnStore;
  private readonly branches: BranchStore;

  constructor(
    slots: SlotTable,
    arena: Arena,
    storage: ContextStorage,
    options: StoreOptions,
    private readonly faultInjection = false,
  ) {
    this.access = new SlotAccess(slots, arena, storage, options);
    this.contexts = new ContextStore(this.access);
    this.turns = new TurnStore(this.access);
    this.branches = new BranchStore(this.access);
  }

  run(task: Task): ArrayBuffer {
    // Closes this worker's log fds of contexts that left memory since its last task.
    this.access.logs.sweep();
    try {
      return this.route(task);
    } catch (err) {
      return this.access.fail(task, err);
    }
  }

  private route(task: Task): ArrayBuffer {
    const { contexts, turns, branches } = this;
    switch (task.op) {
      case 'create':
        return contexts.create(task, task.id, task.config);
      case 'load':
        return contexts.load(task, task.id);
      case 'evict':
        return contexts.evict(task);
      case 'getContext':
      case 'getState':
      case 'listMessages':
        return contexts.read(task, task);
      case 'appendMessage':
        return contexts.appendMessage(task, task.message, task.ifMatch);
      case 'updateContext':
        return contexts.updateContext(task, task.update, task.ifMatch);
      case 'deleteContext':
        return contexts.deleteContext(task, task.ifMatch);
      case 'beginTurn':
        return turns.beginTurn(task, task.content);
      case 'transition':
        return turns.transition(task, task.events);
      case 'appendAndTransition':
        return turns.appendAndTransition(task, task.messages, task.events);
      case 'decideTools':
        return turns.decideTools(task, task.approve);
      case 'markApproved':
        return turns.markApproved(task, task.approve);
      case 'promptView':
        return turns.promptView(task);
      case 'forceState':
        return turns.forceState(task, task.state);
      case 'fork':
        return branches.fork(task, task.name, task.from, task.atMessageId);
      case 'updateBranch':
        return branches.updateBranch(task, task.name, task.update);
      case 'deleteBranch':
        return branches.deleteBranch(task, task.name);
      case 'syncLog':
        return this.access.syncPending(task, task.staleOwner);
      case 'crashWhileHolding':
        if (!this.faultInjection) break;
        return contexts.crashWhileHolding(task, task.mode);
      default:
        break;
    }
    return errorFrame(new AppError(500, 'internal_error', 'unknown task'));
  }
}
