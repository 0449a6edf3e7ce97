import { errorFrame } from '../protocol/reply-frame.js';
import { TaskError } from '../protocol/task-error.js';
import type { Task } from '../protocol/tasks.js';
import type { Arena } from '../shm/arena.js';
import type { SlotTable } from '../shm/slot-table.js';
import type { ContextStorage } from '../storage/types.js';
import { BranchTasks } from './branch-tasks.js';
import { ContextTasks } from './context-tasks.js';
import { SlotAccess, type SlotAccessOptions } from './slot-access.js';
import { TurnTasks } from './turn-tasks.js';

/** A task op with no case above: a compile error here, and a 500 if one arrives anyway. */
function assertNever(task: never): never {
  throw new TaskError('internal_error', `unknown task ${(task as Task).op}`);
}

/**
 * Routes a task to the store operation that does it, on a worker thread. One instance per
 * worker, over the shared buffers it received at start-up.
 */
export class TaskDispatcher {
  private readonly access: SlotAccess;
  private readonly contexts: ContextTasks;
  private readonly turns: TurnTasks;
  private readonly branches: BranchTasks;

  constructor(
    slots: SlotTable,
    arena: Arena,
    storage: ContextStorage,
    options: SlotAccessOptions,
    private readonly faultInjection = false,
  ) {
    this.access = new SlotAccess(slots, arena, storage, options);
    this.contexts = new ContextTasks(this.access);
    this.turns = new TurnTasks(this.access);
    this.branches = new BranchTasks(this.access);
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
        if (!this.faultInjection) {
          return errorFrame(new TaskError('not_found', 'fault injection is off'));
        }
        return contexts.crashWhileHolding(task, task.mode);
      default:
        return assertNever(task);
    }
  }
}
