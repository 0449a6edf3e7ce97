import type { Context } from 'hono';
import { preconditionFailed } from '../errors.js';
import type { Reply } from '../pool/context-pool.js';
import type { ViewBody } from '../protocol/reply-frame.js';
import { requestHeader, sendDirect } from './node-io.js';

/**
 * Sends a worker's reply frame as the HTTP response: the body bytes go out as they came
 * from the worker (no parse, no re-serialisation).
 */
export function sendReply(c: Context, reply: Reply): Response {
  if (reply.views !== undefined) return sendViews(c, reply, reply.views);
  const direct = sendDirect(c, reply.head, reply.body);
  if (direct !== undefined) return direct;
  const { head, body } = reply;
  if (head.etag !== undefined) c.header('ETag', head.etag);
  if (head.location !== undefined) c.header('Location', head.location);
  if (head.retryAfter !== undefined) c.header('Retry-After', String(head.retryAfter));
  if (head.status === 204 || body.byteLength === 0) return c.body(null, head.status as 204);
  c.header('Content-Type', 'application/json; charset=utf-8');
  return c.body(body, head.status as 200);
}

/**
 * A reply whose body is views of shared memory: written as they are, released once the
 * response is done; joined into one buffer (and released at once) where it cannot be
 * written directly.
 */
function sendViews(c: Context, reply: Reply, views: ViewBody): Response {
  const onDone = views.release;
  const direct = sendDirect(c, reply.head, null, { ...views, onDone });
  if (direct !== undefined) return direct;
  const body = new Uint8Array(views.length);
  let pos = 0;
  for (const chunk of views.chunks) {
    body.set(chunk, pos);
    pos += chunk.byteLength;
  }
  views.release();
  return sendReply(c, { head: reply.head, body });
}

/** A GET whose `If-None-Match` names the reply's ETag answers 304 with no body. */
export function sendConditional(c: Context, reply: Reply): Response {
  const etag = reply.head.etag;
  if (reply.head.status === 200 && etag !== undefined) {
    const ifNoneMatch = requestHeader(c, 'if-none-match');
    if (ifNoneMatch !== undefined && etagListIncludes(ifNoneMatch, etag)) {
      const direct = sendDirect(c, { status: 304, etag }, null);
      if (direct !== undefined) return direct;
      c.header('ETag', etag);
      return c.body(null, 304);
    }
  }
  return sendReply(c, reply);
}

function etagListIncludes(list: string, etag: string): boolean {
  return list
    .split(',')
    .map((t) => t.trim().replace(/^W\//, ''))
    .some((t) => t === '*' || t === etag);
}

/**
 * `If-Match` as the version number it names: undefined when absent or `*`; a value that
 * cannot be one of our ETags can never match, so it fails the precondition at once.
 */
export function ifMatchVersion(c: Context): number | undefined {
  const header = c.req.header('if-match');
  if (header === undefined || header.trim() === '*') return undefined;
  const match = /^\s*(?:W\/)?"(\d{1,15})"\s*$/.exec(header);
  if (match === null) throw preconditionFailed(`If-Match ${header} does not match`);
  return Number(match[1]);
}
