import { move, workerData } from 'piscina';
import { AppError } from '../src/errors.js';
import { errorFrame } from '../src/pool/frame.js';
import type { Task } from '../src/pool/tasks.js';
import type { WorkerInit } from '../src/pool/worker-init.js';
import { Arena } from '../src/shm/arena.js';
import { SlotTable } from '../src/shm/slot-table.js';
import { FileStorage } from '../src/storage/file-storage.js';
import { ContextStore, toAppError } from '../src/store/context-store.js';

/**
 * Worker entry point: every context route's lock-holding work runs here. The shared
 * buffers arrive once, in workerData; each task names a slot, and the reply frame goes
 * back to the main thread by transfer.
 */
const init = workerData as WorkerInit;
const store = new ContextStore(
  new SlotTable(init.slotTable),
  new Arena(init.arena, init.lockTimeoutMs),
  new FileStorage({ dir: init.dataDir, fsync: init.fsync }),
  { lockTimeoutMs: init.lockTimeoutMs, compactAfterRecords: init.compactAfterRecords },
);

function run(task: Task): ArrayBuffer {
  switch (task.op) {
    case 'create':
      return store.create(task.slot, task.gen, task.id, task.config);
    case 'load':
      return store.load(task.slot, task.gen, task.id);
    case 'evict':
      return store.evict(task.slot, task.gen);
    case 'getContext':
      return store.getContext(task.slot, task.gen);
    case 'getState':
      return store.getState(task.slot, task.gen);
    case 'listMessages':
      return store.listMessages(task.slot, task.gen, task.branch, task.limit, task.offset);
    case 'appendMessage':
      return store.appendMessage(task.slot, task.gen, task.message, task.ifMatch);
    case 'updateContext':
      return store.updateContext(task.slot, task.gen, task.update, task.ifMatch);
    case 'deleteContext':
      return store.deleteContext(task.slot, task.gen, task.ifMatch);
    default:
      return errorFrame(new AppError(500, 'internal_error', 'unknown task'));
  }
}

export default function handle(task: Task): ArrayBuffer {
  let frame: ArrayBuffer;
  try {
    frame = run(task);
  } catch (err) {
    frame = errorFrame(toAppError(err));
  }
  return move(frame) as ArrayBuffer;
}
