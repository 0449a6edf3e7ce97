import { Hono } from 'hono';
import { parseSendMessage, parseToolCallIds } from '../../model/validate.js';
import { readJson } from '../body.js';
import { contextRequest } from '../context-request.js';
import type { AppDeps, AppEnv } from '../env.js';
import { sendReply } from '../reply.js';

/** The conversation actions: send a message, decide tool calls, pre-approve calls. */
export function conversationRoutes(deps: AppDeps): Hono<AppEnv> {
  const { engine, contexts } = deps;
  const app = new Hono<AppEnv>();

  app.post('/:id/actions/send_message', async (c) => {
    const { id, traceId } = contextRequest(c, contexts);
    const content = parseSendMessage(await readJson(c));
    const result = await engine.sendMessage(id, traceId, content);
    return c.json(result.body, result.status as 200, result.headers);
  });

  app.post('/:id/actions/approve_tools', async (c) => {
    const { id, traceId } = contextRequest(c, contexts);
    const approve = parseToolCallIds(await readJson(c));
    const result = await engine.approveTools(id, traceId, approve);
    return c.json(result.body, result.status as 200, result.headers);
  });

  app.post('/:id/tools/approve', async (c) => {
    const { run } = contextRequest(c, contexts);
    const approve = parseToolCallIds(await readJson(c));
    return sendReply(c, await run({ op: 'markApproved', approve }));
  });

  return app;
}
