import { describe, expect, test } from 'vitest';
import {
  appendMessage,
  type ContextDto,
  chainIsConsistent,
  createContext,
  type MessagePage,
  request,
} from '../support/http.js';
import { useServer } from '../support/server-process.js';

describe('concurrent requests on one context (real server, real sockets)', () => {
  const server = useServer();

  test('50 concurrent reads of one context all answer 200 with the same body', async () => {
    const ctx = await createContext(server.url);
    for (let i = 0; i < 5; i++) await appendMessage(server.url, ctx.id, `seed ${i}`);
    const responses = await Promise.all(
      Array.from({ length: 50 }, () => request(`${server.url}/v1/contexts/${ctx.id}`)),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(50).fill(200));
    const bodies = new Set(responses.map((r) => r.text));
    expect(bodies.size).toBe(1);
    expect((responses[0]!.body as ContextDto).message_count).toBe(5);
  });

  test('20 concurrent appends all land exactly once, in a consistent chain, while reads see whole states', async () => {
    const ctx = await createContext(server.url);
    const contents = Array.from({ length: 20 }, (_, i) => `message ${i}`);

    const reads: Promise<{ page: MessagePage; context: ContextDto }>[] = [];
    let writesDone = false;
    const readLoop = (async () => {
      // Keep reading while the writes are in flight.
      while (!writesDone) {
        reads.push(
          (async () => {
            const page = await request<MessagePage>(
              `${server.url}/v1/contexts/${ctx.id}/messages?limit=1000`,
            );
            const context = await request<ContextDto>(`${server.url}/v1/contexts/${ctx.id}`);
            expect(page.status).toBe(200);
            expect(context.status).toBe(200);
            return { page: page.body, context: context.body };
          })(),
        );
        await new Promise((r) => setTimeout(r, 2));
      }
    })();

    const writes = await Promise.all(contents.map((c) => appendMessage(server.url, ctx.id, c)));
    writesDone = true;
    await readLoop;
    const observed = await Promise.all(reads);

    expect(writes.map((w) => w.status)).toEqual(Array(20).fill(201));

    const final = await request<MessagePage>(
      `${server.url}/v1/contexts/${ctx.id}/messages?limit=1000`,
    );
    const texts = final.body.messages.map((m) => m.content[0]!.text);
    expect(final.body.total).toBe(20);
    expect([...texts].sort()).toEqual([...contents].sort());
    expect(new Set(final.body.messages.map((m) => m.id)).size).toBe(20);
    expect(chainIsConsistent(final.body.messages)).toBe(true);
    // Each acknowledged message is in the final state, with the id it was acknowledged with.
    const finalIds = new Set(final.body.messages.map((m) => m.id));
    for (const w of writes) expect(finalIds.has(w.body.id)).toBe(true);

    expect(observed.length).toBeGreaterThan(0);
    const finalIdsInOrder = final.body.messages.map((m) => m.id);
    for (const { page } of observed) {
      // A whole state: the count matches what was returned, the chain is unbroken, and it
      // is a prefix of the final order (no partial or reordered append is ever visible).
      expect(page.messages.length).toBe(page.total);
      expect(chainIsConsistent(page.messages)).toBe(true);
      expect(page.messages.map((m) => m.id)).toEqual(finalIdsInOrder.slice(0, page.total));
    }
    for (const { context } of observed) {
      expect(context.message_count).toBe(context.version - 1);
    }
  });
});
