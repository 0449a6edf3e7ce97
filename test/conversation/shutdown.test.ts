import type { ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { afterAll, describe, expect, test } from 'vitest';
import { type Script, streamText, useFakeOpenAi } from '../support/fake-openai.js';
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

const sendMessage = (base: string, id: string, content: string) =>
  request<ActionBody>(`${base}/v1/contexts/${id}/actions/send_message`, {
    method: 'POST',
    json: { content },
  });

/** Resolves once the process has logged a line with `msg`; rejects past `timeoutMs`. */
function logged(
  server: ServerProcess,
  msg: string,
  timeoutMs = 20_000,
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const check = () => {
      for (const line of server.logs) {
        try {
          const entry = JSON.parse(line) as Record<string, unknown>;
          if (entry.msg === msg) return resolve(entry);
        } catch {
          // not a log line
        }
      }
      if (Date.now() > deadline) {
        return reject(new Error(`the server did not log "${msg}" within ${timeoutMs} ms`));
      }
      setTimeout(check, 20);
    };
    check();
  });
}

describe('graceful shutdown', () => {
  const data = makeDataDir();
  const fake = useFakeOpenAi();
  let upstreamOpened: () => void = () => {};
  afterAll(() => data.remove());

  const env = (extra: Record<string, string> = {}) =>
    fake.env({ LLM_TIMEOUT_MS: '30000', FSYNC: 'false', ...extra });

  /** Resolves when the next upstream request (a `slowUpstream`) has started streaming. */
  const upstreamOpens = () =>
    new Promise<void>((r) => {
      upstreamOpened = r;
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

  /** A server with SHUTDOWN_TIMEOUT_MS = `shutdownTimeoutMs`, and a new context on it. */
  async function startWithContext(shutdownTimeoutMs: string) {
    const server = await startServerProcess(
      data.dir,
      env({ SHUTDOWN_TIMEOUT_MS: shutdownTimeoutMs }),
    );
    try {
      return { server, id: (await createContext(server.url)).id };
    } catch (err) {
      server.proc.kill('SIGKILL');
      throw err;
    }
  }

  /**
   * A new process on the same data, with an upstream that answers: the context whose turn
   * the shutdown cut is Failed (`inspect` looks further), and the next send_message goes
   * through. Returns that answer's body.
   */
  async function expectFailedAfterRestart(
    id: string,
    inspect: (server: ServerProcess, state: ActionBody) => Promise<void> | void,
  ): Promise<ActionBody> {
    fake.script = (_req, res) => streamText(res, 'answered at last');
    const server = await startServerProcess(data.dir, env());
    try {
      const state = await request<ActionBody>(`${server.url}/v1/contexts/${id}/state`);
      expect(state.body.status).toBe('failed');
      await inspect(server, state.body);
      const next = await sendMessage(server.url, id, 'again');
      expect(next.status).toBe(200);
      return next.body;
    } finally {
      await server.stop();
    }
  }

  test('SIGTERM: the SSE stream gets `shutdown` and ends, the slow send_message is answered, exit 0', async () => {
    const { server, id } = await startWithContext('10000');
    try {
      const events = await openSse(`${server.url}/v1/contexts/${id}/events`);
      const opened = upstreamOpens();
      fake.script = slowUpstream(1500);
      const pending = sendMessage(server.url, id, 'take your time');
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

  test('a turn whose client left, on a hung upstream: SIGTERM aborts it, it is stored Failed before the workers stop, exit 0', async () => {
    const { server, id } = await startWithContext('1500');
    try {
      const opened = upstreamOpens();
      fake.script = slowUpstream(undefined); // never answers
      const client = new AbortController();
      const pending = fetch(`${server.url}/v1/contexts/${id}/actions/send_message`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ content: 'nobody waits for this answer' }),
        signal: client.signal,
      }).catch((err: unknown) => err);
      await opened;
      client.abort(); // the client leaves: no connection holds the shutdown back
      expect(await pending).toBeInstanceOf(Error);

      // exit 0, not main.ts's exit 1 at SHUTDOWN_TIMEOUT_MS + 5 s: it ended within the bound.
      expect(await server.stop()).toBe(0);
      const aborted = await logged(server, 'shutdown: aborting the turns still running', 1);
      expect(aborted.runningTurns).toBe(1);
    } finally {
      server.proc.kill('SIGKILL');
    }

    await expectFailedAfterRestart(id, async (restarted, state) => {
      // Settled by the shutdown, not by this start-up (which found nothing to settle).
      const listening = await logged(restarted, 'listening');
      expect(listening.interruptedTurns).toBe(0);
      expect(state.context?.state_detail?.error).toMatch(/shut down during this turn/);
    });
  }, 60_000);

  test('past SHUTDOWN_TIMEOUT_MS: a hung turn and a stalled reader are cut, exit 0, the turn is Failed after a restart', async () => {
    const { server, id } = await startWithContext('1000');
    try {
      const url = new URL(server.url);
      // A reader that never reads (its stream cannot even take the shutdown event).
      const stalled = connect(Number(url.port), url.hostname, () => {
        stalled.write(`GET /v1/contexts/${id}/events HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`);
        stalled.pause();
      });
      stalled.on('error', () => {});
      const opened = upstreamOpens();
      fake.script = slowUpstream(undefined); // never answers
      const pending = sendMessage(server.url, id, 'will you ever answer?').catch(
        (err: unknown) => err,
      );
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

    const next = await expectFailedAfterRestart(id, () => {});
    expect(next.status).toBe('idle');
  }, 60_000);
});
