import type { TaskOp } from '../protocol/tasks.js';
import { workMeter } from '../slots/thread-work-meter.js';
import { type StorageStats, zeroStorageStats } from '../storage/types.js';
import {
  emptySample,
  type WorkColumn,
  type WorkCounters,
  type WorkSample,
} from './work-counters.js';

/** Where each shared counter's running total lives in this thread. */
function currentTotals(storage: StorageStats, out: WorkSample): WorkSample {
  out.recordsRead = workMeter.recordsRead;
  out.recordBytesRead = workMeter.recordBytesRead;
  out.refsRead = workMeter.refsRead;
  out.recordsWritten = workMeter.recordsWritten;
  out.recordBytesWritten = workMeter.recordBytesWritten;
  out.metaReads = workMeter.metaReads;
  out.storageAppends = storage.appends;
  out.storageAppendBytes = storage.appendBytes;
  out.storageSnapshotBytes = storage.snapshotBytes;
  out.storageCompactions = storage.compactions;
  out.storageCompactBytes = storage.compactBytes;
  out.storageCompactionFailures = storage.compactionFailures;
  out.storageLoadBytes = storage.loadBytes;
  out.storageTornTails = storage.tornTails;
  out.storageLogSyncs = storage.logSyncs;
  return out;
}

const DELTA_COLUMNS = (
  Object.keys(currentTotals(zeroStorageStats(), emptySample())) as WorkColumn[]
).filter((c) => c !== 'tasks');

/**
 * A worker's publisher: after each task, adds to the shared counters what this thread's
 * work meter (src/slots/thread-work-meter.ts) and its storage counted since the previous task,
 * under the task's op. The cost is a dozen subtractions and an `Atomics.add` per column that
 * moved: nothing next to the task itself.
 */
export function createWorkPublisher(
  counters: WorkCounters,
  storage: StorageStats,
): (op: TaskOp) => void {
  let last = currentTotals(storage, emptySample());
  let next = emptySample();
  return (op) => {
    currentTotals(storage, next);
    counters.add(op, 'tasks', 1);
    for (const column of DELTA_COLUMNS) counters.add(op, column, next[column] - last[column]);
    [last, next] = [next, last];
  };
}
