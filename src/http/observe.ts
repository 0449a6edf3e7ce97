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
  const record = requestRecorder(log, metrics);
  if (record === undefined) return undefined;
  return async (c, next) => {
    const start = performance.now();
    await next();
    const ms = performance.now() - start;
    record(c.req.method, routeTemplate(c), c.req.path, c.res.status, ms, c.get('traceId'));
  };
}

/** Records one answered request: its metrics series and its access-log line. */
export type RequestRecorder = (
  method: string,
  route: string,
  path: string,
  status: number,
  ms: number,
  traceId: string | undefined,
) => void;

/**
 * What `observeRequests` records of each request, for it and for the requests answered
 * before hono (src/http/fast-reads.ts); undefined when neither metrics nor the access log
 * are wanted.
 */
export function requestRecorder(
  log: Logger,
  metrics: HttpMetrics | undefined,
): RequestRecorder | undefined {
  const accessLog = log.isLevelEnabled('debug'); // read once: the level is fixed at start
  if (metrics === undefined && !accessLog) return undefined;
  return (method, route, path, status, ms, traceId) => {
    metrics?.series(method, route, status).observe(ms / 1000);
    if (accessLog) {
      // Stamped with the trace id, as every line of the request is (src/http/trace.ts).
      (traceId === undefined ? log : log.child({ traceId })).debug(
        { method, route, path, status, durationMs: ms },
        'request',
      );
    }
  };
}

/**
 * The template of the route that answered (`/v1/contexts/:id/messages`), never the raw path,
 * so labels stay few. hono's `routeIndex` is the last handler it dispatched to, which is the
 * one that answered: an endpoint, or a middleware that answered without calling `next`
 * (`/v1/*` for a 401 from the bearer check). A middleware pattern (ending in `*`) that is the
 * last matched route means every middleware passed on and no endpoint matched: the
 * not-found handler answered.
 */
function routeTemplate(c: Context<AppEnv>): string {
  const routes = matchedRoutes(c);
  const index = c.req.routeIndex;
  const path = (routes[index] as { path: string } | undefined)?.path;
  if (path === undefined || (path.endsWith('*') && index === routes.length - 1)) {
    return UNMATCHED_ROUTE;
  }
  return path;
}
