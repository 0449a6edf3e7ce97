import { afterAll, beforeAll } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { buildServer, type ServerApp } from '../../src/server.js';
import { answerInProcess } from './http.js';
import { makeDataDir, settingsOf, type UseServerOptions } from './server-process.js';

export interface UsedApp {
  /**
   * The origin the app answers at (read it inside tests and hooks, not at collection):
   * `request()` and `fetchAt()` (support/http.ts) hand a URL under it to `app.request()`,
   * no socket involved.
   */
  readonly url: string;
  readonly dataDir: string;
  /** The app and its parts (read it inside tests and hooks). */
  readonly server: ServerApp;
}

let apps = 0;

/**
 * The server's app in this process, for the enclosing `describe`: built like `startServer`
 * builds it (real storage in a fresh data directory, shared memory, a real piscina pool of
 * worker threads), minus the socket. The same settings as `useServer` (support/
 * server-process.ts), logs silenced; `prepare` writes stored files the app must find at
 * start-up. After the tests it is stopped and the directory removed.
 */
export function useApp(options: UseServerOptions = {}): UsedApp {
  const data = makeDataDir(options.prefix);
  const url = `http://in-process-${++apps}.test`;
  let server: ServerApp | undefined;
  let forget: (() => void) | undefined;
  beforeAll(async () => {
    options.prepare?.(data.dir);
    const config = loadConfig(['--port', '0', '--data-dir', data.dir], {
      ...process.env,
      HOST: '127.0.0.1',
      WORKERS: '2',
      LOG_LEVEL: 'silent',
      CHECKED_LOCKS: 'true',
      ...settingsOf(options),
    });
    server = await buildServer(config);
    forget = answerInProcess(url, server.app);
  }, options.startTimeoutMs);
  afterAll(async () => {
    forget?.();
    await server?.stop(0);
    data.remove();
  });
  return {
    url,
    dataDir: data.dir,
    get server() {
      if (server === undefined) throw new Error('the app is not built yet');
      return server;
    },
  };
}
