import { describe, expect, test } from 'vitest';
import { appendMessage, createContext, type MessagePage, request } from '../support/http.js';
import { useServer } from '../support/server-process.js';

/** Polls `probe` until it returns true or `deadlineMs` passes; returns how long it took. */
async function until(probe: () => Promise<boolean>, deadlineMs: number): Promise<number> {
  const start = performance.now();
  while (performance.now() - start < deadlineMs) {
    if (await probe()) return performance.now() - start;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`not recovered within ${deadlineMs} ms`);
}

describe('a worker that dies holding a context lock does not wedge the server', () => {
  const server = useServer({ env: { FAULT_INJECTION: 'true' } });

  for (const mode of ['write', 'read'] as const) {
    test(`terminated while holding the ${mode} lock: the lock is recovered, the context comes back from storage`, async () => {
      const { id } = await createContext(server.url);
      for (let i = 0; i < 3; i++)
        expect((await appendMessage(server.url, id, `ack ${i}`)).status).toBe(201);
      const before = await request<MessagePage>(`${server.url}/v1/contexts/${id}/messages`);

      // The worker takes the lock (and, for a writer, changes the context in memory without
      // persisting it), then its thread ends without running any `finally`.
      const crash = await request(
        `${server.url}/v1/contexts/${id}/debug/crash-worker?mode=${mode}`,
        {
          method: 'POST',
        },
      );
      expect(crash.status).toBe(500);

      // Writes need the lock back; reads must show the last acknowledged state.
      await until(
        async () => (await appendMessage(server.url, id, 'after the crash')).status === 201,
        5000,
      );
      const after = await request<MessagePage & { messages: { content: { text: string }[] }[] }>(
        `${server.url}/v1/contexts/${id}/messages`,
      );
      expect(after.status).toBe(200);
      expect(after.body.messages.slice(0, 3)).toEqual(before.body.messages);
      expect(after.body.messages.map((m) => m.content[0]!.text)).toEqual([
        'ack 0',
        'ack 1',
        'ack 2',
        'after the crash',
      ]);
      const state = await request<{ status: string }>(`${server.url}/v1/contexts/${id}/state`);
      expect(state.body.status).toBe('idle'); // the unpersisted change did not survive

      // The server keeps serving other contexts, and the pool replaced the worker.
      const other = await createContext(server.url);
      expect((await appendMessage(server.url, other.id, 'still serving')).status).toBe(201);
      const health = await request<{ workers: number }>(`${server.url}/health`);
      expect(health.body.workers).toBe(2);
      expect(server.process.logs.some((l) => l.includes('a worker ended holding locks'))).toBe(
        true,
      );
    });
  }
});
