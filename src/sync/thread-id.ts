import { threadId } from 'node:worker_threads';

/**
 * Lock-owner id of the calling thread: `threadId + 1` from `node:worker_threads`, so the
 * main thread is 1 and every worker is ≥ 2. Zero is reserved for "no owner" in lock words.
 * Node never reuses a thread id within a process, so an id names one thread for the
 * lifetime of the shared memory.
 */
const OWNER_ID = threadId + 1;

/** The id this thread records in a lock's OWNER word while it holds the write lock. */
export function currentLockOwnerId(): number {
  return OWNER_ID;
}
