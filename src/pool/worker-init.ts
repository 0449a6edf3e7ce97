import type { CompactionPolicy } from '../storage/compaction-policy.js';

/** What every context worker receives once, at start-up (piscina's workerData). */
export interface WorkerInit {
  slotTable: SharedArrayBuffer;
  arena: SharedArrayBuffer;
  /** Where every thread records the locks it holds and waits for (src/sync/lock-registry.ts). */
  lockRegistry: SharedArrayBuffer;
  dataDir: string;
  fsync: boolean;
  /** Appends share log syncs (GROUP_COMMIT; slots/group-commit.ts). */
  groupCommit: boolean;
  /** FAULT_SYNC_DELAY_MS when FAULT_INJECTION is on, else 0 (storage/fault-syncs.ts). */
  faultSyncDelayMs: number;
  lockTimeoutMs: number;
  compaction: CompactionPolicy;
  logLevel: string;
  /** Accept fault-injection tasks (tests only). */
  faultInjection: boolean;
}
