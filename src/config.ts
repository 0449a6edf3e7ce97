import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';

/**
 * Server configuration. Every setting comes from an environment variable with a matching
 * command-line flag (`--lock-timeout-ms 500` for `LOCK_TIMEOUT_MS`); flags win over the
 * environment, and every setting has a default that is safe on a developer laptop.
 */
export interface Config {
  port: number;
  host: string;
  dataDir: string;
  workers: number;
  cacheMaxContexts: number;
  cacheMaxBytes: number;
  arenaMaxBytes: number;
  lockTimeoutMs: number;
  maxBodyBytes: number;
  maxQueue: number;
  logLevel: string;
  llmProvider: 'builtin' | 'openai';
  llmBaseUrl: string | undefined;
  llmApiKey: string | undefined;
  llmTimeoutMs: number;
  apiToken: string | undefined;
  fsync: boolean;
  groupCommit: boolean;
  faultSyncDelayMs: number;
  compactLogRatio: number;
  compactMinLogBytes: number;
  compactAfterRecords: number;
  mainThreadReads: boolean;
  checkedLocks: boolean;
  faultInjection: boolean;
  longWaitMs: number;
  shutdownTimeoutMs: number;
  sseMaxQueuedEvents: number;
  sseMaxQueuedBytes: number;
  sseMaxHeldBytes: number;
  httpMetrics: boolean;
  answerCacheMaxBytes: number;
  zeroCopyMinBytes: number;
}

/** How a setting is read; its variable is its key in upper snake case (`LOCK_TIMEOUT_MS`). */
interface Setting<K extends keyof Config> {
  parse: (raw: string) => Config[K];
  fallback: () => Config[K];
}

const MiB = 1024 * 1024;

function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (raw: string): number => {
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new Error(`expected an integer in [${min}, ${max}], got "${raw}"`);
    }
    return value;
  };
}

function decimal(min: number, max: number) {
  return (raw: string): number => {
    const value = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(value) || value < min || value > max) {
      throw new Error(`expected a number in [${min}, ${max}], got "${raw}"`);
    }
    return value;
  };
}

function boolean(raw: string): boolean {
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new Error(`expected a boolean, got "${raw}"`);
}

const text = (raw: string): string => raw;
const optionalText = (raw: string): string | undefined => (raw === '' ? undefined : raw);

const settings: { [K in keyof Config]: Setting<K> } = {
  port: { parse: integer(0, 65535), fallback: () => 8080 },
  host: { parse: text, fallback: () => '127.0.0.1' },
  dataDir: { parse: text, fallback: () => './data' },
  workers: { parse: integer(1, 256), fallback: () => availableParallelism() },
  cacheMaxContexts: { parse: integer(1, 1_000_000), fallback: () => 4096 },
  cacheMaxBytes: { parse: integer(MiB), fallback: () => 512 * MiB },
  arenaMaxBytes: { parse: integer(16 * MiB, 2 ** 32), fallback: () => 2 ** 32 },
  lockTimeoutMs: { parse: integer(1, 600_000), fallback: () => 5000 },
  maxBodyBytes: { parse: integer(1024, 64 * MiB), fallback: () => MiB },
  maxQueue: { parse: integer(1), fallback: () => 4096 },
  logLevel: { parse: text, fallback: () => 'info' },
  llmProvider: {
    parse: (raw) => {
      if (raw !== 'builtin' && raw !== 'openai') throw new Error(`unknown provider "${raw}"`);
      return raw;
    },
    fallback: () => 'builtin',
  },
  llmBaseUrl: { parse: optionalText, fallback: () => undefined },
  llmApiKey: { parse: optionalText, fallback: () => undefined },
  llmTimeoutMs: { parse: integer(1, 3_600_000), fallback: () => 60_000 },
  apiToken: { parse: optionalText, fallback: () => undefined },
  fsync: { parse: boolean, fallback: () => true },
  groupCommit: { parse: boolean, fallback: () => true },
  // Tests only, and only with FAULT_INJECTION (see storage/fault-syncs.ts).
  faultSyncDelayMs: { parse: integer(0, 10_000), fallback: () => 0 },
  faultInjection: { parse: boolean, fallback: () => false },
  checkedLocks: { parse: boolean, fallback: () => false },
  longWaitMs: { parse: integer(1, 600_000), fallback: () => 1000 },
  mainThreadReads: { parse: boolean, fallback: () => true },
  compactLogRatio: { parse: decimal(0.01, 100), fallback: () => 1 },
  compactMinLogBytes: { parse: integer(0, 2 ** 31), fallback: () => MiB },
  // Count-based compaction, kept as an extra trigger for tests (0: off, the default).
  compactAfterRecords: { parse: integer(0), fallback: () => 0 },
  shutdownTimeoutMs: { parse: integer(0, 600_000), fallback: () => 10_000 },
  sseMaxQueuedEvents: { parse: integer(1, 1_000_000), fallback: () => 500 },
  sseMaxQueuedBytes: { parse: integer(64 * 1024, 1024 * MiB), fallback: () => 4 * MiB },
  sseMaxHeldBytes: { parse: integer(MiB, 64 * 1024 * MiB), fallback: () => 128 * MiB },
  httpMetrics: { parse: boolean, fallback: () => true },
  answerCacheMaxBytes: { parse: integer(0, 64 * 1024 * MiB), fallback: () => 64 * MiB },
  // Copying a page out of shared memory costs far more than its bytes suggest: a fresh
  // 100 KB buffer is page-faulted in at first touch (S1 with the answer cache off: ~930 µs
  // of server CPU a request copying 1 KB records, ~270 µs viewing them, bench/profile.ts).
  zeroCopyMinBytes: { parse: integer(0, 1024 * MiB), fallback: () => 512 },
};

/** `lockTimeoutMs` → `LOCK_TIMEOUT_MS`. */
function envName(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

/** `LOCK_TIMEOUT_MS` → `lock-timeout-ms`. */
function flagName(env: string): string {
  return env.toLowerCase().replaceAll('_', '-');
}

export function loadConfig(
  argv: readonly string[] = process.argv.slice(2),
  env: NodeJS.ProcessEnv = process.env,
): Config {
  const all = Object.entries(settings).map(([key, setting]) => ({
    key,
    env: envName(key),
    ...(setting as Setting<keyof Config>),
  }));
  const { values } = parseArgs({
    args: [...argv],
    options: Object.fromEntries(all.map((s) => [flagName(s.env), { type: 'string' as const }])),
    strict: true,
    allowPositionals: false,
  });
  const config: Record<string, unknown> = {};
  for (const setting of all) {
    const raw = values[flagName(setting.env)] ?? env[setting.env];
    try {
      config[setting.key] = raw === undefined ? setting.fallback() : setting.parse(String(raw));
    } catch (err) {
      throw new Error(`invalid ${setting.env}: ${(err as Error).message}`);
    }
  }
  return config as unknown as Config;
}
