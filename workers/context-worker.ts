import { threadId } from 'node:worker_threads';
import { move, workerData } from 'piscina';
import { createLogger } from '../src/log.js';
import { WorkCounters } from '../src/metrics/work-counters.js';
import { createWorkPublisher } from '../src/metrics/work-publisher.js';
import type { WorkerMetricsInit } from '../src/pool/context-pool.js';
import type { WorkerInit } from '../src/pool/worker-init.js';
import type { Task } from '../src/protocol/tasks.js';
import { Arena } from '../src/shm/arena.js';
import { SlotTable } from '../src/shm/slot-table.js';
import { TaskDispatcher } from '../src/slots/task-dispatcher.js';
import { FileStorage } from '../src/storage/file-storage.js';
import { LockRegistry } from '../src/sync/lock-registry.js';
import { announceLockOwner } from '../src/sync/thread-exit.js';

/**
 * Worker entry point: every context route's lock-holding work runs here. The shared
 * buffers arrive once, in workerData; each task names a slot, and the reply frame goes
 * back to the main thread by transfer.
 */
const init = workerData as WorkerInit & WorkerMetricsInit;
const registry = new LockRegistry(init.lockRegistry);
// Lets the supervisor recover this thread's locks if it dies holding them.
announceLockOwner();
const log = createLogger(init.logLevel, { thread: threadId });
const storage = new FileStorage({
  dir: init.dataDir,
  fsync: init.fsync,
  faultSyncDelayMs: init.faultSyncDelayMs,
  onWarning: (msg, err) => log.warn({ err }, msg),
});
/** Adds each task's work (work meter + storage counters) to the shared /metrics counters. */
const publishWork =
  init.workCounters === undefined
    ? () => {}
    : createWorkPublisher(new WorkCounters(init.workCounters), storage.stats);
const dispatcher = new TaskDispatcher(
  new SlotTable(init.slotTable, registry),
  new Arena(init.arena, init.lockTimeoutMs, registry),
  storage,
  {
    lockTimeoutMs: init.lockTimeoutMs,
    compaction: init.compaction,
    groupCommit: init.groupCommit,
    onError: (traceId, err, mapped) =>
      log.error({ traceId, err, code: mapped.code }, 'task failed'),
    onCompactionFailure: (contextId, err) =>
      log.error({ contextId, err }, 'compaction failed; the write stands, the next one retries'),
  },
  init.faultInjection,
);

export default function handle(task: Task): ArrayBuffer {
  const frame = dispatcher.run(task);
  // Before the reply leaves: whoever sees the reply sees counters that include its work.
  publishWork(task.op);
  registry.publishStats();
  return move(frame) as ArrayBuffer;
}
