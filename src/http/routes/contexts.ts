import { Hono } from 'hono';
import {
  parseCreateContext,
  parseNewMessage,
  parsePaging,
  parseUpdateContext,
  requireBranchName,
} from '../../model/validate.js';
import { readJson } from '../body.js';
import { contextRequest } from '../context-request.js';
import type { AppDeps, AppEnv } from '../env.js';
import { ifMatchVersion, sendConditional, sendReply } from '../reply.js';

/** Where `contextRoutes` are mounted. */
export const CONTEXTS_BASE = '/v1/contexts';

/**
 * The reads src/http/fast-reads.ts also answers (from the answer cache, before hono):
 * their route label in the metrics and access log is `CONTEXTS_BASE` + the path.
 */
export const CONTEXT_READS = {
  getContext: '/:id',
  getState: '/:id/state',
  listMessages: '/:id/messages',
} as const;

/** `/v1/contexts` and `/v1/contexts/{id}`, including messages and state. */
export function contextRoutes(deps: AppDeps): Hono<AppEnv> {
  const { contexts: service, index, prompts } = deps;
  const app = new Hono<AppEnv>();

  app.post('/', async (c) => {
    const config = parseCreateContext(await readJson(c));
    if (config.system_prompt_id !== null) prompts.require(config.system_prompt_id);
    const { id, reply } = await service.create(config, c.get('traceId'));
    return sendReply(c, reply, `/v1/contexts/${id}`);
  });

  app.get('/', (c) => {
    const { limit, offset } = parsePaging(c.req.query());
    const contexts = index.page(limit, offset).map((s) => ({
      id: s.id,
      config: s.config,
      current_state: s.current_state,
      active_branch_name: s.active_branch_name,
      message_count: s.message_count,
      updated_at: s.updated_at,
    }));
    return c.json({ contexts, total: index.size, limit, offset });
  });

  app.get(CONTEXT_READS.getContext, async (c) => {
    const { run } = contextRequest(c, service);
    return sendConditional(c, await run({ op: 'getContext' }));
  });

  app.put('/:id', async (c) => {
    const { run } = contextRequest(c, service);
    const ifMatch = ifMatchVersion(c);
    const update = parseUpdateContext(await readJson(c));
    const promptId = update.config.system_prompt_id;
    if (promptId !== undefined && promptId !== null) prompts.require(promptId);
    return sendReply(c, await run({ op: 'updateContext', update, ifMatch }));
  });

  app.delete('/:id', async (c) => {
    const { run } = contextRequest(c, service);
    const ifMatch = ifMatchVersion(c);
    return sendReply(c, await run({ op: 'deleteContext', ifMatch }));
  });

  app.get(CONTEXT_READS.getState, async (c) => {
    const { run } = contextRequest(c, service);
    return sendConditional(c, await run({ op: 'getState' }));
  });

  app.get(CONTEXT_READS.listMessages, async (c) => {
    const { run } = contextRequest(c, service);
    const query = c.req.query();
    const { limit, offset } = parsePaging(query);
    const branch = query.branch === undefined ? undefined : requireBranchName(query.branch);
    return sendReply(c, await run({ op: 'listMessages', branch, limit, offset }));
  });

  app.post('/:id/messages', async (c) => {
    const { run } = contextRequest(c, service);
    const ifMatch = ifMatchVersion(c);
    const message = parseNewMessage(await readJson(c));
    return sendReply(c, await run({ op: 'appendMessage', message, ifMatch }));
  });

  return app;
}
