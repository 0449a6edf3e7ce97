import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from 'vitest';

const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));

export interface ServerProcess {
  url: string;
  dataDir: string;
  proc: ChildProcess;
  /** Every stdout line so far (JSON log lines). */
  logs: string[];
  /** SIGTERM and wait for the process to exit; resolves to its exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL: no draining, no cleanup. */
  kill(): Promise<void>;
}

export function makeDataDir(prefix = 'ccs-test-'): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A fresh data directory for the enclosing `describe`, removed after its tests. */
export function useDataDir(prefix?: string): { dir: string } {
  const data = makeDataDir(prefix);
  afterAll(() => data.remove());
  return data;
}

/**
 * Starts the real server (`node dist/src/main.js`, or the script and arguments `entry`
 * names) on an ephemeral loopback port and resolves once it logs that it is listening.
 */
export async function startServerProcess(
  dataDir: string,
  env: Record<string, string> = {},
  entry: readonly string[] = [MAIN],
): Promise<ServerProcess> {
  const proc = spawn(process.execPath, [...entry, '--port', '0', '--data-dir', dataDir], {
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      WORKERS: '2',
      LOG_LEVEL: 'info',
      CHECKED_LOCKS: 'true',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  let stderr = '';
  proc.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) =>
    proc.once('exit', (code) => resolve(code)),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${stderr}`)), 15_000);
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      logs.push(line);
      try {
        const entry = JSON.parse(line) as { msg?: string; url?: string };
        if (entry.msg === 'listening' && entry.url) {
          clearTimeout(timer);
          resolve(entry.url);
        }
      } catch {
        // not a log line
      }
    });
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening: ${stderr}`));
    });
  });
  return {
    url,
    dataDir,
    proc,
    logs,
    stop: async () => {
      proc.kill('SIGTERM');
      return exited;
    },
    kill: async () => {
      proc.kill('SIGKILL');
      await exited;
    },
  };
}

export interface UsedServer {
  /** The running server's base URL (read it inside tests and hooks, not at collection). */
  readonly url: string;
  readonly dataDir: string;
  /** The process itself: its pid and log lines (read it inside tests and hooks). */
  readonly process: ServerProcess;
  /**
   * A new process on the same data directory and settings, once the last one has ended
   * (`process.stop()` or `process.kill()`): a restart in the middle of a test.
   */
  start(): Promise<void>;
}

/** How `useServer` and `useApp` (support/in-process.ts) set up the server they run. */
export interface UseServerOptions {
  /** Settings; a function is read when the server starts (after earlier `beforeAll`s). */
  env?: Record<string, string> | (() => Record<string, string>);
  /** The data directory's name prefix. */
  prefix?: string;
  /** Writes stored files the server must find at start-up into the data directory. */
  prepare?: (dataDir: string) => void;
  startTimeoutMs?: number;
}

/** The settings `options.env` stands for, read now. */
export function settingsOf(options: UseServerOptions): Record<string, string> | undefined {
  return typeof options.env === 'function' ? options.env() : options.env;
}

/**
 * A real server process for the enclosing `describe`: a fresh data directory, `prepare`
 * writes into it (stored files the server must find at start-up), then the server starts
 * before the tests; after them it is stopped and the directory removed. Hooks the caller
 * registers later run after the start.
 */
export function useServer(options: UseServerOptions = {}): UsedServer {
  const data = makeDataDir(options.prefix);
  let server: ServerProcess | undefined;
  const start = async () => {
    const env = settingsOf(options);
    server = await startServerProcess(data.dir, env);
  };
  beforeAll(async () => {
    options.prepare?.(data.dir);
    await start();
  }, options.startTimeoutMs);
  afterAll(async () => {
    await server?.stop();
    data.remove();
  });
  return {
    get url() {
      if (server === undefined) throw new Error('the server is not started yet');
      return server.url;
    },
    dataDir: data.dir,
    get process() {
      if (server === undefined) throw new Error('the server is not started yet');
      return server;
    },
    start: async () => {
      if (server?.proc.exitCode === null && server.proc.signalCode === null) {
        throw new Error('the server is still running: stop or kill it first');
      }
      await start();
    },
  };
}
