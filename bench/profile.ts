import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  appendPath,
  contextPath,
  hotPagePath,
  lastPagePath,
  messageBody,
  seedProduct,
} from './lib/dataset.js';
import { type LoadRequest, runLoad } from './lib/load.js';
import { MAIN_PLAN } from './lib/plan.js';
import { startProduct, threadCpuOf } from './lib/process.js';

/**
 * CPU profile of the product under one benchmark scenario:
 * `node dist/bench/profile.js [--scenario S1|S2|S4|S5] [--seconds 10] [--out DIR]
 * [--env KEY=VALUE …]` (settings of the product, e.g. `--env ANSWER_CACHE_MAX_BYTES=0`), or
 * `node dist/bench/profile.js --analyze DIR` to summarise .cpuprofile files already written.
 * `--main PATH` runs another build's dist/src/main.js (e.g. an old commit's) instead.
 * `--threads` measures instead of profiling: no `--cpu-prof`, and each thread's CPU time
 * (/proc/<pid>/task/<tid>/stat) over the measured run, in µs per response, after a
 * separate warm-up (the profiler's own cost would blur small per-request differences).
 * `--share a.js,b.js` adds the self time of the functions in files whose path contains one
 * of those strings, as a share of each thread's busy time (the cost of one module).
 *
 * Starts the product with `--cpu-prof` (the main thread and every worker thread write a
 * .cpuprofile when they exit), runs the scenario's load from a separate process, stops the
 * server, and prints where each thread spent its time: by category and by function (self
 * time), plus the inclusive time of a few functions of interest.
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

function shortUrl(url: string): string {
  if (url === '') return '';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  const dist = url.indexOf('/dist/');
  if (dist >= 0) return url.slice(dist + 1);
  return url.replace(/^file:\/\//, '');
}

/** Coarse bucket of a frame: whose code the time is spent in. */
function category(frame: CallFrame): string {
  const url = frame.url;
  const name = frame.functionName;
  if (url === '') {
    if (name === '(garbage collector)') return 'GC';
    if (name === '(idle)' || name === '(program)') return name;
    if (name === 'Atomics.wait' || name === 'wait') return 'Atomics.wait (idle worker)';
    return `native: ${name || '(anonymous)'}`;
  }
  if (url.startsWith('node:')) {
    const m = /^node:(internal\/)?([a-z_]+)/.exec(url);
    return `node:${m?.[2] ?? url}`;
  }
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  const dist = /\/dist\/(.+?)\/[^/]+\.js$/.exec(url);
  if (dist) return `product: ${dist[1]}`;
  return url;
}

interface Summary {
  file: string;
  totalMs: number;
  byCategory: [string, number][];
  byFunction: [string, number][];
  /** Inclusive time (self + callees) by function, each counted once per stack. */
  inclusive: [string, number][];
}

const frameKey = (frame: CallFrame) =>
  `${frame.functionName || '(anonymous)'} ${shortUrl(frame.url)}${frame.url ? `:${frame.lineNumber + 1}` : ''}`;

function summarize(file: string, profile: CpuProfile): Summary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  // Sample i lasted timeDeltas[i + 1] µs (the delta to the next sample).
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i + 1] ?? 0;
    self.set(profile.samples[i]!, (self.get(profile.samples[i]!) ?? 0) + dt);
  }
  const cats = new Map<string, number>();
  const fns = new Map<string, number>();
  let total = 0;
  for (const [id, us] of self) {
    const node = byId.get(id)!;
    const frame = node.callFrame;
    const ms = us / 1000;
    total += ms;
    const c = category(frame);
    cats.set(c, (cats.get(c) ?? 0) + ms);
    const key = frameKey(frame);
    fns.set(key, (fns.get(key) ?? 0) + ms);
  }
  // Inclusive: walk the tree, carrying the set of functions on the stack.
  const inclusive = new Map<string, number>();
  const totals = new Map<number, number>();
  const fill = (id: number): number => {
    const node = byId.get(id)!;
    let ms = (self.get(id) ?? 0) / 1000;
    for (const child of node.children ?? []) ms += fill(child);
    totals.set(id, ms);
    return ms;
  };
  const root = profile.nodes[0]!;
  fill(root.id);
  const walk = (id: number, onStack: Set<string>): void => {
    const node = byId.get(id)!;
    const key = frameKey(node.callFrame);
    const fresh = !onStack.has(key);
    if (fresh) {
      inclusive.set(key, (inclusive.get(key) ?? 0) + totals.get(id)!);
      onStack.add(key);
    }
    for (const child of node.children ?? []) walk(child, onStack);
    if (fresh) onStack.delete(key);
  };
  walk(root.id, new Set());
  const sort = (m: Map<string, number>) => [...m.entries()].sort((a, b) => b[1] - a[1]);
  return {
    file,
    totalMs: total,
    byCategory: sort(cats),
    byFunction: sort(fns),
    inclusive: sort(inclusive),
  };
}

