import { cpSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { readSeedFile } from '../baselines/seed.js';
import {
  appendPath,
  type ContextSpec,
  contextPath,
  hotPagePath,
  lastPagePath,
  messageBody,
  type SeedOptions,
  seedProduct,
  writeSeedFile,
} from './dataset.js';
import { forEachConcurrent, httpJson } from './http.js';
import { type LoadRequest, type LoadResult, runLoad } from './load.js';
import { buildCommit } from './old-build.js';
import {
  baselineKeys,
  ceilingPaths,
  MAIN_PLAN,
  mainSpecs,
  mixedKey,
  mixedReadPaths,
  pageKey,
} from './plan.js';
import {
  BASELINE_MAIN,
  BASELINES,
  BEFORE_ISSUE_12,
  BEFORE_ISSUE_12_COMMIT,
  PRODUCT_NO_CACHE,
  rssOf,
  type ServerProcess,
  SYNC_UNDER_LOCK,
  SYNC_UNDER_LOCK_ENV,
  type SystemName,
  startBaseline,
  startProcess,
  startProduct,
} from './process.js';
import type { BenchResults, RunRecord } from './results.js';

/** Durations, connection counts and sizes of one mode (`--quick` or full). */
export interface Profile {
  mode: 'quick' | 'full';
  warmupSeconds: number;
  durationSeconds: number;
  /** Connections of every read scenario (S1–S4, S7). */
  readConnections: number;
  /** Connections of S5 (appends to one context, which serialise on its write lock). */
  appendConnections: number;
  /** Appends measured per S5 case (a count, so both contexts grow alike). */
  appendCount: number;
  /**
   * S5's product compacts when a log reaches this fraction of its snapshot
   * (COMPACT_LOG_RATIO), so that `appendCount` appends cross several compactions of the
   * large context too.
   */
  appendCompactLogRatio: number;
  /** Requests in flight while seeding. */
  seedConcurrency: number;
  /** S6 size: contexts × messages of `MAIN_PLAN.messageBytes`. */
  memoryContexts: number;
  memoryMessages: number;
  /** S7: product worker counts. */
  workerCounts: number[];
  /** A run during which other processes used more cores than this is measured again… */
  noisyCpu: number;
  /** …up to this many more times… */
  retries: number;
  /** Times each system is measured per scenario case (the quietest round is kept). */
  rounds: number;
  /**
   * Time plan: extra rounds and re-runs of S1–S5 start only before this many seconds into
   * the run, and S7's only before `deadlineSeconds` − 90, so the whole run stays bounded
   * however busy the machine is.
   */
  extrasUntilSeconds: number;
  deadlineSeconds: number;
  /** …while re-measuring has taken less than this many seconds in all (bounds the run). */
  retryBudgetSeconds: number;
}

export interface Bench {
  profile: Profile;
  /** The scenarios to run (`--only`), or undefined for all. */
  only?: ReadonlySet<string>;
  /** Seconds since the run started. */
  elapsed: () => number;
  /** Seconds spent so far re-measuring noisy runs. */
  retrySeconds: number;
  results: BenchResults;
  tmp: string;
  log: (message: string) => void;
}

const ALL: readonly SystemName[] = ['product', ...BASELINES];
/** S1 and S4 also measure the product with its answer cache off (what copying costs). */
const ALL_AND_NO_CACHE: readonly SystemName[] = ['product', PRODUCT_NO_CACHE, ...BASELINES];
/** Systems that hold contexts as data (the ceiling only replays precomputed answers). */
const OBJECT_SYSTEMS: readonly SystemName[] = ['product', 'mutex-clone', 'single-thread'];
/** S3 also runs the product as it was before group commit, on a copy of the same data. */
const S3_SYSTEMS: readonly SystemName[] = [...OBJECT_SYSTEMS, SYNC_UNDER_LOCK];

const wants = (bench: Bench, scenario: string) => bench.only?.has(scenario) ?? true;

const fmt = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

function describeRun(run: RunRecord): string {
  const r = run.result;
  const parts = [`${run.scenario} ${run.case} · ${run.system}:`];
  if (r.read) {
    parts.push(
      `reads ${fmt(r.read.rps)}/s p50 ${fmt(r.read.p50, 2)} ms p99 ${fmt(r.read.p99, 2)} ms`,
    );
  }
  if (r.write) {
    parts.push(
      `appends ${fmt(r.write.rps)}/s mean ${fmt(r.write.mean, 2)} ms p99 ${fmt(r.write.p99, 2)} ms`,
    );
  }
  parts.push(
    `(CPU: server ${fmt(r.serverCpu, 2)}, load ${fmt(r.loadCpu, 2)}, other ${fmt(r.otherCpu, 2)}` +
      `${run.attempts > 1 ? `; quietest of ${run.attempts}` : ''})`,
  );
  const bad = Object.entries(r.statuses).filter(([code]) => code !== '200' && code !== '201');
  if (bad.length > 0 || r.errors > 0) {
    parts.push(`!! non-2xx ${JSON.stringify(Object.fromEntries(bad))} errors ${r.errors}`);
  }
  return parts.join(' ');
}

/** One run to make: a system, a request mix, and what to record it as. */
interface Trial {
  record: Omit<RunRecord, 'result' | 'connections' | 'attempts'>;
  server: ServerProcess;
  requests: LoadRequest[];
  connections: number;
  extra?: { warmupRequests?: LoadRequest[]; amount?: number; storageWork?: boolean };
}

/** Trials that run back to back and are kept together (S3's read-only and mixed runs). */
type Unit = Trial[];

async function runUnit(bench: Bench, unit: Unit): Promise<LoadResult[]> {
  const out: LoadResult[] = [];
  for (const trial of unit) {
    out.push(
      await runLoad({
        url: trial.server.url,
        connections: trial.connections,
        warmupSeconds: bench.profile.warmupSeconds,
        durationSeconds: bench.profile.durationSeconds,
        requests: trial.requests,
        serverPid: trial.server.pid,
        ...trial.extra,
      }),
    );
  }
  return out;
}

/** How much other processes disturbed a unit's runs: the most CPU they took in any. */
const noiseOf = (results: LoadResult[]) => Math.max(...results.map((r) => r.otherCpu));

/**
 * Measures `units` in `rounds` rounds, the order reversed from one round to the next, and
 * keeps for each unit its quietest round (the one other processes disturbed least). A unit
 * whose quietest round was still noisy is measured again, within the retry budget.
 */
async function measureUnits(
  bench: Bench,
  units: Unit[],
  rounds = bench.profile.rounds,
  extrasUntil = bench.profile.extrasUntilSeconds,
) {
  const { noisyCpu, retries, retryBudgetSeconds } = bench.profile;
  const inTime = () => bench.elapsed() < extrasUntil;
  const tries: LoadResult[][][] = units.map(() => []);
  const label = (u: Unit) =>
    `${u[0]!.record.scenario} ${u.map((t) => t.record.case).join(' + ')} · ${u[0]!.record.system}`;
  for (let round = 0; round < rounds; round++) {
    if (round > 0 && !inTime()) {
      bench.log(`  (time plan: no round ${round + 1} from here on)`);
      break;
    }
    const order = units.map((_, i) => i);
    if (round % 2 === 1) order.reverse();
    for (const i of order) {
      const results = await runUnit(bench, units[i]!);
      tries[i]!.push(results);
      if (rounds > 1 || noiseOf(results) > noisyCpu) {
        bench.log(
          `  ${label(units[i]!)}: round ${round + 1}, ${results.map(brief).join(' | ')}, ` +
            `other CPU ${fmt(noiseOf(results), 2)}`,
        );
      }
    }
  }
  const quietest = (i: number) => tries[i]!.reduce((a, b) => (noiseOf(b) < noiseOf(a) ? b : a));
  for (let i = 0; i < units.length; i++) {
    let extra = 0;
    while (
      noiseOf(quietest(i)) > noisyCpu &&
      extra < retries &&
      bench.retrySeconds < retryBudgetSeconds &&
      inTime()
    ) {
      extra++;
      await sleep(2000);
      const started = performance.now();
      const results = await runUnit(bench, units[i]!);
      bench.retrySeconds += (performance.now() - started) / 1000;
      tries[i]!.push(results);
      bench.log(
        `  ${label(units[i]!)}: again, ${results.map(brief).join(' | ')}, ` +
          `other CPU ${fmt(noiseOf(results), 2)}`,
      );
    }
    const best = quietest(i);
    units[i]!.forEach((trial, t) => {
      const run: RunRecord = {
        ...trial.record,
        connections: trial.connections,
        attempts: tries[i]!.length,
        result: best[t]!,
      };
      bench.results.runs.push(run);
      bench.log(describeRun(run));
    });
  }
}

function brief(r: LoadResult): string {
  const s = r.read ?? r.write;
  return s === null ? 'no responses' : `${fmt(s.rps)}/s`;
}

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const start = performance.now();
  const value = await fn();
  return { value, seconds: (performance.now() - start) / 1000 };
}

