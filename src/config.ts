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

interface Setting<K extends keyof Config> {
  key: K;
  env: string;
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
  port: { key: 'port', env: 'PORT', parse: integer(0, 65535), fallback: () => 8080 },
  host: { key: 'host', env: 'HOST', parse: text, fallback: () => '127.0.0.1' },
  dataDir: { key: 'dataDir', env: 'DATA_DIR', parse: text, fallback: () => './data' },
  workers: {
    key: 'workers',
    env: 'WORKERS',
    parse: integer(1, 256),
    fallback: () => availableParallelism(),
  },
  cacheMaxContexts: {
    key: 'cacheMaxContexts',
    env: 'CACHE_MAX_CONTEXTS',
    parse: integer(1, 1_000_000),
    fallback: () => 4096,
  },
  cacheMaxBytes: {
    key: 'cacheMaxBytes',
    env: 'CACHE_MAX_BYTES',
    parse: integer(MiB),
    fallback: () => 512 * MiB,
  },
  arenaMaxBytes: {
    key: 'arenaMaxBytes',
    env: 'ARENA_MAX_BYTES',
    parse: integer(16 * MiB, 2 ** 32),
    fallback: () => 2 ** 32,
  },
  lockTimeoutMs: {
    key: 'lockTimeoutMs',
    env: 'LOCK_TIMEOUT_MS',
    parse: integer(1, 600_000),
    fallback: () => 5000,
  },
  maxBodyBytes: {
    key: 'maxBodyBytes',
    env: 'MAX_BODY_BYTES',
    parse: integer(1024, 64 * MiB),
    fallback: () => MiB,
  },
  maxQueue: { key: 'maxQueue', env: 'MAX_QUEUE', parse: integer(1), fallback: () => 4096 },
  logLevel: { key: 'logLevel', env: 'LOG_LEVEL', parse: text, fallback: () => 'info' },
  llmProvider: {
    key: 'llmProvider',
    env: 'LLM_PROVIDER',
    parse: (raw) => {
      if (raw !== 'builtin' && raw !== 'openai') throw new Error(`unknown provider "${raw}"`);
      return raw;
    },
    fallback: () => 'builtin',
  },
  llmBaseUrl: {
    key: 'llmBaseUrl',
    env: 'LLM_BASE_URL',
    parse: optionalText,
    fallback: () => undefined,
  },
  llmApiKey: {
    key: 'llmApiKey',
    env: 'LLM_API_KEY',
    parse: optionalText,
    fallback: () => undefined,
  },
  llmTimeoutMs: {
    key: 'llmTimeoutMs',
    env: 'LLM_TIMEOUT_MS',
    parse: integer(1, 3_600_000),
    fallback: () => 60_000,
  },
  apiToken: { key: 'apiToken', env: 'API_TOKEN', parse: optionalText, fallback: () => undefined },
  fsync: { key: 'fsync', env: 'FSYNC', parse: boolean, fallback: () => true },
  groupCommit: { key: 'groupCommit', env: 'GROUP_COMMIT', parse: boolean, fallback: () => true },
  // Tests only, and only with FAULT_INJECTION (see storage/fault-syncs.ts).
  faultSyncDelayMs: {
    key: 'faultSyncDelayMs',
    env: 'FAULT_SYNC_DELAY_MS',
    parse: integer(0, 10_000),
    fallback: () => 0,
  },
  faultInjection: {
    key: 'faultInjection',
    env: 'FAULT_INJECTION',
    parse: boolean,
    fallback: () => false,
  },
  checkedLocks: {
    key: 'checkedLocks',
    env: 'CHECKED_LOCKS',
    parse: boolean,
    fallback: () => false,
  },
  longWaitMs: {
    key: 'longWaitMs',
    env: 'LONG_WAIT_MS',
    parse: integer(1, 600_000),
    fallback: () => 1000,
  },
  mainThreadReads: {
    key: 'mainThreadReads',
    env: 'MAIN_THREAD_READS',
    parse: boolean,
    fallback: () => true,
  },
  compactLogRatio: {
    key: 'compactLogRatio',
    env: 'COMPACT_LOG_RATIO',
    parse: decimal(0.01, 100),
    fallback: () => 1,
  },
  compactMinLogBytes: {
    key: 'compactMinLogBytes',
    env: 'COMPACT_MIN_LOG_BYTES',
    parse: integer(0, 2 ** 31),
    fallback: () => MiB,
  },
  // Count-based compaction, kept as an extra trigger for tests (0: off, the default).
  compactAfterRecords: {
    key: 'compactAfterRecords',
    env: 'COMPACT_AFTER_RECORDS',
    parse: integer(0),
    fallback: () => 0,
  },
  shutdownTimeoutMs: {
    key: 'shutdownTimeoutMs',
    env: 'SHUTDOWN_TIMEOUT_MS',
    parse: integer(0, 600_000),
    fallback: () => 10_000,
  },
  sseMaxQueuedEvents: {
    key: 'sseMaxQueuedEvents',
    env: 'SSE_MAX_QUEUED_EVENTS',
    parse: integer(1, 1_000_000),
    fallback: () => 500,
  },
  sseMaxQueuedBytes: {
    key: 'sseMaxQueuedBytes',
    env: 'SSE_MAX_QUEUED_BYTES',
    parse: integer(64 * 1024, 1024 * MiB),
    fallback: () => 4 * MiB,
  },
  sseMaxHeldBytes: {
    key: 'sseMaxHeldBytes',
    env: 'SSE_MAX_HELD_BYTES',
    parse: integer(MiB, 64 * 1024 * MiB),
    fallback: () => 128 * MiB,
  },
  httpMetrics: { key: 'httpMetrics', env: 'HTTP_METRICS', parse: boolean, fallback: () => true },
  answerCacheMaxBytes: {
    key: 'answerCacheMaxBytes',
    env: 'ANSWER_CACHE_MAX_BYTES',
    parse: integer(0, 64 * 1024 * MiB),
    fallback: () => 64 * MiB,
  },
  zeroCopyMinBytes: {
    key: 'zeroCopyMinBytes',
    env: 'ZERO_COPY_MIN_BYTES',
    parse: integer(0, 1024 * MiB),
    fallback: () => 512,
  },
};

/** `LOCK_TIMEOUT_MS` → `lock-timeout-ms`. */
function flagName(env: string): string {
  return env.toLowerCase().replaceAll('_', '-');
}

export function loadConfig(
  argv: readonly string[] = process.argv.slice(2),
  env: NodeJS.ProcessEnv = process.env,
): Config {
  const all = Object.values(settings) as Setting<keyof Config>[];
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
