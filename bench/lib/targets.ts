import type { BenchResults, RunRecord, TargetResult } from './results.js';

/** The run of `system` in `scenario`/`caseName`, if there is one. */
export function findRun(
  results: BenchResults,
  scenario: string,
  caseName: string | undefined,
  system: string,
): RunRecord | undefined {
  return results.runs.find(
    (r) =>
      r.scenario === scenario &&
      (caseName === undefined || r.case === caseName) &&
      r.system === system,
  );
}

function target(
  id: string,
  scenario: string,
  what: string,
  direction: 'atLeast' | 'atMost',
  threshold: number,
  achieved: number | undefined,
): TargetResult | null {
  if (achieved === undefined || !Number.isFinite(achieved)) return null;
  const pass = direction === 'atLeast' ? achieved >= threshold : achieved <= threshold;
  let missedBy = '';
  if (!pass) {
    const factor = direction === 'atLeast' ? threshold / achieved : achieved / threshold;
    const percent = Math.abs(factor - 1) * 100;
    const pct = percent < 10 ? percent.toFixed(1) : percent.toFixed(0);
    const times = factor < 1.1 ? factor.toFixed(3) : factor.toFixed(2);
    missedBy =
      direction === 'atLeast'
        ? `${((1 - achieved / threshold) * 100).toFixed(percent < 10 ? 1 : 0)}% short (needs ${times}× more)`
        : `${pct}% over (needs ${times}× less)`;
  }
  return {
    id,
    scenario,
    what,
    target: `${direction === 'atLeast' ? '≥' : '≤'} ${threshold}×`,
    threshold,
    direction,
    achieved,
    pass,
    missedBy,
  };
}