function printSummary(s: Summary, top: number, share: string[]): void {
  const busy = s.byCategory
    .filter(([c]) => c !== '(idle)' && !c.startsWith('Atomics.wait'))
    .reduce((a, [, ms]) => a + ms, 0);
  process.stdout.write(
    `\n=== ${s.file}: ${(s.totalMs / 1000).toFixed(1)} s sampled, ${(busy / 1000).toFixed(1)} s busy\n`,
  );
  if (share.length > 0) {
    const mine = s.byFunction.filter(([f]) => share.some((part) => f.includes(part)));
    const ms = mine.reduce((a, [, t]) => a + t, 0);
    process.stdout.write(
      `  self time in ${share.join(', ')}: ${((100 * ms) / busy).toFixed(2)}% of busy (${ms.toFixed(0)} ms)\n`,
    );
    for (const [f, t] of mine) process.stdout.write(`    ${t.toFixed(0).padStart(7)} ms  ${f}\n`);
  }
  process.stdout.write('  by category (self time, % of busy):\n');
  for (const [c, ms] of s.byCategory.slice(0, 16)) {
    if (c === '(idle)' || c.startsWith('Atomics.wait')) continue;
    process.stdout.write(
      `    ${((100 * ms) / busy).toFixed(1).padStart(5)}%  ${ms.toFixed(0).padStart(7)} ms  ${c}\n`,
    );
  }
  process.stdout.write(`  top ${top} functions (self time, % of busy):\n`);
  let shown = 0;
  for (const [f, ms] of s.byFunction) {
    if (f.startsWith('(idle)')) continue;
    process.stdout.write(
      `    ${((100 * ms) / busy).toFixed(1).padStart(5)}%  ${ms.toFixed(0).padStart(7)} ms  ${f}\n`,
    );
    if (++shown >= top) break;
  }
  process.stdout.write(`  top ${top} functions (inclusive time, % of busy):\n`);
  shown = 0;
  for (const [f, ms] of s.inclusive) {
    if (f.startsWith('(root)') || f.startsWith('(idle)') || f.startsWith('atomicsWaitLoop')) {
      continue;
    }
    process.stdout.write(
      `    ${((100 * ms) / busy).toFixed(1).padStart(5)}%  ${ms.toFixed(0).padStart(7)} ms  ${f}\n`,
    );
    if (++shown >= top) break;
  }
}

function printProfiles(dir: string, top: number, share: string[]): void {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  for (const f of files.sort()) {
    const profile = JSON.parse(readFileSync(join(dir, f), 'utf8')) as CpuProfile;
    printSummary(summarize(f, profile), top, share);
  }
}

