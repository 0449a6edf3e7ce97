import { Hono } from 'hono';
import type { Registry } from 'prom-client';
import type { AppEnv } from '../env.js';

/** `GET /metrics`: Prometheus text exposition (outside `/v1`, no auth). */
export function metricsRoutes(registry: Registry): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get('/metrics', async (c) => {
    const text = await registry.metrics();
    return c.body(text, 200, { 'Content-Type': registry.contentType });
  });
  return app;
}
