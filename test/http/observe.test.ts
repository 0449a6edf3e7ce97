import { beforeAll, describe, expect, test } from 'vitest';
import { appendMessage, createContext, fetchAt, request } from '../support/http.js';
import { useApp } from '../support/in-process.js';
import { type ServerProcess, useServer } from '../support/server-process.js';
import { type Scrape, scrape } from '../work/metrics.js';

const MESSAGES = '/v1/contexts/:id/messages';
const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';

/** A sample of `name` with the request labels as the server prints them. */
function series(s: Scrape, name: string, method: string, route: string, status: number): number {
  return s.get(`${name}{method="${method}",route="${route}",status="${status}"}`) ?? 0;
}

const requests = (s: Scrape, method: string, route: string, status: number) =>
  series(s, 'http_requests_total', method, route, status);

interface LogLine {
  msg?: string;
  traceId?: string;
  method?: string;
  route?: string;
  path?: string;
  status?: number;
  durationMs?: number;
}

/** The server's access-log lines for one trace id; waits (bounded) for them to arrive. */
async function accessLines(server: ServerProcess, traceId: string, want: number, waitMs = 5_000) {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const lines = server.logs
      .map((line) => JSON.parse(line) as LogLine)
      .filter((l) => l.msg === 'request' && l.traceId === traceId);
    if (lines.length >= want || Date.now() > deadline) return lines;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('HTTP metrics (in process)', () => {
  const server = useApp({ env: { WORKERS: '1' } });
  let id: string;

  beforeAll(async () => {
    id = (await createContext(server.url)).id;
    await appendMessage(server.url, id, 'hello');
  });

  test('counts and times requests by route template and status, never by raw path', async () => {
    const before = await scrape(server.url);
    for (let i = 0; i < 3; i++) {
      expect((await request(`${server.url}/v1/contexts/${id}/messages`)).status).toBe(200);
    }
    expect((await request(`${server.url}/v1/no/such/route`)).status).toBe(404);
    expect((await request(`${server.url}/v1/contexts/${id}/nope`, { method: 'POST' })).status).toBe(
      404,
    );
    expect((await request(`${server.url}/v1/contexts/not-a-uuid/messages`)).status).toBe(400);
    expect((await request(`${server.url}/v1/contexts/${UNKNOWN_ID}`)).status).toBe(404);
    const after = await scrape(server.url);

    const grew = (method: string, route: string, status: number) =>
      requests(after, method, route, status) - requests(before, method, route, status);
    expect(grew('GET', MESSAGES, 200)).toBe(3);
    expect(grew('GET', MESSAGES, 400)).toBe(1);
    expect(grew('GET', 'unmatched', 404)).toBe(1);
    expect(grew('POST', 'unmatched', 404)).toBe(1);
    expect(grew('GET', '/v1/contexts/:id', 404)).toBe(1);
    // Requests made in beforeAll are there too; the first scrape counts on the second.
    expect(requests(after, 'POST', '/v1/contexts', 201)).toBe(1);
    expect(requests(after, 'POST', MESSAGES, 201)).toBe(1);
    expect(requests(after, 'GET', '/metrics', 200)).toBe(1);

    // The histogram holds the same requests: count, +Inf bucket, a positive sum, and
    // cumulative buckets that never decrease.
    const hist = (suffix: string, extra = '') =>
      after.get(
        `http_request_duration_seconds_${suffix}{method="GET",route="${MESSAGES}",status="200"${extra}}`,
      );
    expect(hist('count')).toBe(3);
    expect(hist('bucket', ',le="+Inf"')).toBe(3);
    expect(hist('sum')).toBeGreaterThan(0);
    const buckets = [...after.entries()]
      .filter(([k]) =>
        k.startsWith(
          `http_request_duration_seconds_bucket{method="GET",route="${MESSAGES}",status="200"`,
        ),
      )
      .map(([, v]) => v);
    expect(buckets.length).toBeGreaterThan(10);
    expect(buckets).toEqual([...buckets].sort((a, b) => a - b));

    // No raw id reached a label: cardinality stays bounded by the routes.
    const text = await (await fetchAt(`${server.url}/metrics`)).text();
    expect(text).not.toContain(id);
    expect(text).not.toContain('not-a-uuid');
    expect(text).not.toContain('/v1/no/such/route');
  });
});

describe('the access log, from a real process', () => {
  const server = useServer({ env: { LOG_LEVEL: 'debug', WORKERS: '1' } });
  let id: string;

  beforeAll(async () => {
    id = (await createContext(server.url)).id;
    await appendMessage(server.url, id, 'hello');
  });

  test('writes one access-log line per request at debug, with trace id, route, status and duration', async () => {
    const traceId = 'observe-test-trace-1';
    const headers = { 'x-trace-id': traceId };
    expect((await request(`${server.url}/v1/contexts/${id}/messages`, { headers })).status).toBe(
      200,
    );
    expect((await request(`${server.url}/v1/nothing-here`, { headers })).status).toBe(404);
    const lines = await accessLines(server.process, traceId, 2);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({
      method: 'GET',
      route: MESSAGES,
      path: `/v1/contexts/${id}/messages`,
      status: 200,
    });
    expect(lines[1]).toMatchObject({ method: 'GET', route: 'unmatched', status: 404 });
    for (const line of lines) expect(line.durationMs).toBeGreaterThanOrEqual(0);
  });
});

describe('the label is the route that answered (in process)', () => {
  const server = useApp({ env: { API_TOKEN: 'observe-secret', WORKERS: '1' } });

  test('a 401 from the bearer check is labelled with its pattern, not the endpoint it guarded', async () => {
    const route = `${server.url}/v1/contexts/${UNKNOWN_ID}/messages`;
    expect((await request(route)).status).toBe(401);
    const authorized = { authorization: 'Bearer observe-secret' };
    expect((await request(route, { headers: authorized })).status).toBe(404);
    expect((await request(`${server.url}/no/such/route`)).status).toBe(404);
    const s = await scrape(server.url);
    expect(requests(s, 'GET', '/v1/*', 401)).toBe(1);
    expect(requests(s, 'GET', MESSAGES, 401)).toBe(0);
    expect(requests(s, 'GET', MESSAGES, 404)).toBe(1);
    expect(requests(s, 'GET', 'unmatched', 404)).toBe(1);
  });
});

describe('HTTP_METRICS=false at the default log level', () => {
  const server = useServer({ env: { HTTP_METRICS: 'false', WORKERS: '1' } });

  test('serves no HTTP request metrics and logs no access lines', async () => {
    const traceId = 'observe-test-off';
    await createContext(server.url);
    expect(
      (await request(`${server.url}/health`, { headers: { 'x-trace-id': traceId } })).status,
    ).toBe(200);
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).toContain('ccs_pool_threads');
    expect(text).not.toContain('http_requests_total');
    expect(text).not.toContain('http_request_duration_seconds');
    expect(await accessLines(server.process, traceId, 1, 1_000)).toHaveLength(0);
  });
});
