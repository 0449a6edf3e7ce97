import { cpSync, mkdirSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { appendMessage, createContext, request } from '../support/http.js';
import { type ServerProcess, startServerProcess, useDataDir } from '../support/server-process.js';

/**
 * src/http/fast-reads.ts answers cached reads before hono. This sends one list of requests
 * (hits, misses, 304s, wrong and missing tokens, bad and unusual queries, HEAD, other
 * methods and paths, trace ids given, malformed and absent) to the real server and to the
 * same server with every request left to hono, started from copies of one data directory,
 * and requires the same bytes back: status, headers in order (but `Date`, and a trace id
 * the server made up), body; the same `/metrics` counts and the same access-log lines.
 */

const HONO_ONLY = fileURLToPath(new URL('../fixtures/hono-only-server.js', import.meta.url));
const TOKEN = 'fast-reads-token';
const ENV = { API_TOKEN: TOKEN, LOG_LEVEL: 'debug', WORKERS: '1' };
const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface Sent {
  method?: string;
  path: string;
  headers?: Record<string, string | string[]>;
  body?: string;
  /** Leave out the bearer token. */
  anonymous?: boolean;
}

/** One answer, with what may differ between two servers normalised away. */
interface Answer {
  request: string;
  status: number;
  headers: string[];
  body: string;
  /** The trace id it was answered under (the server's own when it made one up). */
  traceId: string | undefined;
}

/** Sends `sent` on a connection of its own, exactly as given (no fetch normalisation). */
function send(base: string, sent: Sent): Promise<Answer> {
  const { hostname, port } = new URL(base);
  const headers = { ...sent.headers };
  if (!sent.anonymous) headers.authorization ??= `Bearer ${TOKEN}`;
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: hostname,
        port,
        method: sent.method ?? 'GET',
        path: sent.path,
        headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const raw = res.rawHeaders;
          const given = sent.headers?.['x-trace-id'];
          const lines: string[] = [];
          let traceId: string | undefined;
          for (let i = 0; i < raw.length; i += 2) {
            const [name, value] = [raw[i]!, raw[i + 1]!];
            if (name.toLowerCase() === 'date') continue;
            if (name.toLowerCase() === 'x-trace-id') traceId = value;
            const made = name.toLowerCase() === 'x-trace-id' && value !== given;
            if (made) expect(value, 'a trace id the server made').toMatch(UUID);
            lines.push(`${name}: ${made ? '(made by the server)' : value}`);
          }
          const body = Buffer.concat(chunks).toString('latin1');
          resolve({
            request: describeSent(sent),
            status: res.statusCode!,
            headers: lines,
            body,
            traceId,
          });
        });
      },
    );
    req.on('error', reject);
    req.end(sent.body);
  });
}

const describeSent = (sent: Sent) =>
  `${sent.method ?? 'GET'} ${sent.path} ${JSON.stringify({ ...sent.headers, anonymous: sent.anonymous })}`;