/**
 * Seeds `specs` into the product through its API (`MAIN_PLAN.messageBytes` a message) and
 * records how long it took in `results.seeding` under `phase`. Returns key → context id.
 */
async function seedTimed(
  bench: Bench,
  url: string,
  specs: readonly ContextSpec[],
  phase: string,
  onProgress?: SeedOptions['onProgress'],
): Promise<{ ids: Map<string, string>; messages: number; seconds: number }> {
  const messages = specs.reduce((sum, s) => sum + s.messages, 0);
  const seeded = await timed(() =>
    seedProduct(url, specs, {
      messageBytes: MAIN_PLAN.messageBytes,
      concurrency: bench.profile.seedConcurrency,
      onProgress,
    }),
  );
  bench.results.seeding.push({ phase, contexts: specs.length, messages, seconds: seeded.seconds });
  return { ids: seeded.value, messages, seconds: seeded.seconds };
}

/** The context ids of a seed file. */
async function readSeedIds(file: string): Promise<string[]> {
  const ids: string[] = [];
  await readSeedFile(file, (line) => {
    if ('context' in line) ids.push(line.context.dto.id as string);
  });
  return ids;
}

function dirBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? dirBytes(path) : statSync(path).size;
  }
  return total;
}

/**
 * S1–S4 on one shared dataset: the product is seeded, the baselines load its exact data,
 * and every scenario runs against every system, the order alternating from one scenario
 * (or case) to the next.
 */
