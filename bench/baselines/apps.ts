import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { AppError, notFound } from '../../src/errors.js';
import { readJson } from '../../src/http/body.js';
import { ifMatchVersion } from '../../src/http/reply.js';
import {
  parseCreateContext,
  parseNewMessage,
  parsePaging,
  requireBranchName,
  requireUuid,
} from '../../src/model/validate.js';
import { appendMessage, contextDto, messagePage, newContext, type StoredContext } from './model.js';
import { Mutex } from './mutex.js';

/**
 * The three baselines, each what a competent engineer would write for its design, serving
 * the benchmark's routes with the product's validation, status codes and JSON bytes:
 *
 * - `single-thread`: hono + a Map of plain object graphs + JSON.stringify; no lock, no clone.
 * - `mutex-clone`: the design the product replaces: one exclusive (async) lock per context,
 *   held for the whole request; every request works on a `structuredClone` of the whole
 *   context (a write swaps the modified clone in), and the answer is JSON.stringify-ed under
 *   the lock.
 * - `ceiling`: hono answering precomputed bytes (the product's own answers) per path, with no
 *   middleware: the limit of this HTTP stack on this machine.
 */

const JSON_TYPE = 'application/json; charset=utf-8';
const MAX_BODY_BYTES = 1024 * 1024;

function sendJson(c: Context, body: string, status = 200, etag?: string): Response {
  c.header('Content-Type', JSON_TYPE);
  if (etag !== undefined) c.header('ETag', etag);
  return c.body(body, status as 200);
}

const etagOf = (ctx: StoredContext) => `"${ctx.version}"`;

/** What every baseline shares: health, not-found and error mapping. */
function baseApp(kind: string, count: () => number): Hono {
  const app = new Hono();
  app.get('/health', (c) => c.json({ status: 'ok', kind, contexts: count() }));
  app.notFound((c) => c.json({ error: 'no such route', code: 'not_found' }, 404));
  app.onError((err, c) => {
    if (err instanceof AppError) {
      for (const [name, value] of Object.entries(err.headers)) c.header(name, value);
      return c.json(err.toBody(), err.status as 400);
    }
    return c.json({ error: 'internal error', code: 'internal_error' }, 500);
  });
  return app;
}

/** The entry of `map` for the request's `:id`; 404 if there is none. */
function byIdParam<T>(map: Map<string, T>, c: Context): T {
  const entry = map.get(requireUuid(c.req.param('id')!));
  if (entry === undefined) throw notFound('context not found');
  return entry;
}

/**
 * The request body limit (413), on the routes that take a body only: hono's bodyLimit reads
 * `c.req.raw.body`, which makes @hono/node-server build a full fetch Request, a cost a GET
 * need not pay.
 */
function limitBodies(app: Hono): void {
  app.post(
    '/v1/*',
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: (c) =>
        c.json(
          { error: `the request body exceeds ${MAX_BODY_BYTES} bytes`, code: 'payload_too_large' },
          413,
        ),
    }),
  );
}

function pageQuery(c: Context) {
  const query = c.req.query();
  const { limit, offset } = parsePaging(query);
  const branch = query.branch === undefined ? undefined : requireBranchName(query.branch);
  return { branch, limit, offset };
}

/** A write's `If-Match` against the context's current version. */
function checkIfMatch(ifMatch: number | undefined, ctx: StoredContext): void {
  if (ifMatch !== undefined && ifMatch !== ctx.version) {
    throw new AppError(412, 'precondition_failed', `If-Match "${ifMatch}" does not match`);
  }
}

function conditional(c: Context, ctx: StoredContext): Response | undefined {
  const etag = etagOf(ctx);
  if (c.req.header('if-none-match') === etag) {
    c.header('ETag', etag);
    return c.body(null, 304);
  }
  return undefined;
}

// ---- single-thread -----------------------------------------------------------------------

