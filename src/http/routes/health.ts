import { Hono } from 'hono';
import type { AppDeps, AppEnv } from '../env.js';

/** `GET /health`: liveness and a few gauges (outside `/v1`, no auth). */
export function healthRoutes(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get('/health', (c) => {
    const residents = deps.residents.stats();
    return c.json({
      status: 'ok',
      workers: deps.pool.threads,
      queued: deps.pool.queueSize,
      contexts: deps.index.size,
      corrupt_contexts: deps.index.unreadableCount,
      resident_contexts: residents.resident,
      slots_in_use: residents.slotsInUse,
      loads: residents.loads,
      evictions: residents.evictions,
      shared_bytes: deps.arena.stats(),
    });
  });
  return app;
}
