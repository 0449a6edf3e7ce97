import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { serve } from '@hono/node-server';
import { ResidentSet } from './cache/resident-set.js';
import { SummaryIndex } from './catalog/summary-index.js';
import type { Config } from './config.js';
import { createApp } from './http/app.js';
import { createLogger, type Logger } from './log.js';
import { ContextPool } from './pool/context-pool.js';
import { ContextService } from './service/context-service.js';
import { Arena } from './shm/arena.js';
import { SlotTable } from './shm/slot-table.js';
import { FileStorage } from './storage/file-storage.js';

export interface RunningServer {
  url: string;
  log: Logger;
  /** Stops accepting, drains in-flight requests, stops the workers. */
  close(): Promise<void>;
}

const INITIAL_ARENA_BYTES = 8 * 1024 * 1024;

/** Wires the server together: storage index, shared memory, worker pool, HTTP. */
export async function startServer(config: Config): Promise<RunningServer> {
  const log = createLogger(config.logLevel);
  const dataDir = resolve(config.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const storage = new FileStorage({
    dir: dataDir,
    fsync: config.fsync,
    onWarning: (msg, err) => log.warn({ err }, msg),
  });
  const index = new SummaryIndex(storage.listSummaries());

  const slotTable = SlotTable.createBuffer(config.cacheMaxContexts);
  const arenaBuffer = Arena.createBuffer(INITIAL_ARENA_BYTES, config.arenaMaxBytes);
  const arena = new Arena(arenaBuffer, config.lockTimeoutMs);
  const pool = new ContextPool(
    {
      slotTable,
      arena: arenaBuffer,
      dataDir,
      fsync: config.fsync,
      lockTimeoutMs: config.lockTimeoutMs,
      compactAfterRecords: config.compactAfterRecords,
      logLevel: config.logLevel,
    },
    { workers: config.workers, maxQueue: config.maxQueue },
  );
  const residents = new ResidentSet(new SlotTable(slotTable), pool, {
    maxBytes: config.cacheMaxBytes,
    usedBytes: () => arena.stats().usedBytes,
  });
  const contexts = new ContextService(pool, residents, index);
  const app = createApp({ config, log, pool, residents, index, contexts, arena });

  const server = await new Promise<ReturnType<typeof serve>>((resolveServer, reject) => {
    const s = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, () =>
      resolveServer(s),
    );
    s.once('error', reject);
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  log.info({ url, workers: config.workers, dataDir, contexts: index.size }, 'listening');

  return {
    url,
    log,
    close: async () => {
      await new Promise<void>((done) => server.close(() => done()));
      await pool.close();
    },
  };
}
