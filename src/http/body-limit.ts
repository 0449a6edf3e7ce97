import type { IncomingMessage } from 'node:http';
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit as honoBodyLimit } from 'hono/body-limit';
import { AppError } from '../errors.js';
import type { AppEnv } from './env.js';
import { nodeRequest } from './node-io.js';

/**
 * What the body-limit middleware left for `requestBytes` of one Node request: the body
 * itself when it had to be read to be measured (no Content-Length), else the limit to read
 * it under. Keyed by the request, so nothing outlives it.
 */
const admitted = new WeakMap<IncomingMessage, Buffer | number>();

export const tooLarge = (maxBytes: number): AppError =>
  new AppError(413, 'payload_too_large', `the request body exceeds ${maxBytes} bytes`);

/**
 * 413 `payload_too_large` for a body over `maxBytes`, with the rules of hono's body-limit
 * (which answers where there is no Node request, as in `app.request()`): a Content-Length
 * (without Transfer-Encoding) is judged by its value, anything else by reading the body.
 * On Node the body is read from the request stream itself, not through a fetch `Request`
 * and a web stream, which cost more than the rest of an append's request handling.
 */
export function bodyLimit(maxBytes: number): MiddlewareHandler<AppEnv> {
  const answer = (c: Context) => c.json(tooLarge(maxBytes).toBody(), 413);
  const fallback = honoBodyLimit({ maxSize: maxBytes, onError: answer });
  return async (c, next) => {
    const incoming = nodeRequest(c);
    if (incoming === undefined) return fallback(c, next);
    const length = incoming.headers['content-length'];
    if (length !== undefined && incoming.headers['transfer-encoding'] === undefined) {
      if (Number.parseInt(length, 10) > maxBytes) return answer(c);
      admitted.set(incoming, maxBytes);
      return next();
    }
    const body = await readIncoming(incoming, maxBytes);
    if (body === undefined) return answer(c);
    admitted.set(incoming, body);
    return next();
  };
}

/**
 * The request body's bytes: from Node's request directly when the body-limit middleware
 * admitted it, else (no Node request, no middleware) through hono's `Request`.
 */
export async function requestBytes(c: Context): Promise<Uint8Array> {
  const incoming = nodeRequest(c);
  const entry = incoming === undefined ? undefined : admitted.get(incoming);
  if (incoming === undefined || entry === undefined)
    return new Uint8Array(await c.req.arrayBuffer());
  if (typeof entry !== 'number') return entry;
  // Content-Length was within the limit and Node's parser holds the body to it; the limit
  // is kept anyway, so a body can never be buffered past it.
  const body = await readIncoming(incoming, entry);
  if (body === undefined) throw tooLarge(entry);
  admitted.set(incoming, body);
  return body;
}

/**
 * A Node request's body, whole; undefined as soon as it exceeds `maxBytes` (what is left is
 * drained by the adapter once the response is sent). Rejects when the request is aborted.
 * Bounded in time by the server's request timeout.
 */
function readIncoming(incoming: IncomingMessage, maxBytes: number): Promise<Buffer | undefined> {
  if (incoming.readableEnded) return Promise.reject(new Error('the request body was already read'));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      incoming.off('data', onData);
      incoming.off('end', onEnd);
      incoming.off('error', onError);
      incoming.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size > maxBytes) {
        cleanup();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const onClose = () => {
      cleanup();
      reject(new Error('the request was closed before its body was read'));
    };
    incoming.on('data', onData);
    incoming.on('end', onEnd);
    incoming.on('error', onError);
    incoming.on('close', onClose);
  });
}
