import type { Context } from 'hono';
import { preconditionFailed } from '../errors.js';
import type { Reply } from '../pool/context-pool.js';
import { httpOfFailure } from '../protocol/error-mapping.js';
import type { Outcome, ReplyHead } from '../protocol/reply-frame.js';

const STATUS_OF: Record<Exclude<Outcome, 'failed'>, number> = {
  ok: 200,
  created: 201,
  deleted: 204,
};

/** A context version as its ETag. */
export function etagOf(version: number): string {
  return `"${version}"`;
}

/**
 * The HTTP status and headers a reply head stands for: the one place a worker's answer
 * becomes HTTP. Something deleted has no representation, so no ETag.
 */
function httpOf(head: ReplyHead): { status: number; etag?: string; retryAfter?: number } {
  switch (head.outcome) {
    case undefined: // the read path's legacy head (src/slots/reads.ts)
      return { status: head.status ?? 200, etag: head.etag };
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
  const { head, body } = reply;
  const http = httpOf(head);
  if (http.etag !== undefined) c.header('ETag', http.etag);
  if (location !== undefined && head.outcome === 'created') c.header('Location', location);
  if (http.retryAfter !== undefined) c.header('Retry-After', String(http.retryAfter));
  if (http.status === 204 || body.byteLength === 0) return c.body(null, http.status as 204);
  c.header('Content-Type', 'application/json; charset=utf-8');
  return c.body(body, http.status as 200);
}

/** A GET whose `If-None-Match` names the reply's ETag answers 304 with no body. */
export function sendConditional(c: Context, reply: Reply): Response {
  const { status, etag } = httpOf(reply.head);
  if (status === 200 && etag !== undefined) {
    const ifNoneMatch = c.req.header('if-none-match');
    if (ifNoneMatch !== undefined && etagListIncludes(ifNoneMatch, etag)) {
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
