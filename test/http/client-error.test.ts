import net from 'node:net';
import { describe, expect, test } from 'vitest';
import { request } from '../support/http.js';
import { useServer } from '../support/server-process.js';

/**
 * Requests Node's HTTP parser rejects never reach the app; the server's `clientError`
 * handler answers them with the same `{error, code}` JSON body as every other error (Node's
 * default answer has no body), then closes the connection. Raw sockets, since no HTTP
 * client will send these.
 */

interface RawResponse {
  status: number;
  headers: Map<string, string>;
  body: string;
}

/**
 * Writes `bytes` to the server (and `then` once the first answer arrives) and reads until
 * the server closes the connection (5 s deadline).
 */
function exchange(url: string, bytes: string, then?: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close within 5 s; got: ${Buffer.concat(chunks).toString()}`));
    }, 5_000);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (then !== undefined && chunks.length === 1) socket.write(then);
    });
    // The server may reset after answering while we are still writing: keep what arrived.
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    socket.write(bytes);
  });
}

/** Splits a stream of HTTP/1.1 responses (each with Content-Length) into responses. */
function parseResponses(raw: string): RawResponse[] {
  const responses: RawResponse[] = [];
  let rest = raw;
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) throw new Error(`incomplete response: ${JSON.stringify(rest)}`);
    const [statusLine, ...lines] = rest.slice(0, end).split('\r\n');
    const headers = new Map(
      lines.map((l) => [
        l.slice(0, l.indexOf(':')).toLowerCase(),
        l.slice(l.indexOf(':') + 1).trim(),
      ]),
    );
    const length = Number(headers.get('content-length') ?? 0);
    responses.push({
      status: Number(statusLine!.split(' ')[1]),
      headers,
      body: rest.slice(end + 4, end + 4 + length),
    });
    rest = rest.slice(end + 4 + length);
  }
  return responses;
}

describe('requests the HTTP parser rejects get a JSON error (real socket)', () => {
  const live = useServer({ prefix: 'ccs-client-error-' });

  const expectJsonError = (res: RawResponse | undefined, status: number, code: string) => {
    expect(res?.status).toBe(status);
    expect(res!.headers.get('content-type')).toBe('application/json');
    expect(res!.headers.get('connection')).toBe('close');
    expect(JSON.parse(res!.body)).toEqual({ error: expect.any(String), code });
  };

  test('headers over the limit → 431 headers_too_large', async () => {
    const huge = `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`;
    const [res] = parseResponses(await exchange(live.url, huge));
    expectJsonError(res, 431, 'headers_too_large');
  });

  test.each([
    ['a request line that is not HTTP', 'NOT HTTP AT ALL\r\n\r\n'],
    [
      'a bad Content-Length',
      'POST /v1/contexts HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n',
    ],
    ['a control character in a header', 'GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\u0001b\r\n\r\n'],
    [
      'both Content-Length and chunked',
      'POST /v1/contexts HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    ],
  ])('%s → 400 bad_request', async (_name, bytes) => {
    const [res] = parseResponses(await exchange(live.url, bytes));
    expectJsonError(res, 400, 'bad_request');
  });

  test('a bad chunk inside the body of the request being answered → 400 bad_request', async () => {
    // The parser fails after the request reached the app, before any answer was written:
    // the 400 is that request's answer (not a dropped connection).
    const bytes =
      'POST /v1/contexts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
      'Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n';
    const [res] = parseResponses(await exchange(live.url, bytes));
    expectJsonError(res, 400, 'bad_request');
  });

  test('after a good request on a kept-alive connection, the bad one still gets its answer', async () => {
    // The second request is sent once the first is answered: while an answer is still being
    // written, the handler can only drop the connection (raw bytes would interleave).
    const good = 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n';
    const raw = await exchange(live.url, good, 'BROKEN\r\n\r\n');
    const [ok, bad] = parseResponses(raw);
    expect(ok?.status).toBe(200);
    expectJsonError(bad, 400, 'bad_request');
  });

  test('the server keeps serving', async () => {
    expect((await request(`${live.url}/health`)).status).toBe(200);
  });
});
