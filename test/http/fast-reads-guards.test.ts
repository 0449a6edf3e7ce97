import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, test } from 'vitest';
import type { HeldAnswer } from '../../src/cache/answer-cache.js';
import { AcceptedHosts, FastReads, type RequestListener } from '../../src/http/fast-reads.js';
import type { ContextService } from '../../src/service/context-service.js';

/**
 * The fast read path's guards, on a real loopback server whose "hono" is a stub that says
 * it answered: a cached answer that is not a plain 200, or a failure inside the path,
 * must leave the request to hono (or cut it, once its head is out), never crash or hang.
 */

const ID = '11111111-2222-4333-8444-555555555555';

const hono: RequestListener = (_req, res) => {
  const trace = res.getHeader('x-trace-id');
  res.writeHead(299, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ hono: true, trace: trace ?? null }));
};

let server: Server | undefined;
afterEach(async () => {
  if (server !== undefined) await new Promise((r) => server!.close(r));
  server = undefined;
});

async function serve(cachedRead: () => HeldAnswer | undefined) {
  const errors: string[] = [];
  const fast = new FastReads({
    contexts: { cachedRead } as unknown as ContextService,
    apiToken: undefined,
    record: undefined,
    defaultHost: '127.0.0.1',
    log: { error: (_obj: unknown, msg?: string) => errors.push(msg ?? '') } as never,
  });
  server = createServer(fast.before(hono));
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { fast, errors, port };
}

function get(port: number, path = `/v1/contexts/${ID}`): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => {
        body += c.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode!, body }));
      res.on('error', reject);
    });
    req.setTimeout(5_000, () => req.destroy(new Error('no answer within 5 s')));
    req.on('error', reject);
    req.end();
  });
}

const answer = (head: HeldAnswer['head'], body: unknown = Buffer.from('{}')): HeldAnswer =>
  ({ version: 3, head, body, etag: '"3"' }) as HeldAnswer;

describe('fast read path guards', () => {
  test('a cached 200 is answered here (the stub is reachable both ways)', async () => {
    const { fast, port } = await serve(() => answer({ outcome: 'ok', version: 3 }));
    expect(await get(port)).toEqual({ status: 200, body: '{}' });
    expect(fast.answered).toBe(1);
  });

  test('a cached answer that is not ok is left to hono', async () => {
    for (const head of [
      { outcome: 'failed', code: 'not_found' },
      { outcome: 'created', version: 3 },
    ] as const) {
      const { fast, port } = await serve(() => answer(head));
      const got = await get(port);
      expect(got.status).toBe(299);
      expect(fast.answered).toBe(0);
      await new Promise((r) => server!.close(r));
      server = undefined;
    }
  });

  test('a throw before anything is sent hands the request to hono, trace header undone', async () => {
    const { errors, port } = await serve(() => {
      throw new Error('slot table broke');
    });
    const got = await get(port);
    expect(got.status).toBe(299);
    expect(JSON.parse(got.body)).toEqual({ hono: true, trace: null });
    expect(errors).toEqual(['fast read failed; left to hono']);
  });

  test('a throw after the head went out cuts the response, and the server lives on', async () => {
    // A body Node cannot write makes `res.end` throw after `writeHead`.
    const { errors, port } = await serve(() =>
      answer({ outcome: 'ok', version: 3 }, { byteLength: 2 } as unknown as Buffer),
    );
    await expect(get(port)).rejects.toThrow(/socket hang up|ECONNRESET/);
    expect(errors).toEqual(['fast read failed mid-answer; cut']);
    expect((await get(port, '/health')).status).toBe(299);
  });

  test('rejected Host values are not remembered; accepted ones are', () => {
    const hosts = new AcceptedHosts('127.0.0.1');
    for (let i = 0; i < 100; i++) expect(hosts.accepts(`bad host ${i}`)).toBe(false);
    expect(hosts.remembered).toBe(0);
    expect(hosts.accepts('localhost:8080')).toBe(true);
    expect(hosts.accepts(undefined)).toBe(true);
    expect(hosts.remembered).toBe(2);
  });
});
