import { Piscina } from 'piscina';
import { AppError, serviceUnavailable } from '../errors.js';
import { type ReplyHead, readFrame, type ViewBody } from '../protocol/reply-frame.js';
import type { Task } from '../protocol/tasks.js';
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

const WORKER_ENTRY = new URL('../../workers/context-worker.js', import.meta.url);

/**
 * The main thread's side of the worker pool: dispatches tasks, never waits synchronously,
 * and turns a saturated queue into a 503 instead of unbounded buffering.
 */
export class ContextPool {
  private readonly piscina: Piscina;

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
    });
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
    return readFrame(buffer);
  }

  async close(): Promise<void> {
    await this.piscina.close({ force: false });
  }
}

/** The AppError carried by an error reply frame. */
export function errorOf(reply: Reply): AppError {
  const { error, code } = JSON.parse(new TextDecoder().decode(reply.body)) as {
    error?: string;
    code?: string;
  };
  return new AppError(
    reply.head.status,
    code ?? reply.head.code ?? 'internal_error',
    error ?? 'error',
    reply.head.retryAfter === undefined ? {} : { 'Retry-After': String(reply.head.retryAfter) },
  );
}
