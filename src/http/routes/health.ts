import { Hono } from 'hono';
import type { AppDeps, AppEnv } from '../env.js';

/** `GET /health`: liveness and a few gauges (outside `/v1`, no auth). */
export function healthRoutes(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get('/health', (c) =>
    c.json({
      status: 'ok',
      workers: deps.pool.threads,
      queued: deps.pool.queueSize,
      contexts: deps.index.size,
      resident_contexts: deps.residents.residentCount,
      shared_bytes: deps.arena.stats(),
    }),
  );
  return app;
}
