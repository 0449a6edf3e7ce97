import { threadId } from 'node:worker_threads';
import { move, workerData } from 'piscina';
import { AppError } from '../src/errors.js';
import { createLogger } from '../src/log.js';
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
const log = createLogger(init.logLevel, { thread: threadId });
const store = new ContextStore(
  new SlotTable(init.slotTable),
  new Arena(init.arena, init.lockTimeoutMs),
  new FileStorage({
    dir: init.dataDir,
    fsync: init.fsync,
    onWarning: (msg, err) => log.warn({ err }, msg),
  }),
  {
    lockTimeoutMs: init.lockTimeoutMs,
    compactAfterRecords: init.compactAfterRecords,
    onError: (traceId, err, mapped) =>
      log.error({ traceId, err, code: mapped.code }, 'task failed'),
  },
);

function run(task: Task): ArrayBuffer {
  switch (task.op) {
    case 'create':
      return store.create(task, task.id, task.config);
    case 'load':
      return store.load(task, task.id);
    case 'evict':
      return store.evict(task);
    case 'getContext':
      return store.getContext(task);
    case 'getState':
      return store.getState(task);
    case 'listMessages':
      return store.listMessages(task, task.branch, task.limit, task.offset);
    case 'appendMessage':
      return store.appendMessage(task, task.message, task.ifMatch);
    case 'updateContext':
      return store.updateContext(task, task.update, task.ifMatch);
    case 'deleteContext':
      return store.deleteContext(task, task.ifMatch);
    default:
      return errorFrame(new AppError(500, 'internal_error', 'unknown task'));
  }
}

export default function handle(task: Task): ArrayBuffer {
  let frame: ArrayBuffer;
  try {
    frame = run(task);
  } catch (err) {
    const mapped = toAppError(err);
    log.error({ traceId: task.traceId, err, code: mapped.code }, 'task failed');
    frame = errorFrame(mapped);
  }
  return move(frame) as ArrayBuffer;
}
