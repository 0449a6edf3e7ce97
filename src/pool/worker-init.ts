/** What every context worker receives once, at start-up (piscina's workerData). */
export interface WorkerInit {
  slotTable: SharedArrayBuffer;
  arena: SharedArrayBuffer;
  dataDir: string;
  fsync: boolean;
  lockTimeoutMs: number;
  compactAfterRecords: number;
  logLevel: string;
}
