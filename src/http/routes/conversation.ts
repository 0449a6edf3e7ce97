import { type Context, Hono } from 'hono';
import type { TurnResult } from '../../engine/conversation-engine.js';
import { parseSendMessage, parseToolCallIds } from '../../model/validate.js';
import { readJson } from '../body.js';
import { contextRequest } from '../context-request.js';
import type { AppDeps, AppEnv } from '../env.js';
import { sendReply } from '../reply.js';

/** The conversation actions: send a message, decide tool calls, pre-approve calls. */
export function conversationRoutes(deps: AppDeps): Hono<AppEnv> {
  const { engine, contexts } = deps;
  const app = new Hono<AppEnv>();

  /** A turn the engine drives: the body parsed by `parse`, answered as the turn settled. */
  const turnRoute =
    <T>(
      parse: (body: unknown) => T,
      drive: (id: string, traceId: string, input: T) => Promise<TurnResult>,
    ) =>
    async (c: Context<AppEnv>) => {
      const { id, traceId } = contextRequest(c, contexts);
      const input = parse(await readJson(c));
      const result = await drive(id, traceId, input);
      return c.json(result.body, result.status as 200, result.headers);
    };

  app.post(
    '/:id/actions/send_message',
    turnRoute(parseSendMessage, (id, traceId, content) => engine.sendMessage(id, traceId, content)),
  );
  app.post(
    '/:id/actions/approve_tools',
    turnRoute(parseToolCallIds, (id, traceId, approve) =>
      engine.approveTools(id, traceId, approve),
    ),
  );

  app.post('/:id/tools/approve', async (c) => {
    const { run } = contextRequest(c, contexts);
    const approve = parseToolCallIds(await readJson(c));
    return sendReply(c, await run({ op: 'markApproved', approve }));
  });

  return app;
}
