import { Hono } from 'hono';
import { AppError, badRequest, notFound } from '../../errors.js';
import { SseStream } from '../../events/sse-stream.js';
import { requireUuid } from '../../model/validate.js';
import type { AppDeps, AppEnv } from '../env.js';
import { alreadySent, nodeResponse, requestHeader } from '../node-io.js';

/**
 * `GET /v1/contexts/{id}/events`: Server-Sent Events (`state`, `message`, `delta`), each
 * with its id. A client that reconnects with `Last-Event-ID` (header, or `last_event_id`
 * query) first gets the held events it missed, in order, then live ones. The stream is
 * written to the Node response directly (`SseStream`), so that it follows the socket's
 * backpressure and can be ended at shutdown.
 */
export function eventRoutes(deps: AppDeps): Hono<AppEnv> {
  const { events, index, sse } = deps;
  const app = new Hono<AppEnv>();

  app.get('/:id/events', (c) => {
    const id = requireUuid(c.req.param('id'));
    if (!index.has(id)) throw notFound(`context ${id} not found`);
    const raw = requestHeader(c, 'last-event-id') ?? c.req.query('last_event_id');
    if (raw !== undefined && !/^\d{1,15}$/.test(raw)) {
      throw badRequest('Last-Event-ID must be a non-negative integer', 'invalid_query');
    }
    const lastEventId = raw === undefined ? undefined : Number(raw);
    const res = nodeResponse(c);
    if (res === undefined) {
      throw new AppError(501, 'not_implemented', 'event streams need the Node HTTP server');
    }
    // X-Trace-Id is already on `res` (the trace middleware sets it there).
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.flushHeaders();
    new SseStream(res, events, id, lastEventId, sse);
    // The response is the stream above: tell the adapter it has been sent.
    return alreadySent(200);
  });

  return app;
}
