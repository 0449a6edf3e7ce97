import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** Entry points of the systems under test, as compiled into dist/. */
export const PRODUCT_MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));
export const BASELINE_MAIN = fileURLToPath(new URL('../baselines/server.js', import.meta.url));

export type SystemName =
  | 'product'
  | 'product-sync-under-lock'
  | 'product-before-issue-12'
  | 'product (answer cache off)'
  | 'mutex-clone'
  | 'single-thread'
  | 'ceiling';
export type BaselineKind = Exclude<
  SystemName,
  'product' | 'product-sync-under-lock' | 'product-before-issue-12' | 'product (answer cache off)'
>;

/**
 * The product as it was before group commit (`GROUP_COMMIT=false`: each write holds its
 * context's lock across its own fdatasync), run beside the product in S3 and S5 so that
 * their targets compare with it in the same run.
 */
export const SYNC_UNDER_LOCK = 'product-sync-under-lock';
export const SYNC_UNDER_LOCK_ENV = { GROUP_COMMIT: 'false' };

/**
 * The product as it was when issue 12 was filed ("today's code" of its S5 target): commit
 * a9894cd, built from git by the bench (bench/lib/old-build.ts) and run beside the product
 * in S5 with the same settings, on a copy of the same seeded data (the storage format is
 * unchanged since). Its settings then: PORT/--port, DATA_DIR/--data-dir, COMPACT_LOG_RATIO,
 * FSYNC (on by default), as today.
 */
export const BEFORE_ISSUE_12: SystemName = 'product-before-issue-12';
export const BEFORE_ISSUE_12_COMMIT = 'a9894cd';

/** The product with ANSWER_CACHE_MAX_BYTES=0: every read copies (or views) the records. */
export const PRODUCT_NO_CACHE: SystemName = 'product (answer cache off)';

export const BASELINES: readonly BaselineKind[] = ['mutex-clone', 'single-thread', 'ceiling'];

/** A server under test, running in its own child process. */
export interface ServerProcess {
  name: string;
  url: string;
  pid: number;
  proc: ChildProcess;
  /** SIGTERM, then SIGKILL after a grace period; resolves once the process has exited. */
  stop(graceMs?: number): Promise<void>;
}

export interface StartOptions {
  name: string;
  args: string[];
  env?: Record<string, string>;
  execArgv?: string[];
  timeoutMs?: number;
}

/**
 * Starts `node <execArgv> <args>` and resolves once it logs the JSON line
 * `{"msg":"listening","url":...}` on stdout (the product and the baselines both do).
 */
export async function startProcess(options: StartOptions): Promise<ServerProcess> {
  const proc = spawn(process.execPath, [...(options.execArgv ?? []), ...options.args], {
    env: { ...process.env, HOST: '127.0.0.1', LOG_LEVEL: 'info', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  proc.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const lines = createInterface({ input: proc.stdout! });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${options.name} did not start: ${stderr}`));
    }, options.timeoutMs ?? 30_000);
    lines.on('line', (line) => {
      if (!line.startsWith('{')) return;
      try {
        const entry = JSON.parse(line) as { msg?: string; url?: string; level?: number };
        if (entry.msg === 'listening' && entry.url) {
          clearTimeout(timer);
          resolve(entry.url);
        }
      } catch {
        // not a JSON line
      }
    });
    exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${options.name} exited before listening: ${stderr}`));
    });
  });
  return {
    name: options.name,
    url,
    pid: proc.pid!,
    proc,
    stop: async (graceMs = 10_000) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

export function startProduct(
  dataDir: string,
  options: {
    workers?: number;
    env?: Record<string, string>;
    execArgv?: string[];
    /** Another build's dist/src/main.js (default: this one's), and its name in logs. */
    main?: string;
    name?: string;
  } = {},
): Promise<ServerProcess> {
  const args = [options.main ?? PRODUCT_MAIN, '--port', '0', '--data-dir', dataDir];
  if (options.workers !== undefined) args.push('--workers', String(options.workers));
  return startProcess({
    name:
      options.name ??
      (options.workers === undefined ? 'product' : `product (${options.workers} workers)`),
    args,
    env: options.env ?? {},
    execArgv: options.execArgv ?? [],
  });
}

export function startBaseline(kind: BaselineKind, seedFile: string): Promise<ServerProcess> {
  return startProcess({
    name: kind,
    // --expose-gc: the baseline collects the garbage of loading its seed before it listens,
    // so its resident size is that of the data it serves (S6).
    execArgv: ['--expose-gc'],
    args: [BASELINE_MAIN, '--kind', kind, '--seed-file', seedFile, '--port', '0'],
    timeoutMs: 120_000,
  });
}

/** Resident set size of a process, in bytes (Linux /proc; 0 where unavailable). */
export function rssOf(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** CPU time (user + system, all threads) a process has used so far, in seconds. */
export function cpuSecondsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return (utime + stime) / 100; // USER_HZ is 100 on Linux
  } catch {
    return Number.NaN;
  }
}

/** CPU time (user + system) each thread of a process has used so far, in seconds, by tid. */
export function threadCpuOf(pid: number): Map<number, { name: string; seconds: number }> {
  const out = new Map<number, { name: string; seconds: number }>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(tid), { name, seconds: (Number(fields[11]) + Number(fields[12])) / 100 });
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

/** CPU time all cores of the machine have spent busy so far, in seconds (Linux /proc/stat). */
export function machineBusySeconds(): number {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const [, ...fields] = line.trim().split(/\s+/);
    const ticks = fields.map(Number);
    const total = ticks.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
    return (total - idle) / 100;
  } catch {
    return Number.NaN;
  }
}

/**
 * Waits until process `pid` uses less than `threshold` cores over a 200 ms window (a server
 * still working off requests of a finished run would steal CPU from the next one). Gives up
 * after `limitMs`; resolves to the seconds waited.
 */
export async function waitIdle(pid: number, threshold = 0.1, limitMs = 60_000): Promise<number> {
  const start = performance.now();
  let before = cpuSecondsOf(pid);
  while (performance.now() - start < limitMs) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    const now = cpuSecondsOf(pid);
    if (!Number.isFinite(now) || (now - before) / 0.2 < threshold) break;
    before = now;
  }
  return (performance.now() - start) / 1000;
}
