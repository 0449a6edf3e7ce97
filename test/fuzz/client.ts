import { Agent, request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import type { FuzzRequest } from './requests.js';

/** What came back: a status and body, or why nothing did. */
export interface FuzzResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** Set when no complete response arrived (socket error, timeout). */
  failure?: string;
}

/** Sends fuzz requests to one server: keep-alive for ordinary ones, a socket each for raw. */
export class FuzzClient {
  private readonly agent: Agent;
  private readonly host: string;
  private readonly port: number;

  constructor(
    baseUrl: string,
    maxSockets: number,
    private readonly timeoutMs = 30_000,
  ) {
    const url = new URL(baseUrl);
    this.host = url.hostname;
    this.port = Number(url.port);
    this.agent = new Agent({ keepAlive: true, maxSockets });
  }

  close(): void {
    this.agent.destroy();
  }

  send(req: FuzzRequest): Promise<FuzzResponse> {
    return req.raw === undefined ? this.sendHttp(req) : this.sendRaw(req.raw);
  }

  private sendHttp(req: FuzzRequest): Promise<FuzzResponse> {
    // A body the server may refuse before reading it (413) goes on its own connection, so
    // an unread remainder cannot poison a kept-alive socket.
    const big = (req.body?.length ?? 0) > 16 * 1024;
    return new Promise((resolve) => {
      let settled = false;
      const done = (res: FuzzResponse) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(res);
      };
      const headers: Record<string, string | number> = { ...req.headers };
      if (req.body !== undefined) headers['content-length'] = req.body.length;
      let call: ReturnType<typeof httpRequest>;
      try {
        call = httpRequest(
          {
            host: this.host,
            port: this.port,
            method: req.method,
            path: req.path,
            headers,
            agent: big ? false : this.agent,
          },
          (res) => {
            const status = res.statusCode ?? 0;
            if (req.sse && status === 200) {
              // An event stream stays open: the head is the answer; hang up.
              res.destroy();
              done({ status, headers: res.headers, body: Buffer.alloc(0) });
              return;
            }
            const chunks: Buffer[] = [];
            res.on('data', (chunk: Buffer) => chunks.push(chunk));
            res.on('end', () =>
              done({ status, headers: res.headers, body: Buffer.concat(chunks) }),
            );
            res.on('error', (err) =>
              done({
                status,
                headers: res.headers,
                body: Buffer.concat(chunks),
                failure: err.message,
              }),
            );
          },
        );
      } catch (err) {
        // The client refuses to send it (a test bug, not a server fault): say so.
        throw new Error(`cannot send ${req.method} ${req.path}: ${(err as Error).message}`);
      }
      const timer = setTimeout(() => {
        call.destroy();
        done({
          status: 0,
          headers: {},
          body: Buffer.alloc(0),
          failure: `timeout ${this.timeoutMs} ms`,
        });
      }, this.timeoutMs);
      call.on('error', (err) =>
        done({ status: 0, headers: {}, body: Buffer.alloc(0), failure: err.message }),
      );
      call.end(req.body);
    });
  }

  /** Writes `bytes` on a fresh connection and parses the first response, however it ends. */
  private sendRaw(bytes: Buffer): Promise<FuzzResponse> {
    return new Promise((resolve) => {
      const socket = connect({ host: this.host, port: this.port });
      const chunks: Buffer[] = [];
      const finish = (failure?: string) => {
        clearTimeout(timer);
        socket.destroy();
        const parsed = parseRawResponse(Buffer.concat(chunks));
        resolve(
          parsed ?? {
            status: 0,
            headers: {},
            body: Buffer.alloc(0),
            failure: failure ?? 'closed without a response',
          },
        );
      };
      const timer = setTimeout(() => finish(`timeout ${this.timeoutMs} ms`), this.timeoutMs);
      socket.on('connect', () => socket.end(bytes));
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('end', () => finish());
      socket.on('error', (err) => finish(err.message));
    });
  }
}

/** The first HTTP response in `data` (content-length, chunked or to the end), if any. */
export function parseRawResponse(data: Buffer): FuzzResponse | undefined {
  const headEnd = data.indexOf('\r\n\r\n');
  if (headEnd < 0) return undefined;
  const lines = data.subarray(0, headEnd).toString('latin1').split('\r\n');
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  if (!match) return undefined;
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0)
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = data.subarray(headEnd + 4);
  if (headers['content-length'] !== undefined) {
    body = body.subarray(0, Number(headers['content-length']));
  } else if (headers['transfer-encoding']?.toLowerCase() === 'chunked') {
    body = dechunk(body);
  }
  return { status: Number(match[1]), headers, body };
}

function dechunk(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  while (at < data.length) {
    const lineEnd = data.indexOf('\r\n', at);
    if (lineEnd < 0) break;
    const size = Number.parseInt(data.subarray(at, lineEnd).toString('latin1'), 16);
    if (!Number.isFinite(size) || size === 0) break;
    parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(parts);
}
