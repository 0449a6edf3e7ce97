import type { LoadResult } from './load.js';

/** Everything one `npm run bench` measured: written as JSON, rendered into the docs. */
export interface BenchResults {
  schema: 1;
  mode: 'quick' | 'full';
  command: string;
  startedAt: string;
  elapsedSeconds: number;
  machine: Machine;
  settings: Settings;
  /** How long seeding took, by phase. */
  seeding: SeedTiming[];
  runs: RunRecord[];
  memory: MemoryResult | null;
  targets: TargetResult[];
  /** Deviations from the specified sizes (e.g. `--quick` scales S6 down). */
  notes: string[];
}

export interface Machine {
  cpus: number;
  cpuModel: string;
  node: string;
  platform: string;
  memoryGiB: number;
  /** 1-minute load average when the run started (other work on the machine). */
  loadAverage: number;
}

export interface Settings {
  warmupSeconds: number;
  durationSeconds: number;
  readConnections: number;
  appendConnections: number;
  appendCount: number;
  /** COMPACT_LOG_RATIO of S5's product (absent in runs before it had its own). */
  appendCompactLogRatio?: number;
  seedConcurrency: number;
  noisyCpu: number;
  retries: number;
  rounds: number;
  messageBytes: number;
  productWorkers: number;
  fsync: boolean;
  memoryContexts: number;
  memoryMessages: number;
}

export interface SeedTiming {
  phase: string;
  messages: number;
  contexts: number;
  seconds: number;
}

/** One measured autocannon run against one system. */
export interface RunRecord {
  scenario: string;
  /** The case within the scenario (e.g. `10,000 messages`, `mixed`). */
  case: string;
  system: string;
  /** Position of this system in the scenario's (alternating) order. */
  order: number;
  connections: number;
  request: string;
  /** Runs made (rounds, plus re-runs when other processes were busy); the quietest is kept. */
  attempts: number;
  result: LoadResult;
}

export interface MemoryResult {
  contexts: number;
  messagesPerContext: number;
  messageBytes: number;
  /** Bytes of the message JSON records (what the product stores in memory and serves). */
  storedBytes: number;
  /** Bytes on disk in the product's data directory. */
  diskBytes: number;
  product: {
    rssIdle: number;
    rssLoaded: number;
    sharedUsedBytes: number;
    sharedCarvedBytes: number;
    sharedBufferBytes: number;
    residentContexts: number;
  };
  /** A fresh product process after loading every context from storage. */
  reloaded: {
    rssIdle: number;
    rssLoaded: number;
    sharedUsedBytes: number;
    residentContexts: number;
    /** Seconds to load them all (8 requests in flight). */
    seconds: number;
  } | null;
  baselines: { system: string; rssIdle: number; rssLoaded: number }[];
}

export interface TargetResult {
  id: string;
  scenario: string;
  what: string;
  /** `≥ 4×` etc. */
  target: string;
  threshold: number;
  /** `atLeast`: achieved must be ≥ threshold; `atMost`: ≤. */
  direction: 'atLeast' | 'atMost';
  achieved: number;
  /**
   * For throughput ratios: the same ratio computed from server CPU time per response, which
   * other processes on the machine disturb much less than req/s (informative only).
   */
  achievedByCpu?: number;
  pass: boolean;
  /** How far from the target, in words ('' when met). */
  missedBy: string;
}
