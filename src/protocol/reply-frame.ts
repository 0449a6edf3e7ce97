import type { ContextSummary } from '../storage/types.js';
import type { ChangeEvent } from './change-events.js';

/** What a task did. The main thread says it in HTTP (src/http/reply.ts). */
export type Outcome = 'ok' | 'created' | 'deleted' | 'failed';

/**
 * A worker's reply travels back to the main thread as ONE transferred ArrayBuffer (moved,
 * not copied): `[u32 LE head length][head: UTF-8 JSON][body: response bytes]`. The head
 * is small and says what happened in the domain's terms (outcome, version, failure code,
 * the context's new summary, what was committed); the body is the exact HTTP response
 * body, written once by the worker.
 */
export interface ReplyHead {
  /** What happened. */
  outcome: Outcome;
  /** The context's version after the task (what the answer's ETag names). */
  version?: number;
  /** Why it failed (outcome `failed`): a TaskErrorCode. */
  code?: string;
  /** The context's summary after a committed write, for the main thread's index. */
  summary?: ContextSummary;
  /** The context no longer exists (deleted, or not found when loading). */
  gone?: boolean;
  /** The live events of what this write committed, in the order they happened. */
  events?: ChangeEvent[];
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

/** A failure's reply: its code in the head, `{error, code}` as the body. */
export function errorFrame(err: { code: string; message: string }): ArrayBuffer {
  return jsonFrame({ outcome: 'failed', code: err.code }, { error: err.message, code: err.code });
}

/** The same failure as a reply the main thread holds: nothing framed and parsed back. */
export function failureReply(err: { code: string; message: string }): {
  head: ReplyHead;
  body: Uint8Array<ArrayBuffer>;
} {
  const body = encoder.encode(JSON.stringify({ error: err.message, code: err.code }));
  return { head: { outcome: 'failed', code: err.code }, body };
}

export function readFrame(buffer: ArrayBuffer): {
  head: ReplyHead;
  body: Uint8Array<ArrayBuffer>;
} {
  const headLength = new DataView(buffer).getUint32(0, true);
  const head = JSON.parse(decoder.decode(new Uint8Array(buffer, 4, headLength))) as ReplyHead;
  return { head, body: new Uint8Array(buffer, 4 + headLength) };
}
