import { describe, expect, test } from 'vitest';
import { createContext, request } from '../support/http.js';
import { OpenApiContract } from '../support/openapi-contract.js';
import { useServer } from '../support/server-process.js';
import { openSse, type SseEvent } from '../support/sse-client.js';

/**
 * Every committed change of a context is a live event, published once it is durable and
 * before the request is answered: appends, forks, branch updates and deletes, context
 * updates. Each event's data is what the request answered, and each matches the schema the
 * OpenAPI document declares for it. Bounded: one server, about 20 requests.
 */
describe('live events of committed changes', () => {
  const server = useServer();

  const contract = async () => {
    const res = await fetch(`${server.url}/openapi.json`);
    return new OpenApiContract((await res.json()) as Record<string, unknown>);
  };

  const call = (method: string, path: string, json?: unknown, headers?: Record<string, string>) =>
    request(`${server.url}${path}`, { method, json, headers });

  const changes = (events: SseEvent[]) => events.filter((e) => e.event !== 'delta');

  test('forks, branch updates and deletes, context updates and appends are published in order, with the data they answered', async () => {
    const { id } = await createContext(server.url);
    const base = `/v1/contexts/${id}`;
    const stream = await openSse(`${server.url}${base}/events`);
    try {
      const appended = await call('POST', `${base}/messages`, { role: 'user', content: 'hi' });
      expect(appended.status).toBe(201);
      const forked = await call('POST', `${base}/branches`, { name: 'alt' });
      expect(forked.status).toBe(201);
      const prompted = await call('PUT', `${base}/branches/alt`, { user_prompt: 'be brief' });
      expect(prompted.status).toBe(200);
      const switched = await call('PUT', base, { active_branch_name: 'alt' });
      expect(switched.status).toBe(200);
      const back = await call('PUT', base, { active_branch_name: 'main' });
      expect(back.status).toBe(200);
      const dropped = await call('DELETE', `${base}/branches/alt`);
      expect(dropped.status).toBe(204);

      await stream.waitFor((e) => e.event === 'branch_deleted', 5_000);
      const seen = changes(stream.events);
      expect(seen.map((e) => e.event)).toEqual([
        'message',
        'branch_created',
        'branch_updated',
        'context_updated',
        'context_updated',
        'branch_deleted',
      ]);
      expect(seen.map((e) => e.data)).toEqual([
        appended.body,
        forked.body,
        prompted.body,
        switched.body,
        back.body,
        { name: 'alt' },
      ]);
      // A message event is the answer's bytes as they are.
      expect(JSON.stringify(seen[0]!.data)).toBe(appended.text);
      const ids = seen.map((e) => Number(e.id));
      expect(ids).toEqual(ids.map((_, i) => ids[0]! + i));
      const doc = await contract();
      for (const event of seen) {
        expect(doc.checkEvent('/v1/contexts/{id}/events', event), event.event).toEqual([]);
      }
    } finally {
      stream.close();
    }
  });

  test('a change that is refused publishes nothing', async () => {
    const { id } = await createContext(server.url);
    const base = `/v1/contexts/${id}`;
    const stream = await openSse(`${server.url}${base}/events`);
    try {
      expect((await call('POST', `${base}/branches`, { name: 'main' })).status).toBe(409);
      expect((await call('DELETE', `${base}/branches/main`)).status).toBe(409);
      expect((await call('PUT', `${base}/branches/nope`, { user_prompt: 'x' })).status).toBe(404);
      expect(
        (await call('PUT', base, { active_branch_name: 'main' }, { 'if-match': '"99"' })).status,
      ).toBe(412);
      expect((await call('POST', `${base}/branches`, { name: 'ok' })).status).toBe(201);
      const created = await stream.waitFor((e) => e.event === 'branch_created', 5_000);
      expect(changes(stream.events)).toEqual([created]);
      expect(created.id).toBe('1');
    } finally {
      stream.close();
    }
  });
});