/** The requests, in order; `id` is a context with messages and a branch, `other` one more. */
function requests(id: string, other: string, version: number): Sent[] {
  const ctx = `/v1/contexts/${id}`;
  const page = `${ctx}/messages`;
  return [
    { path: ctx }, // not resident yet: loaded, read, cached (hono)
    { path: ctx }, // a hit
    { path: ctx, headers: { 'x-trace-id': 'given-trace.1' } },
    { path: ctx, headers: { 'x-trace-id': 'not a trace id!' } },
    { path: ctx, headers: { 'if-none-match': `"${version}"` } }, // 304
    { path: ctx, headers: { 'if-none-match': `W/"0", "${version}"` } },
    { path: ctx, headers: { 'if-none-match': '*' } },
    { path: ctx, headers: { 'if-none-match': '"999"' } }, // 200
    { path: ctx.toUpperCase().replace('/V1/CONTEXTS/', '/v1/contexts/') }, // upper-case id
    { path: ctx, anonymous: true }, // no token: 401
    { path: ctx, anonymous: true, headers: { authorization: 'Bearer wrong' } },
    { path: ctx, anonymous: true, headers: { authorization: `bearer ${TOKEN}` } },
    { path: ctx, anonymous: true, headers: { authorization: `Basic ${TOKEN}` } },
    { path: ctx, headers: { authorization: [`Bearer ${TOKEN}`, `Bearer ${TOKEN}`] } },
    { path: ctx, method: 'HEAD' },
    { path: ctx, method: 'HEAD', headers: { 'if-none-match': `"${version}"` } },
    { path: ctx, method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' },
    { path: ctx, method: 'OPTIONS' },
    { path: `${ctx}?x=1` },
    { path: `${ctx}/` },
    { path: `/${ctx}` },
    { path: `${ctx}/../${id}` },
    { path: ctx.replace(/.$/, (c) => `%${c.charCodeAt(0).toString(16)}`) },
    { path: ctx, headers: { host: '1.2.3' } }, // the adapter answers 400
    { path: ctx, headers: { host: 'localhost:80' } },
    { path: ctx, headers: { 'content-length': '2' }, body: '{}' },
    { path: `/v1/contexts/${UNKNOWN_ID}` },
    { path: '/v1/contexts/not-a-uuid' },
    { path: `${ctx}/state` },
    { path: `${ctx}/state` },
    { path: `${ctx}/state`, headers: { 'if-none-match': `"${version}"` } },
    { path: `${ctx}/state?x=1` },
    { path: page },
    { path: page },
    { path: `${page}?limit=2&offset=1` },
    { path: `${page}?limit=2&offset=1` },
    { path: `${page}?offset=1&limit=2` },
    { path: `${page}?branch=side` },
    { path: `${page}?branch=side` },
    { path: `${page}?branch=nope` }, // 404 branch
    { path: `${page}?branch=nope` },
    { path: `${page}?limit=0` },
    { path: `${page}?limit=1001` },
    { path: `${page}?limit=abc` },
    { path: `${page}?offset=-1` },
    { path: `${page}?limit=2&limit=3` }, // hono takes the first
    { path: `${page}?limit=2&foo=1` },
    { path: `${page}?limit` },
    { path: `${page}?` },
    { path: `${page}?branch=.bad` },
    { path: `${page}?branch=a%20b` },
    { path: `${page}?limit=+2` },
    { path: page, headers: { 'if-none-match': '*' } },
    { path: page, method: 'HEAD' },
    { path: page, anonymous: true },
    { path: `/v1/contexts/${other}/messages?limit=1` }, // not resident yet
    { path: `/v1/contexts/${other}/messages?limit=1` },
    { path: `/v1/contexts/${other}` },
    { path: `/v1/contexts/${other}` },
    { path: '/v1/contexts?limit=1' },
    { path: '/health' },
  ];
}

interface LogLine {
  msg?: string;
  traceId?: string;
  [key: string]: unknown;
}

/** The access-log line of each answer (none where the adapter answered alone), normalised. */
async function accessLines(server: ServerProcess, answers: Answer[]): Promise<string[]> {
  const byTrace = new Map<string, LogLine>();
  const deadline = Date.now() + 5_000;
  const wanted = answers.filter((a) => a.traceId !== undefined).length;
  while (byTrace.size < wanted && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    for (const line of server.logs) {
      const entry = JSON.parse(line) as LogLine;
      if (entry.msg === 'request' && entry.traceId !== undefined) byTrace.set(entry.traceId, entry);
    }
  }
  return answers.map((a) => {
    const line = a.traceId === undefined ? undefined : byTrace.get(a.traceId);
    if (line === undefined) return `${a.request}: no access-log line`;
    const { time: _t, pid: _p, durationMs, traceId, ...rest } = line;
    expect(typeof durationMs).toBe('number');
    const trace = a.headers.some((h) => h.endsWith('(made by the server)')) ? '(made)' : traceId;
    return `${a.request}: ${JSON.stringify({ ...rest, traceId: trace })}`;
  });
}

/**
 * `/metrics` but what timing or the path itself decides: the request counts, and every
 * series of the server's own (answer cache, reads, locks, workers, storage, memory).
 */
async function counts(base: string): Promise<string[]> {
  const text = (await request(`${base}/metrics`)).text;
  return text
    .split('\n')
    .filter((line) => /^(http_requests_total|http_request_duration_seconds_count|ccs_)/.test(line))
    .filter((line) => !/^ccs_fast_reads_total|^ccs_\w+_seconds_/.test(line))
    .sort();
}

/** How many requests of `requests()` the path answers (see where it is checked). */
const FAST_ANSWERS = 20;

const etagOf = (answer: Answer) =>
  answer.headers.find((h) => h.toLowerCase().startsWith('etag: '))?.slice('etag: '.length);

async function fastAnswers(base: string): Promise<number> {
  const text = (await request(`${base}/metrics`)).text;
  return Number(/^ccs_fast_reads_total (\d+)/m.exec(text)?.[1]);
}

describe('fast read path: the same answers as hono', () => {
  const data = useDataDir('ccs-fast-reads-');
  let withFastPath: ServerProcess;
  let honoOnly: ServerProcess;
  let sequence: Sent[];
  let ids: { ctx: string; version: number };

  beforeAll(async () => {
    const seedDir = join(data.dir, 'seed');
    mkdirSync(seedDir);
    const seeder = await startServerProcess(seedDir, { WORKERS: '1' });
    const ctx = await createContext(seeder.url);
    for (const text of ['one', 'two', 'three']) await appendMessage(seeder.url, ctx.id, text);
    const fork = await request(`${seeder.url}/v1/contexts/${ctx.id}/branches`, {
      method: 'POST',
      json: { name: 'side' },
    });
    expect(fork.status).toBe(201);
    const other = await createContext(seeder.url);
    await appendMessage(seeder.url, other.id, 'hello');
    const { body } = await request<{ version: number }>(`${seeder.url}/v1/contexts/${ctx.id}`);
    await seeder.stop();
    sequence = requests(ctx.id, other.id, body.version);
    ids = { ctx: ctx.id, version: body.version };
    cpSync(seedDir, join(data.dir, 'fast'), { recursive: true });
    cpSync(seedDir, join(data.dir, 'hono'), { recursive: true });
    [withFastPath, honoOnly] = await Promise.all([
      startServerProcess(join(data.dir, 'fast'), ENV),
      startServerProcess(join(data.dir, 'hono'), ENV, [HONO_ONLY]),
    ]);
  });

  afterAll(async () => {
    await Promise.all([withFastPath?.stop(), honoOnly?.stop()]);
  });

  test('every answer, metric count and access-log line is the same', async () => {
    const fast: Answer[] = [];
    const hono: Answer[] = [];
    for (const sent of sequence) {
      fast.push(await send(withFastPath.url, sent));
      hono.push(await send(honoOnly.url, sent));
    }
    const strip = ({ traceId: _, ...answer }: Answer) => answer;
    expect(fast.map(strip)).toEqual(hono.map(strip));
    expect(await counts(withFastPath.url)).toEqual(await counts(honoOnly.url));
    expect(await accessLines(withFastPath, fast)).toEqual(await accessLines(honoOnly, hono));

    // Not vacuous: the path answered the hits, and the list has every kind of answer.
    const served = (await request(`${withFastPath.url}/metrics`)).text;
    const answered = Number(/^ccs_fast_reads_total (\d+)/m.exec(served)?.[1]);
    // The hits of the list: 11 of the context (3 of them 304s; the upper-case id, the
    // duplicated Authorization, `localhost:80` and a GET with a body among them), 2 of its
    // state (one 304), 5 pages (the first of each query a miss; the `offset=1&limit=2`
    // spelling and `If-None-Match: *` are hits), 1 of `other`'s page, 1 of `other`.
    expect(answered).toBe(FAST_ANSWERS);
    const statuses = new Set(fast.map((a) => a.status));
    for (const status of [200, 304, 400, 401, 404]) expect(statuses).toContain(status);
    // Only the server that has the path counts it.
    expect((await request(`${honoOnly.url}/metrics`)).text).not.toMatch(/ccs_fast_reads_total/);
  });

  test('after a write, both answer the new version: never a stale cached answer', async () => {
    const ctx = `/v1/contexts/${ids.ctx}`;
    const warm = async (base: string) => {
      // Cached (and, with the path, answered before hono) at the old version.
      for (const path of [ctx, `${ctx}/state`, `${ctx}/messages`]) await send(base, { path });
    };
    await warm(withFastPath.url);
    await warm(honoOnly.url);
    const fastBefore = await fastAnswers(withFastPath.url);
    for (const server of [withFastPath, honoOnly]) {
      const appended = await request<{ id: string }>(`${server.url}${ctx}/messages`, {
        method: 'POST',
        json: { role: 'user', content: 'after the hits' },
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      expect(appended.status).toBe(201);
      const newTag = appended.headers.get('etag');
      expect(newTag).not.toBe(`"${ids.version}"`);
      for (let round = 0; round < 2; round++) {
        const dto = await send(server.url, { path: ctx });
        expect(dto.status).toBe(200);
        expect(etagOf(dto)).toBe(newTag);
        const old = await send(server.url, {
          path: ctx,
          headers: { 'if-none-match': `"${ids.version}"` },
        });
        expect(old.status).toBe(200);
        expect(etagOf(old)).toBe(newTag);
        const page = await send(server.url, { path: `${ctx}/messages` });
        expect(page.status).toBe(200);
        const { messages } = JSON.parse(page.body) as { messages: { id: string }[] };
        expect(messages.at(-1)?.id).toBe(appended.body.id);
      }
    }
    // Round one: the context and the page are misses (read through again, cached at the new
    // version), the conditional GET after them a hit; round two: three hits.
    expect((await fastAnswers(withFastPath.url)) - fastBefore).toBe(1 + 3);
  });
});
