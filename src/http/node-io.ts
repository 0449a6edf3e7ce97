import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Context } from 'hono';
import type { ViewBody } from '../protocol/reply-frame.js';

/** What @hono/node-server passes as `c.env`: the Node request and response. */
export interface NodeBindings {
  incoming?: IncomingMessage;
  outgoing?: ServerResponse;
}

const nodeOf = (c: Context): NodeBindings | undefined => c.env as NodeBindings | undefined;

/** Node's request, when served by @hono/node-server. */
export function nodeRequest(c: Context): IncomingMessage | undefined {
  return nodeOf(c)?.incoming;
}

/** Node's response of the request, when served by @hono/node-server. */
export function nodeResponse(c: Context): ServerResponse | undefined {
  return nodeOf(c)?.outgoing;
}

/**
 * A request header (`name` in lower case) from Node's own parsed headers. `c.req.header()` would have the adapter
 * build a fetch `Headers` from every raw header first (measured at several µs a request);
 * without a Node request (hono's `app.request()` in tests) it is used as is.
 */
export function requestHeader(c: Context, name: string): string | undefined {
  const incoming = nodeOf(c)?.incoming;
  return incoming === undefined ? c.req.header(name) : rawHeader(incoming, name);
}

/** A header (`name` in lower case) of Node's request, as fetch would show it. */
export function rawHeader(incoming: IncomingMessage, name: string): string | undefined {
  // The raw list, not `incoming.headers`: Node keeps only the first of some duplicated
  // headers (Authorization among them), fetch joins them all with ", "; so does this.
  const raw = incoming.rawHeaders;
  let value: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const key = raw[i]!;
    if (key.length === name.length && key.toLowerCase() === name) {
      value = value === undefined ? raw[i + 1]! : `${value}, ${raw[i + 1]!}`;
    }
  }
  return value;
}

/** The headers of a reply written straight to the socket (lower case, as fetch shows them). */
export interface DirectHead {
  status: number;
  etag?: string | undefined;
  location?: string | undefined;
  retryAfter?: number | undefined;
}

/** How long a response may hold views of shared memory before its connection is cut. */
const VIEW_HOLD_DEADLINE_MS = 30_000;

/** Responses that tell the adapter "already sent", one per status (for the metrics' label). */
const sent = new Map<number, Response>();

export function alreadySent(status: number): Response {
  let res = sent.get(status);
  if (res === undefined) {
    res = new Response(null, { status, headers: { 'x-hono-already-sent': 'true' } });
    sent.set(status, res);
  }
  return res;
}

/**
 * Writes an answer to the Node response directly: status, the reply's headers (with
 * those middleware set on the Node response, the trace id), and the body bytes as given,
 * in one corked write. Skips hono's and the adapter's Response and Headers objects,
 * which cost more than the rest of a cached read or an append. Returns undefined (nothing
 * written) when there is no Node response, or for a HEAD (hono answers it with the GET
 * route's headers and no body), so the caller answers as usual.
 *
 * `parts`: the body as several views written in order without joining them (see
 * src/slots/reads.ts `PageParts`); `release` runs once the response has finished or closed.
 */
export function sendDirect(
  c: Context,
  head: DirectHead,
  body: Uint8Array | null,
  parts?: ViewBody,
): Response | undefined {
  const res = nodeOf(c)?.outgoing;
  if (res === undefined || c.req.method === 'HEAD' || res.headersSent) return undefined;
  writeDirect(res, head, body, parts);
  return alreadySent(head.status);
}

/** The writing half of `sendDirect`, on Node's response itself (src/http/fast-reads.ts too). */
export function writeDirect(
  res: ServerResponse,
  head: DirectHead,
  body: Uint8Array | null,
  parts?: ViewBody,
): void {
  // Headers set on `res` before (the trace id) are merged in by Node.
  const headers: Record<string, string | number> = {};
  if (head.etag !== undefined) headers.etag = head.etag;
  if (head.location !== undefined) headers.location = head.location;
  if (head.retryAfter !== undefined) headers['retry-after'] = String(head.retryAfter);
  const length = parts?.length ?? body?.byteLength ?? 0;
  if (head.status === 204 || head.status === 304 || length === 0) {
    res.writeHead(head.status, headers);
    res.end();
    parts?.release();
    return;
  }
  headers['content-type'] = 'application/json; charset=utf-8';
  headers['content-length'] = length;
  res.writeHead(head.status, headers);
  if (parts === undefined) {
    res.end(body);
    return;
  }
  try {
    res.cork();
    for (const chunk of parts.chunks) res.write(chunk);
    res.end();
    res.uncork();
  } catch (err) {
    parts.release();
    throw err;
  }
  // Handed to the kernel already (nothing left in Node's or libuv's queues): the views are
  // no longer referenced. Otherwise (a slow reader, or a pipelined response waiting for its
  // turn) they are until the response finishes or its connection closes.
  if ((res.socket !== null && res.writableLength === 0) || res.closed) {
    parts.release();
  } else {
    // A reader too slow to take the page within the deadline is cut: its views would
    // otherwise keep every block freed meanwhile from being reused.
    const timer = setTimeout(() => {
      res.destroy(); // closes the socket now: nothing reads the views after this
      once();
    }, VIEW_HOLD_DEADLINE_MS);
    timer.unref();
    let done = false;
    const once = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      parts.release();
    };
    res.once('finish', once);
    res.once('close', once);
  }
}
