import { Hono } from 'hono';
import { badRequest } from '../../errors.js';
import { contextRequest } from '../context-request.js';
import type { AppDeps, AppEnv } from '../env.js';
import { sendReply } from '../reply.js';

/**
 * Fault injection, registered only with FAULT_INJECTION=true (tests): ends the worker that
 * serves the request while it holds the context's lock (`?mode=read|write`), as a crash
 * would. The request itself fails (the worker is gone); the server must recover.
 */
export function faultInjectionRoutes(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.post('/:id/debug/crash-worker', async (c) => {
    const { run } = contextRequest(c, deps.contexts);
    const mode = c.req.query('mode') ?? 'write';
    if (mode !== 'read' && mode !== 'write') throw badRequest('mode must be read or write');
    return sendReply(c, await run({ op: 'crashWhileHolding', mode }));
  });
  return app;
}
