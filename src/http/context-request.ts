import type { Context } from 'hono';
import { requireUuid } from '../model/validate.js';
import type { Reply } from '../pool/context-pool.js';
import type { ContextService, ContextTask } from '../service/context-service.js';
import type { AppEnv } from './env.js';

/** The context a `/:id…` request addresses, and how to run a task on it. */
export interface ContextRequest {
  id: string;
  traceId: string;
  /** Runs `task` on this context under the request's trace id. */
  run(task: ContextTask): Promise<Reply>;
}

/**
 * The prologue of every `/:id…` route: the path's context id, validated before anything
 * else is read (a bad id is a 400 whatever the body), bound to the request's trace id.
 */
export function contextRequest(c: Context<AppEnv>, service: ContextService): ContextRequest {
  // Every caller's path has `:id`; a route without one would answer 400, never run a task.
  const id = requireUuid(c.req.param('id') ?? '');
  const traceId = c.get('traceId');
  return { id, traceId, run: (task) => service.run(id, traceId, task) };
}
