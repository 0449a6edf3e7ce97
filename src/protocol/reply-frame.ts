import type { AppError } from '../errors.js';
import type { ContextSummary } from '../storage/types.js';

/**
 * A worker's reply travels back to the main thread as ONE transferred ArrayBuffer (moved,
 * not copied): `[u32 LE head length][head: UTF-8 JSON][body: response bytes]`. The head
 * is small (status, headers, the context's new summary); the body is the exact HTTP
 * response body, written once by the worker.
 */
export interface ReplyHead {
  status: number;
  etag?: string;
  location?: string;
  /** The context's summary after a committed write, for the main thread's index. */
  summary?: ContextSummary;
  /** The context no longer exists (deleted, or not found when loading). */
  gone?: boolean;
  /** Error code, when status ≥ 400. */
  code?: string;
  retryAfter?: number;
}

/**
 * A reply body as views written in order without being joined (a page of records viewed
 * in shared memory, main thread only). The views stay valid until `release` is called,
 * which the sender does once the response has finished or its connection closed.
 */
export interface ViewBody {
  chunks: readonly Uint8Array[];
  length: number;
  release: () => void;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Builds a frame whose body (`bodyLength` bytes) is written in place by `fill`. */
export function frameWith(
  head: ReplyHead,
  bodyLength: number,
  fill: (out: Uint8Array, at: number) => void,
): ArrayBuffer {
  const headBytes = encoder.encode(JSON.stringify(head));
  const buffer = new ArrayBuffer(4 + headBytes.byteLength + bodyLength);
  const out = new Uint8Array(buffer);
  new DataView(buffer).setUint32(0, headBytes.byteLength, true);
  out.set(headBytes, 4);
  fill(out, 4 + headBytes.byteLength);
  return buffer;
}

export function jsonFrame(head: ReplyHead, body: unknown): ArrayBuffer {
  const bytes = body === undefined ? new Uint8Array(0) : encoder.encode(JSON.stringify(body));
  return frameWith(head, bytes.byteLength, (out, at) => out.set(bytes, at));
}

export function errorFrame(err: AppError): ArrayBuffer {
  return jsonFrame(errorHead(err), err.toBody());
}

/** The head of an error reply (status, code, Retry-After). */
export function errorHead(err: AppError): ReplyHead {
  const retryAfter = err.headers['Retry-After'];
  return {
    status: err.status,
    code: err.code,
    ...(retryAfter === undefined ? {} : { retryAfter: Number(retryAfter) }),
  };
}

export function readFrame(buffer: ArrayBuffer): {
  head: ReplyHead;
  body: Uint8Array<ArrayBuffer>;
} {
  const headLength = new DataView(buffer).getUint32(0, true);
  const head = JSON.parse(decoder.decode(new Uint8Array(buffer, 4, headLength))) as ReplyHead;
  return { head, body: new Uint8Array(buffer, 4 + headLength) };
}
