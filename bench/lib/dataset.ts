import { closeSync, openSync, writeSync } from 'node:fs';
import type { SeedContext, SeedLine } from '../baselines/seed.js';
import { forEachConcurrent, http, httpJson } from './http.js';

/**
 * The data every system serves. The product is seeded through its HTTP API (ids and
 * timestamps are its own); the exact JSON it then answers is exported into a seed file
 * that each baseline loads at start, so all systems hold the same data and answer the
 * benchmark's reads with the same bytes.
 */

export interface ContextSpec {
  /** Name within the benchmark (e.g. `hot`, `s4-10000`). */
  key: string;
  messages: number;
}

export interface SeedOptions {
  /** Bytes of text in each message (ASCII, so also its UTF-8 length). */
  messageBytes: number;
  /** Requests in flight while seeding. */
  concurrency: number;
  onProgress?: (done: number, total: number) => void;
}

const WORDS = [
  'context',
  'branch',
  'message',
  'shared',
  'memory',
  'reader',
  'writer',
  'lock',
  'worker',
  'thread',
  'token',
  'prompt',
  'model',
  'tool',
  'call',
  'result',
  'stream',
  'page',
  'record',
  'buffer',
];

/** Deterministic text of exactly `bytes` ASCII characters, different for each `n`. */
export function messageText(n: number, bytes: number): string {
  let state = (n * 2654435761 + 12345) >>> 0;
  let out = `#${n} `;
  while (out.length < bytes) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out += `${WORDS[state % WORDS.length]} `;
  }
  return out.slice(0, bytes);
}

export function messageBody(n: number, bytes: number): { role: string; content: string } {
  return { role: n % 2 === 0 ? 'user' : 'assistant', content: messageText(n, bytes) };
}

/**
 * Creates one context per spec on the product and appends its messages, each context's
 * in order, `concurrency` requests in flight overall. Returns key → context id.
 */
export async function seedProduct(
  url: string,
  specs: readonly ContextSpec[],
  options: SeedOptions,
): Promise<Map<string, string>> {
  const ids = new Map<string, string>();
  await forEachConcurrent(specs, options.concurrency, async (spec) => {
    const dto = await httpJson<{ id: string }>(`${url}/v1/contexts`, {
      method: 'POST',
      json: { model_id: 'bench-model', mode: 'chat', parameters: { temperature: 0.2 } },
      expect: 201,
    });
    ids.set(spec.key, dto.id);
  });
  // Work items: one context's run of appends; the longest first so they overlap the rest.
  const total = specs.reduce((sum, s) => sum + s.messages, 0);
  const order = [...specs].sort((a, b) => b.messages - a.messages);
  const chunks: { id: string; from: number; to: number }[] = [];
  for (const spec of order) chunks.push({ id: ids.get(spec.key)!, from: 0, to: spec.messages });
  let done = 0;
  let lastReport = 0;
  await forEachConcurrent(chunks, options.concurrency, async (chunk) => {
    for (let i = chunk.from; i < chunk.to; i++) {
      const res = await http(`${url}/v1/contexts/${chunk.id}/messages`, {
        method: 'POST',
        json: messageBody(i, options.messageBytes),
      });
      if (res.status !== 201) throw new Error(`seed append: ${res.status} ${res.text}`);
      done++;
      if (options.onProgress && done - lastReport >= 5000) {
        lastReport = done;
        options.onProgress(done, total);
      }
    }
  });
  return ids;
}

/** Reads a context back from the product: its DTO, and every branch's messages. */
export async function exportContext(url: string, id: string): Promise<SeedContext> {
  const dtoText = (await http(`${url}/v1/contexts/${id}`)).text;
  const dto = JSON.parse(dtoText) as {
    branches: { name: string; message_count: number }[];
  } & Record<string, unknown>;
  const pool = new Map<string, Record<string, unknown>>();
  const branches: SeedContext['branches'] = [];
  for (const branch of dto.branches) {
    const ids: string[] = [];
    for (let offset = 0; offset < branch.message_count; offset += 1000) {
      const page = await httpJson<{ messages: ({ id: string } & Record<string, unknown>)[] }>(
        `${url}/v1/contexts/${id}/messages?branch=${encodeURIComponent(branch.name)}&limit=1000&offset=${offset}`,
      );
      for (const m of page.messages) {
        pool.set(m.id, m);
        ids.push(m.id);
      }
    }
    branches.push({ name: branch.name, message_ids: ids });
  }
  return { dto, branches, messages: [...pool.values()] };
}

/**
 * Writes a seed file (JSON lines) for the baselines: every context in `ids`, read back from
 * the product, and the product's exact response to each path of `responses` (what the
 * ceiling baseline answers). Returns the bytes of message JSON written (the stored data).
 */
export async function writeSeedFile(
  file: string,
  url: string,
  ids: readonly string[],
  responses: readonly string[],
  concurrency = 8,
): Promise<{ messageBytes: number; messages: number }> {
  const fd = openSync(file, 'w');
  let messageBytes = 0;
  let messages = 0;
  try {
    await forEachConcurrent(ids, concurrency, async (id) => {
      const context = await exportContext(url, id);
      for (const m of context.messages) messageBytes += Buffer.byteLength(JSON.stringify(m));
      messages += context.messages.length;
      const line: SeedLine = { context };
      writeSync(fd, `${JSON.stringify(line)}\n`);
    });
    for (const path of responses) {
      const res = await http(`${url}${path}`);
      if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${res.text}`);
      const line: SeedLine = { response: { path, body: res.text } };
      writeSync(fd, `${JSON.stringify(line)}\n`);
    }
  } finally {
    closeSync(fd);
  }
  return { messageBytes, messages };
}

// ---- the benchmark's requests -----------------------------------------------------------

/** S1: the hot page (100 messages of 1 KB). */
export const hotPagePath = (id: string) => `/v1/contexts/${id}/messages?limit=100`;
/** S2: the context DTO. */
export const contextPath = (id: string) => `/v1/contexts/${id}`;
/** S4: the newest page of 50 of a context of `total` messages (what a chat client shows). */
export const lastPagePath = (id: string, total: number) =>
  `/v1/contexts/${id}/messages?limit=50&offset=${Math.max(0, total - 50)}`;
/** S3 reads: the first page of 50 (stable while appends land at the end). */
export const firstPagePath = (id: string) => `/v1/contexts/${id}/messages?limit=50`;
export const appendPath = (id: string) => `/v1/contexts/${id}/messages`;
