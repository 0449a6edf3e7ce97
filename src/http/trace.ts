import { randomUUID } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { Logger } from '../log.js';
import type { AppEnv } from './env.js';
import { nodeResponse, requestHeader } from './node-io.js';

const TRACE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The response header that echoes the trace id. */
export const TRACE_HEADER = 'X-Trace-Id';

/** A request's trace id: its `X-Trace-Id` when well formed, else a new one. */
export function traceIdOf(given: string | undefined): string {
  return given !== undefined && TRACE_ID.test(given) ? given : randomUUID();
}

/**
 * Reads `X-Trace-Id` (or makes one), echoes it on the response, and gives the request a
 * logger that stamps it on every line.
 */
export function traceId(log: Logger): MiddlewareHandler<AppEnv> {
  // Not an async function: it returns the rest of the chain's promise instead of awaiting
  // it, one promise less per request.
  return (c, next) => {
    const id = traceIdOf(requestHeader(c, 'x-trace-id'));
    c.set('traceId', id);
    c.set('log', lazyChild(log, id));
    // On Node's response itself when there is one: it joins whatever headers the answer
    // is written with, without a fetch Headers object per request.
    const res = nodeResponse(c);
    if (res !== undefined) res.setHeader(TRACE_HEADER, id);
    else c.header(TRACE_HEADER, id);
    return next();
  };
}

/**
 * The request's logger, made only when something logs: most requests log nothing, and a
 * pino child costs about 2 µs (a few percent of a cached read).
 */
function lazyChild(log: Logger, traceId: string): Logger {
  let child: Logger | undefined;
  const real = () => {
    child ??= log.child({ traceId });
    return child;
  };
  return new Proxy(log, {
    get(_target, prop) {
      const target = real();
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