export async function mainPhase(bench: Bench): Promise<void> {
  const plan = MAIN_PLAN;
  const { profile } = bench;
  const servers = new Map<SystemName, ServerProcess>();
  try {
    const product = await startProduct(join(bench.tmp, 'main-data'));
    servers.set('product', product);
    const specs = mainSpecs(plan);
    const messages = specs.reduce((sum, s) => sum + s.messages, 0);
    bench.log(`seeding the product: ${specs.length} contexts, ${fmt(messages)} messages…`);
    const seeded = await seedTimed(
      bench,
      product.url,
      specs,
      'S1–S4 dataset (product, through its API)',
    );
    const ids = seeded.ids;
    bench.log(`seeded in ${fmt(seeded.seconds, 1)} s`);

    const seedFile = join(bench.tmp, 'main-seed.jsonl');
    await writeSeedFile(
      seedFile,
      product.url,
      baselineKeys(plan).map((k) => ids.get(k)!),
      ceilingPaths(ids, plan),
    );
    for (const kind of BASELINES) servers.set(kind, await startBaseline(kind, seedFile));
    // A copy of the seeded data for a second product process, so the two never share files.
    const noCacheData = join(bench.tmp, 'main-data-no-cache');
    cpSync(join(bench.tmp, 'main-data'), noCacheData, { recursive: true });
    servers.set(
      PRODUCT_NO_CACHE,
      await startProduct(noCacheData, { env: { ANSWER_CACHE_MAX_BYTES: '0' } }),
    );
    bench.log(`baselines loaded the product's data from ${seedFile}`);

    let turn = 0;
    const ordered = (names: readonly SystemName[]) =>
      turn++ % 2 === 0 ? [...names] : [...names].reverse();
    const compare = async (
      scenario: string,
      caseName: string,
      names: readonly SystemName[],
      requests: LoadRequest[],
      connections: number,
    ) => {
      const request = requests.map((r) => `${r.method} ${r.paths[0]}`).join(' + ');
      await measureUnits(
        bench,
        ordered(names).map((system, order) => [
          {
            record: { scenario, case: caseName, system, order, request },
            server: servers.get(system)!,
            requests,
            connections,
          },
        ]),
      );
    };

    const hot = ids.get('hot')!;
    const c = profile.readConnections;
    if (wants(bench, 'S1')) {
      await compare(
        'S1',
        'hot page',
        ALL_AND_NO_CACHE,
        [{ method: 'GET', paths: [hotPagePath(hot)] }],
        c,
      );
    }
    if (wants(bench, 'S2')) {
      await compare('S2', 'context DTO', ALL, [{ method: 'GET', paths: [contextPath(hot)] }], c);
    }
    for (const n of wants(bench, 'S4') ? plan.pageSizes : []) {
      const path = lastPagePath(ids.get(pageKey(n))!, n);
      await compare(
        'S4',
        `${fmt(n)} messages`,
        ALL_AND_NO_CACHE,
        [{ method: 'GET', paths: [path] }],
        c,
      );
    }
    if (!wants(bench, 'S3')) return;
    // The comparison product serves a copy of the product's data (nothing is written to
    // it after seeding but S3's own appends).
    const copy = join(bench.tmp, 'main-data-sync-under-lock');
    cpSync(join(bench.tmp, 'main-data'), copy, { recursive: true });
    servers.set(SYNC_UNDER_LOCK, await startProduct(copy, { env: SYNC_UNDER_LOCK_ENV }));

    // S3: each system read-only, then at once mixed (9 reads : 1 append, every connection).
    const readPaths = mixedReadPaths(ids, plan);
    const appendPaths = Array.from({ length: plan.mixedContexts }, (_, i) =>
      appendPath(ids.get(mixedKey(i))!),
    );
    const read: LoadRequest = { method: 'GET', paths: readPaths };
    const append: LoadRequest = {
      method: 'POST',
      paths: appendPaths,
      body: JSON.stringify(messageBody(1, plan.messageBytes)),
    };
    const request = `GET page of 50 of ${plan.mixedContexts} contexts`;
    await measureUnits(
      bench,
      ordered(S3_SYSTEMS).map((system, order) => {
        const base = { scenario: 'S3', system, order, request };
        const server = servers.get(system)!;
        return [
          { record: { ...base, case: 'read-only' }, server, requests: [read], connections: c },
          {
            record: {
              ...base,
              case: 'mixed',
              request: `${request} + 1 POST message per 9 GETs`,
            },
            server,
            requests: [...Array.from({ length: 9 }, () => read), append],
            connections: c,
          },
        ];
      }),
    );
  } finally {
    await Promise.all([...servers.values()].map((s) => s.stop()));
  }
}