/** Evaluates the targets from the runs of this one bench run. */
export function evaluateTargets(results: BenchResults): TargetResult[] {
  const out: (TargetResult | null)[] = [];
  const rps = (scenario: string, caseName: string | undefined, system: string) =>
    findRun(results, scenario, caseName, system)?.result.read?.rps;

  /** Server CPU µs per response of a read run. */
  const cpuPerReq = (system: string) => {
    const run = findRun(results, 'S1', undefined, system);
    const read = run?.result.read;
    return run && read ? run.result.serverCpu / read.rps : undefined;
  };
  const byCpu = (system: string) => {
    const mine = cpuPerReq('product');
    const theirs = cpuPerReq(system);
    return mine !== undefined && theirs !== undefined ? theirs / mine : undefined;
  };
  const s1 = rps('S1', undefined, 'product');
  const s1NoCache = rps('S1', undefined, 'product (answer cache off)');
  const s1Mutex = rps('S1', undefined, 'mutex-clone');
  const s1Ceiling = rps('S1', undefined, 'ceiling');
  const withCpu = (t: TargetResult | null, system: string) => {
    const value = byCpu(system);
    if (t !== null && value !== undefined && Number.isFinite(value)) t.achievedByCpu = value;
    return t;
  };
  const ratioOf = (a: number | undefined, b: number | undefined) =>
    a !== undefined && b !== undefined ? a / b : undefined;
  /** The last of `runs` ÷ the first by `mean` (at most `threshold`): how time grows with size. */
  const growth = (
    id: string,
    runs: RunRecord[],
    mean: (run: RunRecord) => number | undefined,
    what: (first: string, last: string) => string,
    threshold: number,
  ) => {
    if (runs.length < 2) return null;
    const first = runs[0]!;
    const last = runs[runs.length - 1]!;
    return target(
      id,
      first.scenario,
      what(first.case, last.case),
      'atMost',
      threshold,
      ratioOf(mean(last), mean(first)),
    );
  };
  out.push(
    withCpu(
      target(
        'S1-vs-mutex-clone',
        'S1',
        'hot page throughput, product ÷ mutex-clone',
        'atLeast',
        5,
        ratioOf(s1, s1Mutex),
      ),
      'mutex-clone',
    ),
    withCpu(
      target(
        'S1-vs-ceiling',
        'S1',
        'hot page throughput, product ÷ ceiling',
        'atLeast',
        0.8,
        ratioOf(s1, s1Ceiling),
      ),
      'ceiling',
    ),
    target(
      'S1-no-cache-vs-ceiling',
      'S1',
      'hot page throughput, product with the answer cache off ÷ ceiling',
      'atLeast',
      0.5,
      ratioOf(s1NoCache, s1Ceiling),
    ),
    target(
      'S2-vs-single-thread',
      'S2',
      'context DTO throughput, product ÷ single-thread',
      'atLeast',
      1.2,
      ratioOf(rps('S2', undefined, 'product'), rps('S2', undefined, 'single-thread')),
    ),
  );
  // Every S4 case is a page of 50; the target holds for the worst of them.
  const s4Ratios = results.runs
    .filter((r) => r.scenario === 'S4' && r.system === 'product')
    .map((r) => ratioOf(r.result.read?.rps, rps('S4', r.case, 'single-thread')))
    .filter((v): v is number => v !== undefined);
  if (s4Ratios.length > 0) {
    out.push(
      target(
        'S4-vs-single-thread',
        'S4',
        'page of 50 throughput, product ÷ single-thread (the worst case of S4)',
        'atLeast',
        2.5,
        Math.min(...s4Ratios),
      ),
    );
  }

  const mixed = findRun(results, 'S3', 'mixed', 'product')?.result.read?.p99;
  const readOnly = findRun(results, 'S3', 'read-only', 'product')?.result.read?.p99;
  out.push(
    target(
      'S3-read-p99',
      'S3',
      'read p99 under 10% appends ÷ read p99 read-only (product)',
      'atMost',
      1.5,
      ratioOf(mixed, readOnly),
    ),
  );

  const pages = results.runs.filter((r) => r.scenario === 'S4' && r.system === 'product');
  out.push(
    growth(
      'S4-page-time',
      pages,
      (run) => run.result.read?.mean,
      (first, last) => `page of 50: mean time from ${last} ÷ from ${first} (product)`,
      1.2,
    ),
  );

  const appends = results.runs.filter((r) => r.scenario === 'S5' && r.system === 'product');
  for (const run of appends) {
    const mine = run.result.write?.rps;
    // "Today's code" of the issue: the commit it was filed at, when the bench could build it.
    const filedAt = findRun(results, 'S5', run.case, 'product-before-issue-12')?.result.write?.rps;
    if (filedAt !== undefined) {
      out.push(
        target(
          `S5-vs-before-issue-12 (${run.case})`,
          'S5',
          `appends/s to ${run.case}, ${run.connections} clients, fsync on: product ÷ product-before-issue-12 (commit a9894cd, the code when issue 12 was filed), same run`,
          'atLeast',
          2,
          ratioOf(mine, filedAt),
        ),
      );
    }
    // The same product with group commit off: what sharing syncs alone is worth.
    const today = findRun(results, 'S5', run.case, 'product-sync-under-lock')?.result.write?.rps;
    if (today === undefined) continue;
    out.push(
      target(
        `S5-vs-sync-under-lock (${run.case})`,
        'S5',
        `appends/s to ${run.case}, ${run.connections} clients, fsync on: product ÷ product-sync-under-lock (GROUP_COMMIT=false, the code before group commit), same run`,
        'atLeast',
        2,
        ratioOf(mine, today),
      ),
    );
  }
  out.push(
    growth(
      'S5-append-time',
      appends,
      (run) => run.result.write?.mean,
      (first, last) => `append: mean time to ${last} ÷ to ${first} (product)`,
      1.5,
    ),
  );

  const memory = results.memory;
  if (memory !== null && memory.storedBytes > 0) {
    out.push(
      target(
        'S6-shared-bytes',
        'S6',
        'shared memory in use ÷ stored message bytes (product)',
        'atMost',
        1.5,
        memory.product.sharedUsedBytes / memory.storedBytes,
      ),
      target(
        'S6-rss-growth',
        'S6',
        'RSS growth (loaded − idle) ÷ stored message bytes (product)',
        'atMost',
        1.5,
        (memory.product.rssLoaded - memory.product.rssIdle) / memory.storedBytes,
      ),
    );
  }
  return out.filter((t): t is TargetResult => t !== null);
}
