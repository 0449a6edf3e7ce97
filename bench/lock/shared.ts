/** Shared between the lock benchmark's main thread (`run.ts`) and its workers. */

export type Subject =
  | 'mutex'
  | 'baseline'
  | 'rwlock'
  | 'registered'
  | 'registered+timing'
  | 'registered+checked';

export interface BenchInput {
  task: 'uncontended' | 'contended';
  subject: Subject;
  /** Percentage of write acquisitions (contended; the mutex is always exclusive). */
  writePercent: number;
  /** Uncontended: pairs per timed round. */
  iterations: number;
  rounds: number;
  sab: SharedArrayBuffer;
  registry: SharedArrayBuffer;
  seed: number;
}

/** Words of the bench buffer. */
export const B = { rw: 0, mutex: 4, data: 5, stop: 6, ready: 7, go: 8, words: 16 } as const;
