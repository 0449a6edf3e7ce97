import { errorFrame } from '../protocol/reply-frame.js';
import { TaskError } from '../protocol/task-error.js';
import type { Task, TaskOp } from '../protocol/tasks.js';
import type { Arena } from '../shm/arena.js';
import type { SlotTable } from '../shm/slot-table.js';
import type { ContextStorage } from '../storage/types.js';
import { BranchTasks } from './branch-tasks.js';
import { ContextTasks } from './context-tasks.js';
import { SlotAccess, type SlotAccessOptions } from './slot-access.js';
import { TurnTasks } from './turn-tasks.js';

/**
 * One handler per task op, each receiving its own task type. The mapped type is total over
 * `TaskOp`: an op added to the protocol without a handler here is a compile error.
 */
type TaskHandlers = { readonly [K in TaskOp]: (task: Extract<Task, { op: K }>) => ArrayBuffer };

/** An op outside `TaskOp` (only a task built around the types can carry one): a 500. */
function unknownTask(task: Task): never {
  throw new TaskError('internal_error', `unknown task ${task.op}`);
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
    // The task crossed a thread boundary: an op outside the table is a 500, not a crash.
    if (!Object.hasOwn(this.handlers, task.op)) return unknownTask(task);
    // Each handler takes its own op's task; the table's type pairs them.
    return (this.handlers[task.op] as (task: Task) => ArrayBuffer)(task);
  }

  private readonly handlers: TaskHandlers = {
    create: (task) => this.contexts.create(task, task.id, task.config),
    load: (task) => this.contexts.load(task, task.id),
    evict: (task) => this.contexts.evict(task),
    getContext: (task) => this.contexts.read(task, task),
    getState: (task) => this.contexts.read(task, task),
    listMessages: (task) => this.contexts.read(task, task),
    appendMessage: (task) => this.contexts.appendMessage(task, task.message, task.ifMatch),
    updateContext: (task) => this.contexts.updateContext(task, task.update, task.ifMatch),
    deleteContext: (task) => this.contexts.deleteContext(task, task.ifMatch),
    beginTurn: (task) => this.turns.beginTurn(task, task.content),
    transition: (task) => this.turns.transition(task, task.events),
    appendAndTransition: (task) => this.turns.appendAndTransition(task, task.messages, task.events),
    decideTools: (task) => this.turns.decideTools(task, task.approve),
    markApproved: (task) => this.turns.markApproved(task, task.approve),
    promptView: (task) => this.turns.promptView(task),
    forceState: (task) => this.turns.forceState(task, task.state),
    fork: (task) => this.branches.fork(task, task.name, task.from, task.atMessageId),
    updateBranch: (task) => this.branches.updateBranch(task, task.name, task.update),
    deleteBranch: (task) => this.branches.deleteBranch(task, task.name),
    syncLog: (task) => this.access.syncPending(task, task.staleOwner),
    crashWhileHolding: (task) =>
      this.faultInjection
        ? this.contexts.crashWhileHolding(task, task.mode)
        : errorFrame(new TaskError('not_found', 'fault injection is off')),
  };
}
