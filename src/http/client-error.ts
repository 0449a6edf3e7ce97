import type { Duplex } from 'node:stream';

/** Node's parser errors with an answer of their own (as Node's default handler maps them). */
const ANSWERS: Record<string, { status: number; reason: string; code: string; error: string }> = {
  HPE_HEADER_OVERFLOW: {
    status: 431,
    reason: 'Request Header Fields Too Large',
    code: 'headers_too_large',
    error: 'the request headers are too large',
  },
  HPE_CHUNK_EXTENSIONS_OVERFLOW: {
    status: 413,
    reason: 'Payload Too Large',
    code: 'payload_too_large',
    error: 'the chunk extensions are too large',
  },
  ERR_HTTP_REQUEST_TIMEOUT: {
    status: 408,
    reason: 'Request Timeout',
    code: 'request_timeout',
    error: 'the request was not received in time',
  },
};
interface PendingResponse {
  headersSent?: boolean;
  req?: { complete?: boolean };
}

const BAD_REQUEST = {
  status: 400,
  reason: 'Bad Request',
  code: 'bad_request',
  error: 'the request is not valid HTTP',
};

/**
 * The server's `clientError` handler: a request Node's HTTP parser rejects never reaches
 * the app, so its answer (431, 413, 408 or 400) is written to the socket here, with the same
 * `{error, code}` JSON body as every other error, and the connection is closed. When the
 * socket is already gone, or a response to an earlier request on it is still being written
 * (raw bytes would interleave with it), the socket is only destroyed.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  const pending = (socket as { _httpMessage?: PendingResponse | null })._httpMessage;
  // The parser can also fail inside the body of the request being answered (a bad chunk):
  // nothing of its answer is written yet, so the 400 is its answer. A pending response to a
  // complete earlier request is another matter (its bytes would interleave).
  const ownBodyFailed =
    pending != null && pending.headersSent === false && pending.req?.complete === false;
  if (
    err.code === 'ECONNRESET' ||
    !socket.writable ||
    (pending !== undefined && pending !== null && !ownBodyFailed)
  ) {
    socket.destroy();
    return;
  }
  const answer = (err.code !== undefined && ANSWERS[err.code]) || BAD_REQUEST;
  const body = JSON.stringify({ error: answer.error, code: answer.code });
  socket.end(
    `HTTP/1.1 ${answer.status} ${answer.reason}\r\n` +
      'Content-Type: application/json\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
    () => socket.destroy(),
  );
}
