import { Piscina } from 'piscina';
import { AppError, serviceUnavailable } from '../errors.js';
import { appErrorOf } from '../protocol/error-mapping.js';
import { type ReplyHead, readFrame, type ViewBody } from '../protocol/reply-frame.js';
import type { Task } from '../protocol/tasks.js';
import { SlotTable } from '../shm/slot-table.js';
import { DurableWait } from './durable-wait.js';
import type { WorkerInit } from './worker-init.js';

export interface Reply {
  head: ReplyHead;
  body: Uint8Array<ArrayBuffer>;
  /** Instead of `body`: views to write as they are (zero-copy pages on the main thread). */
  views?: ViewBody;
}

/** What a worker receives for metrics, next to WorkerInit in its workerData. */
export interface WorkerMetricsInit {
  workCounters: SharedArrayBuffer | undefined;
}

/**
 * Tasks piscina may hand one worker at a time. A worker still runs them one after another
 * (every task is synchronous), but with a second one already in its port it goes straight
 * on to it instead of sleeping in Atomics.wait until the main thread has read the reply and
 * posted the next: under load that saves a sleep and a wake-up of both threads per task
 * (measured on appends: less CPU per append, and fewer appends left for a `syncLog` task).
 * Piscina gives a task to a worker that is busy only when none is idle.
 */
const TASKS_PER_WORKER = 2;

const WORKER_ENTRY = new URL('../../workers/context-worker.js', import.meta.url);

/**
 * The main thread's side of the worker pool: dispatches tasks, never waits synchronously,
 * and turns a saturated queue into a 503 instead of unbounded buffering.
 */
export class ContextPool {
  private readonly piscina: Piscina;
  /** Holds each append's 201 until it is durable (group commit). */
  private readonly durable: DurableWait;

  constructor(
    init: WorkerInit,
    options: {
      workers: number;
      maxQueue: number;
      /** Shared work counters (src/metrics/work-counters.ts) the workers add to. */
      workCounters?: SharedArrayBuffer;
    },
  ) {
    const workerData: WorkerInit & WorkerMetricsInit = {
      ...init,
      workCounters: options.workCounters,
    };
    this.piscina = new Piscina({
      filename: WORKER_ENTRY.href,
      minThreads: options.workers,
      maxThreads: options.workers,
      maxQueue: options.maxQueue,
      idleTimeout: Number.POSITIVE_INFINITY,
      workerData,
      concurrentTasksPerWorker: TASKS_PER_WORKER,
    });
    this.durable = new DurableWait(
      new SlotTable(init.slotTable),
      init.lockTimeoutMs,
      (slot, gen, staleOwner) =>
        this.piscina.run({ op: 'syncLog', slot, gen, staleOwner, traceId: 'group-commit' }),
    );
  }

  /** Messages workers post outside tasks (e.g. their lock-owner announcement). */
  onWorkerMessage(listener: (message: unknown) => void): void {
    this.piscina.on('message', listener);
  }

  get threads(): number {
    return this.piscina.threads.length;
  }

  get queueSize(): number {
    return this.piscina.queueSize;
  }

  async run(task: Task): Promise<Reply> {
    let buffer: ArrayBuffer;
    try {
      buffer = (await this.piscina.run(task)) as ArrayBuffer;
    } catch (err) {
      if (err instanceof Error && /queue is at limit/i.test(err.message)) {
        throw serviceUnavailable('the server is saturated; try again', 'overloaded');
      }
      throw new AppError(500, 'internal_error', 'a worker failed while handling the request');
    }
    const reply = readFrame(buffer);
    if (task.op === 'appendMessage' && reply.head.outcome === 'created') {
      return this.durable.settle(task.slot, task.gen, reply);
    }
    return reply;
  }

  async close(): Promise<void> {
    await this.piscina.close({ force: false });
  }
}

/** Whether a reply says its task failed (its body is then `{error, code}`). */
export function isFailure(reply: Reply): boolean {
  return reply.head.outcome === 'failed';
}

/** The AppError carried by a failed reply. */
export function errorOf(reply: Reply): AppError {
  const { error, code } = JSON.parse(new TextDecoder().decode(reply.body)) as {
    error?: string;
    code?: string;
  };
  return appErrorOf(code ?? reply.head.code ?? 'internal_error', error ?? 'error');
}
