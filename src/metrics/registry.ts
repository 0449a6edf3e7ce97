import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { ResidentStats } from '../cache/resident-set.js';
import { OPS, WORK_COLUMNS, type WorkColumn, type WorkCounters } from './work-counters.js';

/** Where the metrics come from; each is read at scrape time, never pushed. */
export interface MetricsSources {
  /** Worker-side work, per task op, in shared memory. */
  work: WorkCounters;
  residents: { stats(): ResidentStats };
  arena: {
    stats(): { usedBytes: number; liveBlocks: number; carvedBytes: number; bufferBytes: number };
  };
  index: { readonly size: number; readonly unreadableCount: number };
  pool: { readonly threads: number; readonly queueSize: number };
}

export interface Metrics {
  /**
   * The registry `GET /metrics` serves. Add collectors to it from anywhere that holds it:
   * `new Gauge({ name, help, registers: [metrics.registry], collect() { this.set(...) } })`.
   */
  readonly registry: Registry;
}

/** Prometheus names and help of the shared work counters (all labelled by task `op`). */
const WORK_METRICS: Record<WorkColumn, [name: string, help: string]> = {
  tasks: [
    'ccs_worker_tasks_total',
    'Context tasks run (on workers, or reads served on the main thread)',
  ],
  recordsRead: ['ccs_records_read_total', 'Message records read (copied out) in shared memory'],
  recordBytesRead: ['ccs_record_bytes_read_total', 'Bytes of message records read'],
  refsRead: ['ccs_refs_read_total', 'Branch-array entries (record refs) read'],
  recordsWritten: ['ccs_records_written_total', 'Message records written into shared memory'],
  recordBytesWritten: ['ccs_record_bytes_written_total', 'Bytes of message records written'],
  metaReads: ['ccs_meta_reads_total', 'Context metadata records decoded'],
  storageAppends: ['ccs_storage_appends_total', 'Log frames appended to storage'],
  storageAppendBytes: ['ccs_storage_append_bytes_total', 'Bytes appended to storage logs'],
  storageSnapshotBytes: [
    'ccs_storage_snapshot_bytes_total',
    'Snapshot bytes written to storage when contexts are created',
  ],
  storageCompactions: ['ccs_storage_compactions_total', 'Logs folded into a new snapshot'],
  storageCompactBytes: [
    'ccs_storage_compact_bytes_total',
    'Snapshot bytes written to storage by compactions',
  ],
  storageLoadBytes: ['ccs_storage_load_bytes_total', 'Snapshot and log bytes read by loads'],
  storageTornTails: ['ccs_storage_torn_tails_total', 'Torn log tails dropped while loading'],
  storageLogSyncs: [
    'ccs_storage_log_syncs_total',
    'Log fdatasyncs that made appended frames durable (appends that arrive together share one)',
  ],
  storageCompactionFailures: [
    'ccs_storage_compaction_failures_total',
    'Compactions that failed after their write was committed (retried at the next write)',
  ],
};

/** Prometheus names and help of the resident set's counters. */
const RESIDENT_COUNTERS: Partial<Record<keyof ResidentStats, [name: string, help: string]>> = {
  loads: ['ccs_context_loads_total', 'Contexts loaded from storage (one per miss)'],
  loadFailures: ['ccs_context_load_failures_total', 'Loads that failed'],
  evictions: ['ccs_context_evictions_total', 'Contexts evicted from memory'],
  evictionFailures: [
    'ccs_context_eviction_failures_total',
    'Evictions that failed (the context stayed resident)',
  ],
  invalidations: [
    'ccs_context_invalidations_total',
    'Resident copies dropped because a worker found them poisoned (reloaded on next use)',
  ],
  slotWaits: [
    'ccs_slot_waits_total',
    'Requests that waited for a slot because every slot was pinned',
  ],
  slotWaitTimeouts: [
    'ccs_slot_wait_timeouts_total',
    'Requests that gave up waiting for a slot (503)',
  ],
};

/** Prometheus names and help of the resident set's gauges. */
const RESIDENT_GAUGES: Partial<Record<keyof ResidentStats, [name: string, help: string]>> = {
  resident: ['ccs_resident_contexts', 'Contexts resident in shared memory and ready'],
  slotsInUse: ['ccs_slots_in_use', 'Context slots occupied (including loads and evictions)'],
  slots: ['ccs_slots', 'Context slots (CACHE_MAX_CONTEXTS)'],
};

type ArenaStats = ReturnType<MetricsSources['arena']['stats']>;

/** Prometheus names and help of the shared-memory arena's gauges. */
const ARENA_GAUGES: Record<keyof ArenaStats, [name: string, help: string]> = {
  usedBytes: ['ccs_arena_used_bytes', 'Shared-memory arena bytes in live blocks'],
  carvedBytes: [
    'ccs_arena_carved_bytes',
    'Shared-memory arena bytes ever carved (high-water mark)',
  ],
  bufferBytes: ['ccs_arena_buffer_bytes', 'Shared-memory arena buffer size (committed)'],
  liveBlocks: ['ccs_arena_live_blocks', 'Live blocks in the shared-memory arena'],
};

/**
 * The main thread's metrics: a prom-client registry whose collectors read, at scrape time,
 * the shared work counters the workers add to, the resident set's counters, and gauges of
 * shared memory, the index and the pool. Nothing is counted on the request path here.
 */
export function createMetrics(
  sources: MetricsSources,
  options: { defaultMetrics?: boolean } = {},
): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });

  for (const column of WORK_COLUMNS) {
    const [name, help] = WORK_METRICS[column];
    new Counter({
      name,
      help,
      labelNames: ['op'],
      registers: [registry],
      collect() {
        this.reset();
        for (const op of OPS) this.inc({ op }, sources.work.read(op)[column]);
      },
    });
  }

  for (const [key, [name, help]] of Object.entries(RESIDENT_COUNTERS)) {
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(sources.residents.stats()[key as keyof ResidentStats]);
      },
    });
  }

  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  for (const [key, [name, help]] of Object.entries(RESIDENT_GAUGES)) {
    gauge(name, help, () => sources.residents.stats()[key as keyof ResidentStats]);
  }
  for (const [key, [name, help]] of Object.entries(ARENA_GAUGES)) {
    gauge(name, help, () => sources.arena.stats()[key as keyof ArenaStats]);
  }
  gauge('ccs_stored_contexts', 'Contexts in storage that can be listed', () => sources.index.size);
  gauge(
    'ccs_corrupt_contexts',
    'Contexts in storage whose files cannot be read',
    () => sources.index.unreadableCount,
  );
  // prom-client's default metrics leave out ArrayBuffer memory (the main thread's heap is
  // in them, but a reply's bytes live outside it): the soak run compares the two.
  gauge(
    'nodejs_array_buffers_bytes',
    "Main thread's ArrayBuffer and SharedArrayBuffer memory (process.memoryUsage().arrayBuffers)",
    () => process.memoryUsage().arrayBuffers,
  );
  gauge('ccs_pool_threads', 'Worker threads', () => sources.pool.threads);
  gauge('ccs_pool_queued_tasks', 'Tasks waiting for a worker', () => sources.pool.queueSize);

  return { registry };
}