/**
 * S5: appends to a context of 10 and to one of 10,000 messages, on a product of their own
 * (the baselines keep nothing durable, so their appends cost nothing comparable), on the
 * product as it was before group commit (GROUP_COMMIT=false), and on the code of when
 * issue 12 was filed (built from git; skipped, saying why, where that cannot be done),
 * each serving a copy of the same seeded data, one system after the other. Each measured run makes a fixed number
 * of appends, so both contexts grow by the same count; the warm-up appends to a third
 * context. The server's own counters give the bytes each run wrote to storage (log frames
 * and compacted snapshots) beside its time.
 */
export async function appendPhase(bench: Bench): Promise<void> {
  const plan = MAIN_PLAN;
  const { profile } = bench;
  const largest = Math.max(...plan.pageSizes);
  const env = { COMPACT_LOG_RATIO: String(profile.appendCompactLogRatio) };
  const product = await startProduct(join(bench.tmp, 'append-data'), { env });
  const others = new Map<SystemName, ServerProcess>();
  try {
    const specs = [
      { key: 'append-small', messages: plan.smallAppendMessages },
      { key: 'append-warmup', messages: plan.smallAppendMessages },
      { key: 'append-large', messages: largest },
    ];
    const messages = specs.reduce((sum, s) => sum + s.messages, 0);
    bench.log(`S5: seeding ${specs.length} contexts, ${fmt(messages)} messages…`);
    const { ids } = await seedTimed(
      bench,
      product.url,
      specs,
      'S5 dataset (product, through its API)',
    );
    const copyOfData = (name: string) => {
      const copy = join(bench.tmp, `append-data-${name}`);
      cpSync(join(bench.tmp, 'append-data'), copy, { recursive: true });
      return copy;
    };
    others.set(
      SYNC_UNDER_LOCK,
      await startProduct(copyOfData('sync-under-lock'), {
        env: { ...env, ...SYNC_UNDER_LOCK_ENV },
      }),
    );
    bench.log(`S5: building ${BEFORE_ISSUE_12} (commit ${BEFORE_ISSUE_12_COMMIT}) from git…`);
    const old = buildCommit(BEFORE_ISSUE_12_COMMIT, join(bench.tmp, 'before-issue-12'));
    const skip = (why: string) => {
      const note = `S5: ${BEFORE_ISSUE_12} not run: ${why}`;
      bench.log(note);
      bench.results.notes.push(note);
    };
    if ('skipped' in old) skip(old.skipped);
    else {
      try {
        const server = await startProduct(copyOfData('before-issue-12'), {
          env,
          main: old.main,
          name: BEFORE_ISSUE_12,
        });
        others.set(BEFORE_ISSUE_12, server);
      } catch (err) {
        skip(`its build did not start: ${(err as Error).message.slice(0, 600)}`);
      }
    }
    const body = JSON.stringify(messageBody(2, plan.messageBytes));
    const warmup: LoadRequest = {
      method: 'POST',
      paths: [appendPath(ids.get('append-warmup')!)],
      body,
    };
    const cases = [
      [`${fmt(plan.smallAppendMessages)} messages`, 'append-small'],
      [`${fmt(largest)} messages`, 'append-large'],
    ] as const;
    // One round per system: a second one would start from contexts the first one grew.
    // The order of the systems alternates from one case to the next.
    const units = cases.flatMap(([caseName, key], i) => {
      const systems: [SystemName, ServerProcess][] = [['product', product], ...others];
      if (i % 2 === 1) systems.reverse();
      return systems.map(([system, server], order) => [
        {
          record: {
            scenario: 'S5',
            case: caseName,
            system,
            order,
            request: `${fmt(profile.appendCount)} × POST /v1/contexts/{id}/messages (1 KB)`,
          },
          server,
          requests: [{ method: 'POST' as const, paths: [appendPath(ids.get(key)!)], body }],
          connections: profile.appendConnections,
          extra: { warmupRequests: [warmup], amount: profile.appendCount, storageWork: true },
        },
      ]);
    });
    await measureUnits(bench, units, 1);
  } finally {
    await Promise.all([product.stop(), ...[...others.values()].map((s) => s.stop())]);
  }
}

