import type { TaskOp } from '../protocol/tasks.js';

/**
 * Work counters in shared memory: every worker adds what each task did (records and bytes
 * touched in shared memory, bytes written to and read from storage) with `Atomics.add`, and
 * the main thread reads them at scrape time. Counting work rather than time is what lets
 * tests prove that a request's cost follows what it returns, not the conversation's size.
 *
 * Layout: one BigInt64Array over the buffer, a row of `COLUMNS` words per task op.
 *
 * | word                    | meaning                                                  |
 * |-------------------------|----------------------------------------------------------|
 * | `row * COLUMNS + col`   | counter `col` (see `WorkColumn`) of task op `OPS[row]`;  |
 * |                         | ops not listed in `OPS` share the last row, `other`      |
 *
 * Columns (`WorkColumn`), each a monotonically increasing count since the server started:
 *
 * | col | name                  | counts                                                     |
 * |-----|-----------------------|------------------------------------------------------------|
 * | 0   | tasks                 | tasks run                                                  |
 * | 1   | recordsRead           | message records whose bytes were read (copied out)         |
 * | 2   | recordBytesRead       | bytes of those records                                     |
 * | 3   | refsRead              | branch-array entries (record refs) read                    |
 * | 4   | recordsWritten        | message records written into shared memory                 |
 * | 5   | recordBytesWritten    | bytes of those records (16-byte id + DTO JSON)             |
 * | 6   | metaReads             | metadata records decoded                                   |
 * | 7   | storageAppends        | log frames appended (one per committed write)              |
 * | 8   | storageAppendBytes    | bytes of those frames                                      |
 * | 9   | storageSnapshotBytes  | snapshot bytes written when a context is created           |
 * | 10  | storageCompactions    | logs folded into a new snapshot                            |
 * | 11  | storageCompactBytes   | snapshot bytes written by those compactions                |
 * | 12  | storageLoadBytes      | snapshot + log bytes read to load contexts                 |
 * | 13  | storageTornTails      | torn log tails dropped while loading                       |
 * | 14  | storageCompactionFailures | compactions that failed (the write they followed stands) |
 * | 15  | storageLogSyncs       | log fdatasyncs that made appended frames durable (fewer    |
 * |     |                       | than storageAppends when appends share a sync)             |
 *
 * Words are BigInt64 so no counter wraps; a worker adds once per non-zero column per task.
 * Rows are positional: the buffer is created by the main thread from this same list, so
 * every thread agrees. Every task op (src/protocol/tasks.ts `TaskOp`) is given a row in
 * `ROW_OF_OP`, its own or `other`; that table `satisfies Record<TaskOp, …>`, so an op added
 * to the protocol without a decision here fails to compile.
 */
export const OPS = [
  'create',
  'load',
  'evict',
  'getContext',
  'getState',
  'listMessages',
  'appendMessage',
  'updateContext',
  'deleteContext',
  'beginTurn',
  'transition',
  'appendAndTransition',
  'decideTools',
  'markApproved',
  'promptView',
  'forceState',
  'fork',
  'updateBranch',
  'deleteBranch',
  'syncLog',
  'other',
] as const satisfies readonly (TaskOp | 'other')[];

export type MetricOp = (typeof OPS)[number];

/** The row each task op is counted in (test-only ops share `other`). */
const ROW_OF_OP = {
  create: 'create',
  load: 'load',
  evict: 'evict',
  getContext: 'getContext',
  getState: 'getState',
  listMessages: 'listMessages',
  appendMessage: 'appendMessage',
  updateContext: 'updateContext',
  deleteContext: 'deleteContext',
  beginTurn: 'beginTurn',
  transition: 'transition',
  appendAndTransition: 'appendAndTransition',
  decideTools: 'decideTools',
  markApproved: 'markApproved',
  promptView: 'promptView',
  forceState: 'forceState',
  fork: 'fork',
  updateBranch: 'updateBranch',
  deleteBranch: 'deleteBranch',
  syncLog: 'syncLog',
  crashWhileHolding: 'other',
} as const satisfies Record<TaskOp, MetricOp>;

export const WORK_COLUMNS = [
  'tasks',
  'recordsRead',
  'recordBytesRead',
  'refsRead',
  'recordsWritten',
  'recordBytesWritten',
  'metaReads',
  'storageAppends',
  'storageAppendBytes',
  'storageSnapshotBytes',
  'storageCompactions',
  'storageCompactBytes',
  'storageLoadBytes',
  'storageTornTails',
  'storageCompactionFailures',
  'storageLogSyncs',
] as const;

export type WorkColumn = (typeof WORK_COLUMNS)[number];
export type WorkSample = Record<WorkColumn, number>;

const COLUMNS = 16;
const rowOf = new Map<MetricOp, number>(OPS.map((op, row) => [op, row]));
const columnOf = Object.fromEntries(WORK_COLUMNS.map((name, col) => [name, col])) as Record<
  WorkColumn,
  number
>;

export function emptySample(): WorkSample {
  return Object.fromEntries(WORK_COLUMNS.map((name) => [name, 0])) as WorkSample;
}

export class WorkCounters {
  private readonly words: BigInt64Array;

  /** The shared buffer: created once by the main thread, handed to every worker. */
  static createBuffer(): SharedArrayBuffer {
    return new SharedArrayBuffer(OPS.length * COLUMNS * 8);
  }

  constructor(readonly sab: SharedArrayBuffer) {
    this.words = new BigInt64Array(sab);
  }

  /** Adds `value` to one counter of `op`'s row (see `ROW_OF_OP`). */
  add(op: TaskOp, column: WorkColumn, value: number): void {
    if (value === 0) return;
    const row = rowOf.get(ROW_OF_OP[op])!;
    Atomics.add(this.words, row * COLUMNS + columnOf[column], BigInt(value));
  }

  /** The counters of one op. */
  read(op: MetricOp): WorkSample {
    const base = rowOf.get(op)! * COLUMNS;
    const sample = emptySample();
    for (const name of WORK_COLUMNS) {
      sample[name] = Number(Atomics.load(this.words, base + columnOf[name]));
    }
    return sample;
  }
}
