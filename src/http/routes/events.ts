import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { badRequest, notFound } from '../../errors.js';
import type { ContextEvent } from '../../events/event-hub.js';
import { requireUuid } from '../../model/validate.js';
import type { AppDeps, AppEnv } from '../env.js';

const HEARTBEAT_MS = 15_000;

/**
 * `GET /v1/contexts/{id}/events`: Server-Sent Events (`state`, `message`, `delta`), each
 * with its id. A client that reconnects with `Last-Event-ID` (header, or `last_event_id`
 * query) first gets the held events it missed, in order, then live ones.
 */
export function eventRoutes(deps: AppDeps): Hono<AppEnv> {
  const { events, index } = deps;
  const app = new Hono<AppEnv>();

  app.get('/:id/events', (c) => {
    const id = requireUuid(c.req.param('id'));
    if (!index.has(id)) throw notFound(`context ${id} not found`);
    const raw = c.req.header('last-event-id') ?? c.req.query('last_event_id');
    if (raw !== undefined && !/^\d{1,15}$/.test(raw)) {
      throw badRequest('Last-Event-ID must be a non-negative integer', 'invalid_query');
    }
    const lastEventId = raw === undefined ? undefined : Number(raw);

    return streamSSE(c, async (stream) => {
      const queue: ContextEvent[] = [];
      let wake: (() => void) | undefined;
      let closed = false;
      const unsubscribe = events.subscribe(id, lastEventId, (event) => {
        queue.push(event);
        wake?.();
      });
      stream.onAbort(() => {
        closed = true;
        wake?.();
      });
      try {
        while (!closed) {
          for (let event = queue.shift(); event !== undefined; event = queue.shift()) {
            await stream.writeSSE({
              id: String(event.id),
              event: event.event,
              data: JSON.stringify(event.data),
            });
          }
          const woken = await new Promise<boolean>((resolve) => {
            wake = () => resolve(true);
            setTimeout(() => resolve(false), HEARTBEAT_MS).unref();
          });
          wake = undefined;
          if (!woken && !closed) await stream.write(': keep-alive\n\n');
        }
      } finally {
        unsubscribe();
      }
    });
  });

  return app;
}
