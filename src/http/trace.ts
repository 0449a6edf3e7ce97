import { randomUUID } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { Logger } from '../log.js';
import type { AppEnv } from './env.js';

const TRACE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Reads `X-Trace-Id` (or makes one), echoes it on the response, and gives the request a
 * logger that stamps it on every line.
 */
export function traceId(log: Logger): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const given = c.req.header('x-trace-id');
    const id = given !== undefined && TRACE_ID.test(given) ? given : randomUUID();
    c.set('traceId', id);
    c.set('log', log.child({ traceId: id }));
    c.header('X-Trace-Id', id);
    await next();
  };
}