export function singleThreadApp(contexts: Map<string, StoredContext>): Hono {
  const app = baseApp('single-thread', () => contexts.size);
  limitBodies(app);
  const find = (c: Context) => byIdParam(contexts, c);

  app.post('/v1/contexts', async (c) => {
    const ctx = newContext(parseCreateContext(await readJson(c)));
    contexts.set(ctx.id, ctx);
    c.header('Location', `/v1/contexts/${ctx.id}`);
    return sendJson(c, JSON.stringify(contextDto(ctx)), 201, etagOf(ctx));
  });

  app.get('/v1/contexts/:id', (c) => {
    const ctx = find(c);
    return conditional(c, ctx) ?? sendJson(c, JSON.stringify(contextDto(ctx)), 200, etagOf(ctx));
  });

  app.get('/v1/contexts/:id/messages', (c) => {
    const ctx = find(c);
    const { branch, limit, offset } = pageQuery(c);
    return sendJson(c, JSON.stringify(messagePage(ctx, branch, limit, offset)));
  });

  app.post('/v1/contexts/:id/messages', async (c) => {
    const ctx = find(c);
    const ifMatch = ifMatchVersion(c);
    const message = parseNewMessage(await readJson(c));
    checkIfMatch(ifMatch, ctx);
    const node = appendMessage(ctx, message);
    return sendJson(c, JSON.stringify(node), 201, etagOf(ctx));
  });

  return app;
}

// ---- mutex-clone -------------------------------------------------------------------------

interface Guarded {
  ctx: StoredContext;
  mutex: Mutex;
}

export function mutexCloneApp(contexts: Map<string, StoredContext>): Hono {
  const guarded = new Map<string, Guarded>();
  for (const [id, ctx] of contexts) guarded.set(id, { ctx, mutex: new Mutex() });
  contexts.clear();
  const app = baseApp('mutex-clone', () => guarded.size);
  limitBodies(app);
  const find = (c: Context) => byIdParam(guarded, c);

  app.post('/v1/contexts', async (c) => {
    const ctx = newContext(parseCreateContext(await readJson(c)));
    const entry = { ctx, mutex: new Mutex() };
    guarded.set(ctx.id, entry);
    return entry.mutex.run(() => {
      c.header('Location', `/v1/contexts/${ctx.id}`);
      return sendJson(c, JSON.stringify(contextDto(structuredClone(ctx))), 201, etagOf(ctx));
    });
  });

  app.get('/v1/contexts/:id', (c) => {
    const entry = find(c);
    return entry.mutex.run(() => {
      const ctx = structuredClone(entry.ctx);
      return conditional(c, ctx) ?? sendJson(c, JSON.stringify(contextDto(ctx)), 200, etagOf(ctx));
    });
  });

  app.get('/v1/contexts/:id/messages', (c) => {
    const entry = find(c);
    return entry.mutex.run(() => {
      const { branch, limit, offset } = pageQuery(c);
      const ctx = structuredClone(entry.ctx);
      return sendJson(c, JSON.stringify(messagePage(ctx, branch, limit, offset)));
    });
  });

  app.post('/v1/contexts/:id/messages', (c) => {
    const entry = find(c);
    return entry.mutex.run(async () => {
      const ifMatch = ifMatchVersion(c);
      const message = parseNewMessage(await readJson(c));
      const next = structuredClone(entry.ctx);
      checkIfMatch(ifMatch, next);
      const node = appendMessage(next, message);
      entry.ctx = next;
      return sendJson(c, JSON.stringify(node), 201, etagOf(next));
    });
  });

  return app;
}

// ---- ceiling -----------------------------------------------------------------------------

export function ceilingApp(responses: Map<string, Uint8Array>): Hono {
  const app = baseApp('ceiling', () => responses.size);
  const serve = (c: Context): Response => {
    const url = c.req.url;
    const body = responses.get(url.slice(url.indexOf('/', 8)));
    if (body === undefined) return c.json({ error: 'not precomputed', code: 'not_found' }, 404);
    c.header('Content-Type', JSON_TYPE);
    return c.body(body as Uint8Array<ArrayBuffer>, 200);
  };
  app.get('/v1/contexts/:id', serve);
  app.get('/v1/contexts/:id/messages', serve);
  return app;
}
