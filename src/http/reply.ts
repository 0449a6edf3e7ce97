import type { Context } from 'hono';
import { preconditionFailed } from '../errors.js';
import type { Reply } from '../pool/context-pool.js';
import { httpOfFailure } from '../protocol/error-mapping.js';
import type { Outcome, ReplyHead, ViewBody } from '../protocol/reply-frame.js';
import { etagOf } from '../slots/dto.js';
import { type DirectHead, requestHeader, sendDirect } from './node-io.js';

const STATUS_OF: Record<Exclude<Outcome, 'failed'>, number> = {
  ok: 200,
  created: 201,
  deleted: 204,
};

/**
 * The HTTP status and headers a reply head stands for: the one place a worker's answer
 * becomes HTTP. Something deleted has no representation, so no ETag.
 */
function httpOf(head: ReplyHead): DirectHead {
  switch (head.outcome) {
    case 'failed':
      return httpOfFailure(head.code);
    case 'deleted':
      return { status: STATUS_OF.deleted };
    default:
      return {
        status: STATUS_OF[head.outcome],
        etag: head.version === undefined ? undefined : etagOf(head.version),
      };
  }
}

/**
 * Sends a worker's reply frame as the HTTP response: the body bytes go out as they came
 * from the worker (no parse, no re-serialisation). `location` is where something created
 * can be found (sent only when the reply says it was created).
 */
export function sendReply(c: Context, reply: Reply, location?: string): Response {
  const http = httpOf(reply.head);
  const created = location !== undefined && reply.head.outcome === 'created';
  return sendHttp(c, created ? { ...http, location } : http, reply);
}

function sendHttp(c: Context, http: DirectHead, reply: Reply): Response {
  if (reply.views !== undefined) return sendViews(c, http, reply.views);
  const direct = sendDirect(c, http, reply.body);
  if (direct !== undefined) return direct;
  const { body } = reply;
  if (http.etag !== undefined) c.header('ETag', http.etag);
  if (http.location !== undefined) c.header('Location', http.location);
  if (http.retryAfter !== undefined) c.header('Retry-After', String(http.retryAfter));
  if (http.status === 204 || body.byteLength === 0) return c.body(null, http.status as 204);
  c.header('Content-Type', 'application/json; charset=utf-8');
  return c.body(body, http.status as 200);
}

/**
 * A reply whose body is views of shared memory: written as they are, released once the
 * response is done; joined into one buffer (and released at once) where it cannot be
 * written directly.
 */
function sendViews(c: Context, http: DirectHead, views: ViewBody): Response {
  const direct = sendDirect(c, http, null, views);
  if (direct !== undefined) return direct;
  const body = Buffer.concat(views.chunks, views.length);
  views.release();
  return sendHttp(c, http, { head: { outcome: 'ok' }, body });
}

/** A GET whose `If-None-Match` names the reply's ETag answers 304 with no body. */
export function sendConditional(c: Context, reply: Reply): Response {
  const http = httpOf(reply.head);
  const unchanged = notModified(http, requestHeader(c, 'if-none-match'));
  if (unchanged === undefined) return sendHttp(c, http, reply);
  reply.views?.release();
  const direct = sendDirect(c, unchanged, null);
  if (direct !== undefined) return direct;
  c.header('ETag', unchanged.etag);
  return c.body(null, 304);
}

/**
 * The 304 that answers a conditional GET instead of `http` (a 200 with an ETag) when its
 * `If-None-Match` names that ETag; undefined when `http` is the answer.
 */
export function notModified(
  http: DirectHead,
  ifNoneMatch: string | undefined,
): (DirectHead & { etag: string }) | undefined {
  const etag = http.etag;
  if (http.status !== 200 || etag === undefined || ifNoneMatch === undefined) return undefined;
  return etagListIncludes(ifNoneMatch, etag) ? { status: 304, etag } : undefined;
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
  const header = requestHeader(c, 'if-match');
  if (header === undefined || header.trim() === '*') return undefined;
  const match = /^\s*(?:W\/)?"(\d{1,15})"\s*$/.exec(header);
  if (match === null) throw preconditionFailed(`If-Match ${header} does not match`);
  return Number(match[1]);
}
