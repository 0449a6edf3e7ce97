import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { Logger } from '../log.js';
import type { HttpMetrics } from '../metrics/http-metrics.js';
import type { AppEnv } from './env.js';

/** The route label of a request no route answers (a 404 from the not-found handler). */
export const UNMATCHED_ROUTE = 'unmatched';

/**
 * Per-request observation: the request count and duration by method, route template and
 * status (when `metrics` is given), and at `debug` an access-log line with the trace id.
 * Returns nothing when neither is wanted, so the app then has no middleware to run.
 * Install it first: its duration then covers every other middleware.
 */
export function observeRequests(
  log: Logger,
  metrics: HttpMetrics | undefined,
): MiddlewareHandler<AppEnv> | undefined {
  const accessLog = log.isLevelEnabled('debug'); // read once: the level is fixed at start
  if (metrics === undefined && !accessLog) return undefined;
  return async (c, next) => {
    const start = performance.now();
    await next();
    const ms = performance.now() - start;
    const route = routeTemplate(c);
    const status = c.res.status;
    metrics?.series(c.req.method, route, status).observe(ms / 1000);
    if (accessLog) {
      (c.get('log') ?? log).debug(
        { method: c.req.method, route, path: c.req.path, status, durationMs: ms },
        'request',
      );
    }
  };
}

/**
 * The template of the route that answers (`/v1/contexts/:id/messages`), never the raw path,
 * so labels stay few. Middleware patterns end in `*` (`*`, `/v1/*`) and every endpoint is
 * registered after them, so the last matched route that is not a pattern is the endpoint;
 * when there is none, no route matched.
 */
function routeTemplate(c: Context<AppEnv>): string {
  const routes = matchedRoutes(c);
  for (let i = routes.length - 1; i >= 0; i--) {
    const path = (routes[i] as { path: string }).path;
    if (!path.endsWith('*')) return path;
  }
  return UNMATCHED_ROUTE;
}
