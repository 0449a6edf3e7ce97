import type { ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  type FakeOpenAi,
  type Script,
  startFakeOpenAi,
  streamText,
} from '../support/fake-openai.js';
import { createContext, request } from '../support/http.js';
import { makeDataDir, type ServerProcess, startServerProcess } from '../support/server-process.js';
import { openSse } from '../support/sse-client.js';

/**
 * SIGTERM with an open event stream and a slow turn in flight: the stream gets a final
 * `shutdown` event and ends, the in-flight request is answered, the process exits 0. Past
 * SHUTDOWN_TIMEOUT_MS, what is left is cut and the process still exits 0.
 */
interface ActionBody {
  status?: string;
  context?: { state_detail: { error: string } | null };
}

/** Resolves once the process has logged a line with `msg` (bounded by the test timeout). */
function logged(server: ServerProcess, msg: string): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    const check = () => {
      for (const line of server.logs) {
        try {
          const entry = JSON.parse(line) as Record<string, unknown>;
          if (entry.msg === msg) return resolve(entry);
        } catch {
          // not a log line
        }
      }
      setTimeout(check, 20);
    };
    check();
  });
}

describe('graceful shutdown', () => {
  const data = makeDataDir();
  let fake: FakeOpenAi;
  let script: Script = (_req, res) => streamText(res, 'unused');
  let upstreamOpened: () => void = () => {};

  beforeAll(async () => {
    fake = await startFakeOpenAi((req, res) => script(req, res));
  });
  afterAll(async () => {
    await fake?.close();
    data.remove();
  });

  const env = (extra: Record<string, string> = {}) => ({
    LLM_PROVIDER: 'openai',
    LLM_BASE_URL: fake.url,
    LLM_TIMEOUT_MS: '30000',
    FSYNC: 'false',
    ...extra,
  });

  /** An upstream that starts streaming, then answers after `releaseAfterMs` (or never). */
  const slowUpstream =
    (releaseAfterMs: number | undefined): Script =>
    (_req, res: ServerResponse) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(
        `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'thinking… ' } }] })}\n\n`,
      );
      upstreamOpened();
      if (releaseAfterMs !== undefined) setTimeout(() => streamText(res, 'done'), releaseAfterMs);
    };

  test('SIGTERM: the SSE stream gets `shutdown` and ends, the slow send_message is answered, exit 0', async () => {
    const server = await startServerProcess(data.dir, env({ SHUTDOWN_TIMEOUT_MS: '10000' }));
    try {
      const { id } = await createContext(server.url);
      const events = await openSse(`${server.url}/v1/contexts/${id}/events`);
      const opened = new Promise<void>((r) => {
        upstreamOpened = r;
      });
      script = slowUpstream(1500);
      const pending = request<ActionBody>(`${server.url}/v1/contexts/${id}/actions/send_message`, {
        method: 'POST',
        json: { content: 'take your time' },
      });
      await opened;

      const exited = server.stop(); // SIGTERM while the turn waits for the LLM
      await events.waitFor((e) => e.event === 'shutdown');
      await events.ended;
      const answered = await pending;
      expect(answered.status).toBe(200);
      expect(answered.body.status).toBe('idle');
      expect(await exited).toBe(0);
      expect(server.logs.some((l) => l.includes('shutdown deadline passed'))).toBe(false);
    } finally {
      server.proc.kill('SIGKILL');
    }
  }, 60_000);

  test('past SHUTDOWN_TIMEOUT_MS: a hung turn and a stalled reader are cut, exit 0, the turn is Failed after a restart', async () => {
    let server = await startServerProcess(data.dir, env({ SHUTDOWN_TIMEOUT_MS: '1000' }));
    let id = '';
    try {
      ({ id } = await createContext(server.url));
      const url = new URL(server.url);
      // A reader that never reads (its stream cannot even take the shutdown event).
      const stalled = connect(Number(url.port), url.hostname, () => {
        stalled.write(`GET /v1/contexts/${id}/events HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`);
        stalled.pause();
      });
      stalled.on('error', () => {});
      const opened = new Promise<void>((r) => {
        upstreamOpened = r;
      });
      script = slowUpstream(undefined); // never answers
      const pending = request(`${server.url}/v1/contexts/${id}/actions/send_message`, {
        method: 'POST',
        json: { content: 'will you ever answer?' },
      }).catch((err: unknown) => err);
      await opened;

      const exited = server.stop();
      const cut = await logged(server, 'shutdown deadline passed; destroying the connections left');
      expect(cut.connections).toBeGreaterThanOrEqual(1);
      expect(cut.runningTurns).toBe(1);
      expect(await exited).toBe(0);
      expect(await pending).toBeInstanceOf(Error); // its connection was cut
      stalled.destroy();
    } finally {
      server.proc.kill('SIGKILL');
    }

    script = (_req, res) => streamText(res, 'answered at last');
    server = await startServerProcess(data.dir, env());
    try {
      const state = await request<ActionBody>(`${server.url}/v1/contexts/${id}/state`);
      expect(state.body.status).toBe('failed');
      const next = await request<ActionBody>(
        `${server.url}/v1/contexts/${id}/actions/send_message`,
        { method: 'POST', json: { content: 'again' } },
      );
      expect(next.status).toBe(200);
      expect(next.body.status).toBe('idle');
    } finally {
      await server.stop();
    }
  }, 60_000);
});
