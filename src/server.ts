import { mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { getRequestListener } from '@hono/node-server';
import type { Hono } from 'hono';
import { AnswerCache } from './cache/answer-cache.js';
import { registerAnswerCacheMetrics } from './cache/answer-cache-metrics.js';
import { ResidentSet } from './cache/resident-set.js';
import { SummaryIndex } from './catalog/summary-index.js';
import type { Config } from './config.js';
import { ConversationEngine } from './engine/conversation-engine.js';
import { settleInterruptedTurns } from './engine/interrupted-turns.js';
import { EventHub } from './events/event-hub.js';
import { registerSseMetrics } from './events/sse-metrics.js';
import { SseStreams } from './events/sse-stream.js';
import { createApp } from './http/app.js';
import { answerClientError } from './http/client-error.js';
import type { AppEnv } from './http/env.js';
import { FastReads } from './http/fast-reads.js';
import { requestRecorder } from './http/observe.js';
import { drainHttp } from './http/shutdown.js';
import { createProvider } from './llm/create-provider.js';
import { createLogger, type Logger } from './log.js';
import { HttpMetrics } from './metrics/http-metrics.js';
import { registerLockMetrics } from './metrics/lock-metrics.js';
import { createMetrics, type Metrics } from './metrics/registry.js';
import { WorkCounters } from './metrics/work-counters.js';
import { createWorkPublisher } from './metrics/work-publisher.js';
import { ContextPool } from './pool/context-pool.js';
import { LockSupervisor } from './pool/lock-supervisor.js';
import { PromptLibrary } from './prompts/prompt-library.js';
import { ContextService } from './service/context-service.js';
import { MainThreadReads } from './service/main-thread-reads.js';
import { Arena } from './shm/arena.js';
import { SlotTable } from './shm/slot-table.js';
import { FileStorage } from './storage/file-storage.js';
import { zeroStorageStats } from './storage/types.js';
import { LockRegistry } from './sync/lock-registry.js';
import { builtinTools } from './tools/registry.js';

export interface RunningServer {
  url: string;
  log: Logger;
  /** The registry behind `GET /metrics`; add collectors to it (see src/metrics/). */
  metrics: Metrics;
  /**
   * Stops accepting, ends the event streams, lets in-flight requests finish for up to
   * `SHUTDOWN_TIMEOUT_MS` (then cuts the connections left), lets the turns still running
   * finish within what remains of it (then aborts them, stored Failed), stops the workers.
   */
  close(): Promise<void>;
}

const INITIAL_ARENA_BYTES = 8 * 1024 * 1024;
/** How long aborted turns may take to store their Failed state at shutdown. */
const TURN_SETTLE_MS = 2_000;

/**
 * Wires the server together: storage index, shared memory, worker pool, HTTP.
 * `fastReads: false` (tests only) leaves every request to hono.
 */
export async function startServer(
  config: Config,
  options: { fastReads?: boolean } = {},
): Promise<RunningServer> {
  const { app, log, metrics, sse, engine, startup, stop, fastReads } = await buildServer(config);
  // What @hono/node-server's `serve` does, with the fast read path ahead of its listener.
  const hono = getRequestListener(app.fetch, { hostname: config.host });
  const fast = options.fastReads === false ? undefined : fastReads;
  fast?.register(metrics.registry);
  const server = createServer(fast?.before(hono) ?? hono);
  await new Promise<void>((listening, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      listening();
    });
  });
  server.on('clientError', answerClientError);
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  log.info({ url, ...startup }, 'listening');

  return {
    url,
    log,
    metrics,
    close: async () => {
      const stopping = performance.now();
      await drainHttp(server, sse, engine, config.shutdownTimeoutMs, log);
      // Turns whose client left hold no connection: they get what remains of the timeout,
      // then are aborted and stored Failed while the workers still run.
      await stop(Math.max(0, config.shutdownTimeoutMs - (performance.now() - stopping)));
    },
  };
}

/** The app and everything behind it, with no socket: `startServer` serves it. */
export interface ServerApp {
  app: Hono<AppEnv>;
  log: Logger;
  metrics: Metrics;
  sse: SseStreams;
  engine: ConversationEngine;
  /** What the start-up log line reports. */
  startup: Record<string, unknown>;
  /** Lets running turns finish for `turnsMs` (then aborts them), stops the workers. */
  stop(turnsMs: number): Promise<void>;
  /** Cached reads answered before hono; undefined when it could answer none. */
  fastReads: FastReads | undefined;
}

