import type { Reply } from '../pool/context-pool.js';
import type { EventHub } from './event-hub.js';

const decoder = new TextDecoder();

/**
 * The one place a committed change becomes live events: what the worker's reply head says
 * it committed (`events`), published in order, and a deleted context's streams ended
 * (`gone`). Nothing is built for a context nobody watches; an event whose data is the
 * reply body is published as those bytes, never parsed.
 */
export function publishChanges(hub: EventHub, contextId: string, reply: Reply): void {
  const { events, gone } = reply.head;
  if (events !== undefined && hub.wants(contextId)) {
    let body: string | undefined;
    for (const event of events) {
      if ('dataIsBody' in event) {
        body ??= decoder.decode(reply.body);
        hub.publishJson(contextId, event.kind, body);
      } else {
        hub.publish(contextId, event.kind, event.data);
      }
    }
  }
  if (gone) hub.close(contextId);
}
