import { Hono } from 'hono';
import { parseSendMessage, parseToolCallIds, requireUuid } from '../../model/validate.js';
import { readJson } from '../body.js';
import type { AppDeps, AppEnv } from '../env.js';
import { sendReply } from '../reply.js';

/** The conversation actions: send a message, decide tool calls, pre-approve calls. */
export function conversationRoutes(deps: AppDeps): Hono<AppEnv> {
  const { engine, contexts } = deps;
  const app = new Hono<AppEnv>();

  app.post('/:id/actions/send_message', async (c) => {
    const id = requireUuid(c.req.param('id'));
    const content = parseSendMessage(await readJson(c));
    const result = await engine.sendMessage(id, c.get('traceId'), content);
    return c.json(result.body, result.status as 200, result.headers);
  });

  app.post('/:id/actions/approve_tools', async (c) => {
    const id = requireUuid(c.req.param('id'));
    const approve = parseToolCallIds(await readJson(c));
    const result = await engine.approveTools(id, c.get('traceId'), approve);
    return c.json(result.body, result.status as 200, result.headers);
  });

  app.post('/:id/tools/approve', async (c) => {
    const id = requireUuid(c.req.param('id'));
    const approve = parseToolCallIds(await readJson(c));
    return sendReply(c, await contexts.run(id, c.get('traceId'), { op: 'markApproved', approve }));
  });

  return app;
}