/** Everything but the socket; in-process tests drive the app with `app.request()`. */
export async function buildServer(config: Config): Promise<ServerApp> {
  const log = createLogger(config.logLevel);
  const dataDir = resolve(config.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const storage = new FileStorage({
    dir: dataDir,
    fsync: config.fsync,
    onWarning: (msg, err) => log.warn({ err }, msg),
  });
  const scan = storage.scan();
  const index = new SummaryIndex(scan.summaries, scan.unreadable);
  for (const { id, reason } of scan.unreadable) {
    log.error({ context: id, reason }, 'stored context is unreadable; it answers storage_corrupt');
  }

  const lockRegistryBuffer = LockRegistry.createBuffer({ checked: config.checkedLocks });
  const lockRegistry = new LockRegistry(lockRegistryBuffer);
  const slotTable = SlotTable.createBuffer(config.cacheMaxContexts);
  const arenaBuffer = Arena.createBuffer(INITIAL_ARENA_BYTES, config.arenaMaxBytes);
  // The main thread's registered views of every lock: recovery and the detector act
  // through them. The main thread itself only ever try-locks.
  const arena = new Arena(arenaBuffer, config.lockTimeoutMs, lockRegistry);
  const slots = new SlotTable(slotTable, lockRegistry);
  const workCounters = WorkCounters.createBuffer();
  const pool = new ContextPool(
    {
      slotTable,
      arena: arenaBuffer,
      lockRegistry: lockRegistryBuffer,
      dataDir,
      fsync: config.fsync,
      groupCommit: config.groupCommit,
      faultSyncDelayMs: config.faultInjection ? config.faultSyncDelayMs : 0,
      lockTimeoutMs: config.lockTimeoutMs,
      compaction: {
        logRatio: config.compactLogRatio,
        minLogBytes: config.compactMinLogBytes,
        afterRecords: config.compactAfterRecords,
      },
      logLevel: config.logLevel,
      faultInjection: config.faultInjection,
    },
    { workers: config.workers, maxQueue: config.maxQueue, workCounters },
  );
  const supervisor = new LockSupervisor(lockRegistry, slots, log, {
    scanIntervalMs: 100,
    longWaitMs: config.longWaitMs,
  });
  pool.onWorkerMessage((message) => supervisor.onWorkerMessage(message));
  supervisor.start();
  const residents = new ResidentSet(slots, pool, {
    maxBytes: config.cacheMaxBytes,
    usedBytes: () => arena.stats().usedBytes,
    slotWaitMs: config.lockTimeoutMs,
  });
  const work = new WorkCounters(workCounters);
  const answers = new AnswerCache(slots, config.answerCacheMaxBytes);
  const mainThreadReads = config.mainThreadReads
    ? new MainThreadReads(
        slots,
        arena,
        createWorkPublisher(work, zeroStorageStats()),
        answers,
        config.zeroCopyMinBytes,
      )
    : undefined;
  const prompts = await PromptLibrary.open(dataDir);
  const sseLimits = { maxEvents: config.sseMaxQueuedEvents, maxBytes: config.sseMaxQueuedBytes };
  // The hub holds twice what a subscriber may have queued: one disconnected at its bound
  // still finds every event it missed when it resumes.
  const events = new EventHub(
    { maxEvents: 2 * sseLimits.maxEvents, maxBytes: 2 * sseLimits.maxBytes },
    undefined,
    undefined,
    config.sseMaxHeldBytes,
  );
  const sse = new SseStreams(sseLimits, log);
  const contexts = new ContextService(pool, residents, index, events, mainThreadReads);
  const engine = new ConversationEngine(
    contexts,
    createProvider(config),
    builtinTools(),
    prompts,
    events,
    log,
  );
  // Turns cut short by the end of the last process: settled before anything is served.
  const interrupted = await settleInterruptedTurns(index, contexts, log);
  const metrics = createMetrics({
    work,
    residents,
    arena,
    index,
    pool,
  });
  registerLockMetrics(metrics.registry, () => {
    lockRegistry.publishStats(); // the main thread's own try-lock reads
    return lockRegistry.readStats();
  });
  registerSseMetrics(metrics.registry, sse, events);
  registerAnswerCacheMetrics(metrics.registry, answers);
  const httpMetrics = config.httpMetrics ? new HttpMetrics(metrics.registry) : undefined;
  const app = createApp({
    config,
    log,
    pool,
    residents,
    index,
    contexts,
    arena,
    engine,
    prompts,
    events,
    sse,
    metrics: metrics.registry,
    httpMetrics,
  });
  // Cached answers are served only by main-thread reads.
  const fastReads =
    mainThreadReads !== undefined && answers.enabled
      ? new FastReads({
          contexts,
          apiToken: config.apiToken,
          record: requestRecorder(log, httpMetrics),
          defaultHost: config.host,
          log,
        })
      : undefined;

  return {
    app,
    log,
    metrics,
    sse,
    engine,
    startup: {
      workers: config.workers,
      dataDir,
      contexts: index.size,
      corrupt: index.unreadableCount,
      interruptedTurns: interrupted.settled,
      interruptedTurnsLeftUnsettled: interrupted.failed,
      listingBytesRead: scan.bytesRead,
    },
    stop: async (turnsMs) => {
      await engine.stopTurns(turnsMs, TURN_SETTLE_MS);
      supervisor.stop();
      await pool.close();
    },
    fastReads,
  };
}
