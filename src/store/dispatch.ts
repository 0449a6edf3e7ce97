import { AppError } from '../errors.js';
import { errorFrame } from '../pool/frame.js';
import type { Task } from '../pool/tasks.js';
import type { Arena } from '../shm/arena.js';
import type { SlotTable } from '../shm/slot-table.js';
import type { ContextStorage } from '../storage/types.js';
import { ContextStore } from './context-store.js';
import { SlotAccess, type StoreOptions } from './slot-access.js';

/**
 * Routes a task to the store operation that does it, on a worker thread. One instance per
 * worker, over the shared buffers it received at start-up.
 */
export class TaskDispatcher {
  private readonly contexts: ContextStore;
  private readonly access: SlotAccess;

  constructor(slots: SlotTable, arena: Arena, storage: ContextStorage, options: StoreOptions) {
    this.access = new SlotAccess(slots, arena, storage, options);
    this.contexts = new ContextStore(this.access);
  }

  run(task: Task): ArrayBuffer {
    try {
      return this.route(task);
    } catch (err) {
      return this.access.fail(task, err);
    }
  }

  private route(task: Task): ArrayBuffer {
    const contexts = this.contexts;
    switch (task.op) {
      case 'create':
        return contexts.create(task, task.id, task.config);
      case 'load':
        return contexts.load(task, task.id);
      case 'evict':
        return contexts.evict(task);
      case 'getContext':
        return contexts.getContext(task);
      case 'getState':
        return contexts.getState(task);
      case 'listMessages':
        return contexts.listMessages(task, task.branch, task.limit, task.offset);
      case 'appendMessage':
        return contexts.appendMessage(task, task.message, task.ifMatch);
      case 'updateContext':
        return contexts.updateContext(task, task.update, task.ifMatch);
      case 'deleteContext':
        return contexts.deleteContext(task, task.ifMatch);
      default:
        return errorFrame(new AppError(500, 'internal_error', 'unknown task'));
    }
  }
}
