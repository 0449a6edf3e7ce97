import type { Server } from 'node:http';
import type { SseStreams } from '../events/sse-stream.js';
import type { Logger } from '../log.js';

/**
 * The HTTP half of a graceful shutdown: stop accepting, end every event stream with a
 * `shutdown` event (clients reconnect elsewhere), close keep-alive connections as soon as
 * they are idle, and let in-flight requests finish. Past `timeoutMs` the connections
 * left are destroyed (and logged): shutdown always ends.
 */
export async function drainHttp(
  server: Server,
  sse: SseStreams,
  turns: { readonly runningTurns: number },
  timeoutMs: number,
  log: Logger,
): Promise<void> {
  const closed = new Promise<void>((done) => server.close(() => done()));
  const streams = sse.endAll();
  server.closeIdleConnections();
  // A keep-alive connection becomes idle when its last request is answered: close it then.
  const sweep = setInterval(() => server.closeIdleConnections(), 50);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'late'>((done) => {
    timer = setTimeout(() => done('late'), timeoutMs);
  });
  try {
    if ((await Promise.race([closed, deadline])) === 'late') {
      const connections = await new Promise<number>((done) =>
        server.getConnections((err, count) => done(err ? -1 : count)),
      );
      log.warn(
        {
          connections,
          sseStreams: sse.size,
          runningTurns: turns.runningTurns,
          timeoutMs,
        },
        'shutdown deadline passed; destroying the connections left',
      );
      server.closeAllConnections();
      await closed;
    }
  } finally {
    clearInterval(sweep);
    clearTimeout(timer);
  }
  log.info({ sseStreamsEnded: streams }, 'HTTP drained');
}