/** A counter of the product's /metrics, summed over its labels (0 if absent). */
async function metricTotal(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return text
    .split('\n')
    .filter(
      (line) =>
        line.startsWith(name.includes('{') ? name : `${name}{`) || line.startsWith(`${name} `),
    )
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

/** Each thread's CPU µs per response over the measured run (busy threads only). */
function printThreads(
  pid: number,
  before: ReturnType<typeof threadCpuOf>,
  after: ReturnType<typeof threadCpuOf>,
  responses: number,
): void {
  const rows = [...after]
    .map(([tid, { name, seconds }]) => ({
      tid,
      name: tid === pid ? `main (${name})` : name,
      us: ((seconds - (before.get(tid)?.seconds ?? 0)) * 1e6) / responses,
    }))
    .filter((r) => r.us > 0)
    .sort((a, b) => b.us - a.us);
  const total = rows.reduce((sum, r) => sum + r.us, 0);
  process.stdout.write(`server CPU per response, by thread (${responses} responses):\n`);
  for (const r of rows) {
    process.stdout.write(`  ${r.us.toFixed(0).padStart(6)} µs  ${r.name} [${r.tid}]\n`);
  }
  process.stdout.write(`  ${total.toFixed(0).padStart(6)} µs  all threads\n`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      scenario: { type: 'string', default: 'S1' },
      seconds: { type: 'string', default: '10' },
      connections: { type: 'string', default: '50' },
      out: { type: 'string' },
      top: { type: 'string', default: '30' },
      workers: { type: 'string' },
      analyze: { type: 'string' },
      share: { type: 'string', default: '' },
      env: { type: 'string', multiple: true, default: [] },
      threads: { type: 'boolean', default: false },
      main: { type: 'string' },
    },
  });
  const share = values.share.split(',').filter((part) => part !== '');
  if (values.analyze !== undefined) {
    printProfiles(resolve(values.analyze), Number(values.top), share);
    return;
  }
  const tmp = mkdtempSync(join(tmpdir(), 'ccs-profile-'));
  const outDir = resolve(values.out ?? join(tmp, 'profiles'));
  mkdirSync(outDir, { recursive: true });
  const env = Object.fromEntries(
    values.env.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
  const product = await startProduct(join(tmp, 'data'), {
    env,
    execArgv: values.threads ? [] : ['--cpu-prof', '--cpu-prof-dir', outDir],
    ...(values.main === undefined ? {} : { main: resolve(values.main) }),
    ...(values.workers === undefined ? {} : { workers: Number(values.workers) }),
  });
  try {
    const scenario = values.scenario.toUpperCase();
    const size = scenario === 'S4' || scenario === 'S5' ? 10_000 : MAIN_PLAN.hotMessages;
    process.stdout.write(`seeding a context of ${size} messages…\n`);
    const ids = await seedProduct(product.url, [{ key: 'c', messages: size }], {
      messageBytes: MAIN_PLAN.messageBytes,
      concurrency: 1,
    });
    const id = ids.get('c')!;
    const requests: Record<string, LoadRequest> = {
      S1: { method: 'GET', paths: [hotPagePath(id)] },
      S2: { method: 'GET', paths: [contextPath(id)] },
      S4: { method: 'GET', paths: [lastPagePath(id, size)] },
      S5: {
        method: 'POST',
        paths: [appendPath(id)],
        body: JSON.stringify(messageBody(1, MAIN_PLAN.messageBytes)),
      },
    };
    const request = requests[scenario];
    if (request === undefined) throw new Error(`unknown scenario ${scenario}`);
    process.stdout.write(`profiling ${scenario}: ${request.method} ${request.paths[0]}\n`);
    const load = {
      url: product.url,
      connections: Number(values.connections),
      requests: [request],
      serverPid: product.pid,
    };
    if (values.threads) await runLoad({ ...load, warmupSeconds: 0, durationSeconds: 2 });
    const syncsBefore = await metricTotal(product.url, 'ccs_storage_log_syncs_total');
    const syncLogBefore = await metricTotal(
      product.url,
      'ccs_storage_log_syncs_total{op="syncLog"}',
    );
    const before = threadCpuOf(product.pid);
    const result = await runLoad({
      ...load,
      warmupSeconds: values.threads ? 0 : 2,
      durationSeconds: Number(values.seconds),
    });
    const after = threadCpuOf(product.pid);
    const syncs = (await metricTotal(product.url, 'ccs_storage_log_syncs_total')) - syncsBefore;
    const stats = result.read ?? result.write;
    process.stdout.write(
      `${stats?.rps.toFixed(0)} req/s, p50 ${stats?.p50.toFixed(2)} ms, p99 ${stats?.p99.toFixed(2)} ms; CPU server ${result.serverCpu.toFixed(2)}, load ${result.loadCpu.toFixed(2)}, other ${result.otherCpu.toFixed(2)}\n`,
    );
    if (values.threads && stats) {
      printThreads(product.pid, before, after, stats.count);
      if (scenario === 'S5') {
        const tasks =
          (await metricTotal(product.url, 'ccs_storage_log_syncs_total{op="syncLog"}')) -
          syncLogBefore;
        process.stdout.write(
          `log syncs per append: ${(syncs / stats.count).toFixed(2)} (${(tasks / stats.count).toFixed(2)} by syncLog tasks)\n`,
        );
      }
    }
  } finally {
    await product.stop();
  }
  if (values.threads) {
    rmSync(tmp, { recursive: true, force: true });
    return;
  }
  printProfiles(outDir, Number(values.top), share);
  process.stdout.write(`\nprofiles: ${outDir} (open in Chrome DevTools → Performance)\n`);
  if (values.out === undefined) process.stdout.write('(temporary: pass --out DIR to keep them)\n');
  if (values.out === undefined) rmSync(tmp, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
