import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { LatencyStats } from './stats.js';

/** One request of the cycle each connection loops over; `paths` are picked at random. */
export interface LoadRequest {
  method: 'GET' | 'POST';
  paths: string[];
  body?: string;
}

/** What the load process runs: a warm-up, then the measured run, with the same settings. */
export interface LoadJob {
  url: string;
  connections: number;
  warmupSeconds: number;
  durationSeconds: number;
  /** The cycle of requests every connection repeats (e.g. 9 reads and 1 append). */
  requests: LoadRequest[];
  /** The warm-up's requests, when they must differ from the measured ones. */
  warmupRequests?: LoadRequest[];
  /** Measure exactly this many requests instead of `durationSeconds`. */
  amount?: number;
  /** The server's pid, to read its CPU time over the measured run. */
  serverPid: number;
  /** Also read what the server wrote to storage for the measured appends (its /metrics). */
  storageWork?: boolean;
}

/** Storage work of the measured run's appends, from the product's own /metrics counters. */
export interface StorageWork {
  appends: number;
  /** Log frames written. */
  appendBytes: number;
  compactions: number;
  /** Snapshot files written by those compactions. */
  compactBytes: number;
}

export interface LoadResult {
  /** Measured seconds (autocannon's own clock). */
  seconds: number;
  /** Reads: responses with status 200. */
  read: LatencyStats | null;
  /** Writes: responses with status 201. */
  write: LatencyStats | null;
  /** Responses by status code. */
  statuses: Record<string, number>;
  /** Connection errors and timeouts (no response at all). */
  errors: number;
  timeouts: number;
  /** CPU seconds the server used over the measured run, per second of run (1.0 = one core). */
  serverCpu: number;
  /** The same for the load generator's process. */
  loadCpu: number;
  /** The same for everything else on the machine (noise: other processes). */
  otherCpu: number;
  /** Seconds the server took to go idle after the run (requests left in flight). */
  drainSeconds: number;
  /** With `storageWork`: what the measured appends wrote. */
  storage?: StorageWork;
}

const CHILD = fileURLToPath(new URL('./load-child.js', import.meta.url));

/**
 * Runs `job` with autocannon in a separate process, so that neither the orchestrator's
 * event loop nor the server's shares a thread with the load generator.
 */
export function runLoad(job: LoadJob): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = fork(CHILD, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const limitMs = (job.warmupSeconds + job.durationSeconds) * 1000 + 180_000;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('load process timed out'));
    }, limitMs);
    let result: LoadResult | undefined;
    child.on('message', (message: { result?: LoadResult; error?: string }) => {
      if (message.error !== undefined) {
        clearTimeout(timer);
        reject(new Error(`load process: ${message.error}`));
      } else {
        result = message.result;
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (result !== undefined) resolve(result);
      else reject(new Error(`load process exited with ${code} and no result`));
    });
    child.send(job);
  });
}
