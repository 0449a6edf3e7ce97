import { Hono } from 'hono';
import { describe, expect, test } from 'vitest';
import { sendConditional, sendReply } from '../../src/http/reply.js';
import type { Reply } from '../../src/pool/context-pool.js';
import { errorOf } from '../../src/pool/context-pool.js';
import {
  errorFrame,
  jsonFrame,
  type ReplyHead,
  readFrame,
} from '../../src/protocol/reply-frame.js';
import { TaskError, toTaskError } from '../../src/protocol/task-error.js';

/**
 * Worker replies say what happened in domain terms; src/http/reply.ts and the error mapping
 * say it in HTTP. Driven through hono's own `app.request()` (no socket needed).
 */
describe('reply heads as HTTP', () => {
  const answer = async (reply: Reply, location?: string, headers: Record<string, string> = {}) => {
    const app = new Hono();
    app.get('/send', (c) => sendReply(c, reply, location));
    app.get('/conditional', (c) => sendConditional(c, reply));
    const path = headers['if-none-match'] === undefined ? '/send' : '/conditional';
    const res = await app.request(path, { headers });
    return {
      status: res.status,
      etag: res.headers.get('etag'),
      location: res.headers.get('location'),
      retryAfter: res.headers.get('retry-after'),
      type: res.headers.get('content-type'),
      body: await res.text(),
    };
  };
  const ok = (head: ReplyHead, body?: unknown) => readFrame(jsonFrame(head, body));
  const fail = (err: unknown) => readFrame(errorFrame(toTaskError(err)));

  test('outcomes: status, ETag from the version, Location only for what was created', async () => {
    expect(await answer(ok({ outcome: 'created', version: 1 }, { a: 1 }), '/v1/x')).toEqual({
      status: 201,
      etag: '"1"',
      location: '/v1/x',
      retryAfter: null,
      type: 'application/json; charset=utf-8',
      body: '{"a":1}',
    });
    expect(await answer(ok({ outcome: 'ok', version: 7 }, [1]), '/v1/x')).toMatchObject({
      status: 200,
      etag: '"7"',
      location: null,
      body: '[1]',
    });
    expect(await answer(ok({ outcome: 'deleted', version: 8 }))).toMatchObject({
      status: 204,
      etag: null,
      type: null,
      body: '',
    });
    // A read's head: its version is the ETag; a weak If-None-Match names it too.
    const read = ok({ outcome: 'ok', version: 4 }, { b: 2 });
    expect(await answer(read)).toMatchObject({ status: 200, etag: '"4"', body: '{"b":2}' });
    expect(await answer(read, undefined, { 'if-none-match': 'W/"4"' })).toMatchObject({
      status: 304,
      etag: '"4"',
      body: '',
    });
    const current = ok({ outcome: 'ok', version: 5 }, {});
    expect(await answer(current, undefined, { 'if-none-match': '"5"' })).toMatchObject({
      status: 304,
      etag: '"5"',
    });
  });

  test('failures: each code its status, Retry-After for those a retry may cure, the body as sent', async () => {
    const cases: [unknown, number, string | null, string][] = [
      [new TaskError('not_found', 'branch "x" not found'), 404, null, 'not_found'],
      [new TaskError('branch_protected', 'no'), 409, null, 'branch_protected'],
      [new TaskError('precondition_failed', 'no'), 412, null, 'precondition_failed'],
      [new TaskError('no_pending_tool_approvals', 'none'), 400, null, 'no_pending_tool_approvals'],
      [new TaskError('context_poisoned', 'reloading'), 503, '1', 'context_poisoned'],
      [Object.assign(new Error('t'), { code: 'lock_timeout' }), 503, '1', 'lock_timeout'],
      [Object.assign(new Error('d'), { code: 'lock_deadlock' }), 503, '1', 'lock_deadlock'],
      [Object.assign(new Error('a'), { code: 'arena_full' }), 507, null, 'insufficient_storage'],
      [Object.assign(new Error('s'), { code: 'storage_error' }), 500, null, 'storage_error'],
      [Object.assign(new Error('c'), { code: 'storage_conflict' }), 409, null, 'conflict'],
      [new Error('a bug'), 500, null, 'internal_error'],
    ];
    for (const [err, status, retryAfter, code] of cases) {
      const reply = fail(err);
      const http = await answer(reply);
      expect(http, code).toMatchObject({ status, retryAfter, etag: null });
      expect(JSON.parse(http.body)).toMatchObject({ code });
      // The engine's view of the same reply: the same status and headers.
      const appError = errorOf(reply);
      expect(appError.status).toBe(status);
      expect(appError.headers['Retry-After']).toBe(retryAfter ?? undefined);
    }
    expect(JSON.parse((await answer(fail(new Error('secret')))).body)).toEqual({
      error: 'internal error',
      code: 'internal_error',
    });
  });
});