interface Health {
  resident_contexts: number;
  shared_bytes: { usedBytes: number; carvedBytes: number; bufferBytes: number };
}

/** S6: memory of many contexts resident, against the bytes of the data they hold. */
export async function memoryPhase(bench: Bench): Promise<void> {
  const plan = MAIN_PLAN;
  const { profile, results } = bench;
  const dataDir = join(bench.tmp, 'memory-data');
  const product = await startProduct(dataDir);
  let seedFile: string;
  try {
    await sleep(1000);
    const rssIdle = rssOf(product.pid);
    const specs = Array.from({ length: profile.memoryContexts }, (_, i) => ({
      key: `m${i}`,
      messages: profile.memoryMessages,
    }));
    const messages = profile.memoryContexts * profile.memoryMessages;
    bench.log(`S6: seeding ${fmt(profile.memoryContexts)} contexts × ${profile.memoryMessages}…`);
    const seeded = await seedTimed(
      bench,
      product.url,
      specs,
      'S6 dataset (product, through its API)',
      (done, total) => bench.log(`  ${fmt(done)} / ${fmt(total)} messages`),
    );
    bench.log(`seeded in ${fmt(seeded.seconds, 1)} s (${fmt(messages / seeded.seconds)}/s)`);
    await sleep(2000);
    const rssLoaded = rssOf(product.pid);
    const health = await httpJson<Health>(`${product.url}/health`);
    seedFile = join(bench.tmp, 'memory-seed.jsonl');
    const ids = [...seeded.ids.values()];
    const exported = await writeSeedFile(seedFile, product.url, ids, []);
    results.memory = {
      contexts: profile.memoryContexts,
      messagesPerContext: profile.memoryMessages,
      messageBytes: plan.messageBytes,
      storedBytes: exported.messageBytes,
      diskBytes: dirBytes(dataDir),
      product: {
        rssIdle,
        rssLoaded,
        sharedUsedBytes: health.shared_bytes.usedBytes,
        sharedCarvedBytes: health.shared_bytes.carvedBytes,
        sharedBufferBytes: health.shared_bytes.bufferBytes,
        residentContexts: health.resident_contexts,
      },
      reloaded: null,
      baselines: [],
    };
  } finally {
    await product.stop();
  }
  // The same contexts loaded from storage by a fresh process (no write-path garbage).
  const reloaded = await startProduct(dataDir);
  try {
    await sleep(1000);
    const rssIdle = rssOf(reloaded.pid);
    const ids = [...(await readSeedIds(seedFile))];
    const loaded = await timed(() =>
      forEachConcurrent(ids, 8, async (id) => {
        await httpJson(`${reloaded.url}/v1/contexts/${id}/messages?limit=1`);
      }),
    );
    await sleep(2000);
    const health = await httpJson<Health>(`${reloaded.url}/health`);
    results.memory!.reloaded = {
      rssIdle,
      rssLoaded: rssOf(reloaded.pid),
      sharedUsedBytes: health.shared_bytes.usedBytes,
      residentContexts: health.resident_contexts,
      seconds: loaded.seconds,
    };
    bench.log(`S6: a fresh product loaded them from storage in ${fmt(loaded.seconds, 1)} s`);
  } finally {
    await reloaded.stop();
  }
  for (const kind of ['mutex-clone', 'single-thread'] as const) {
    const idle = await startProcess({
      name: kind,
      execArgv: ['--expose-gc'],
      args: [BASELINE_MAIN, '--kind', kind, '--port', '0'],
    });
    await sleep(500);
    const rssIdle = rssOf(idle.pid);
    await idle.stop();
    const loaded = await startBaseline(kind, seedFile);
    await sleep(1000);
    const rssLoaded = rssOf(loaded.pid);
    await loaded.stop();
    results.memory!.baselines.push({ system: kind, rssIdle, rssLoaded });
  }
}

/** S7: the product's S1 throughput with 1..N workers (all started, measured in turn). */
export async function workersPhase(bench: Bench): Promise<void> {
  const plan = MAIN_PLAN;
  const { profile } = bench;
  const products: ServerProcess[] = [];
  try {
    const units: Unit[] = [];
    for (const workers of profile.workerCounts) {
      const product = await startProduct(join(bench.tmp, `workers-${workers}`), { workers });
      products.push(product);
      const ids = await seedProduct(product.url, [{ key: 'hot', messages: plan.hotMessages }], {
        messageBytes: plan.messageBytes,
        concurrency: 1,
      });
      const path = hotPagePath(ids.get('hot')!);
      units.push([
        {
          record: {
            scenario: 'S7',
            case: `${workers} worker${workers === 1 ? '' : 's'}`,
            system: 'product',
            order: units.length,
            request: `GET ${path}`,
          },
          server: product,
          requests: [{ method: 'GET', paths: [path] }],
          connections: profile.readConnections,
        },
      ]);
    }
    await measureUnits(bench, units, profile.rounds, profile.deadlineSeconds - 90);
  } finally {
    await Promise.all(products.map((p) => p.stop()));
  }
}
