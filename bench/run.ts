import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, platform, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { MAIN_PLAN } from './lib/plan.js';
import { renderMarkdown } from './lib/report.js';
import type { BenchResults } from './lib/results.js';
import {
  appendPhase,
  type Bench,
  mainPhase,
  memoryPhase,
  type Profile,
  workersPhase,
} from './lib/scenarios.js';
import { renderSvg } from './lib/svg.js';
import { evaluateTargets } from './lib/targets.js';

/**
 * `npm run bench [-- --quick] [-- --only S1,S6] [-- --no-docs]`: runs S1–S7 against the
 * product and the baselines, writes bench/results/<timestamp>.json and latest.json, and
 * (unless --no-docs or --only) regenerates docs/benchmarks.md and docs/benchmarks.svg.
 * `node dist/bench/run.js --render` re-renders the docs from bench/results/latest.json.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CORES = availableParallelism();

const WORKER_COUNTS = Array.from({ length: CORES }, (_, i) => i + 1);

const PROFILES: Record<'quick' | 'full', Profile> = {
  quick: {
    mode: 'quick',
    warmupSeconds: 0.75,
    durationSeconds: 1.25,
    readConnections: 50,
    appendConnections: 4,
    appendCount: 3000,
    appendCompactLogRatio: 0.25,
    seedConcurrency: 32,
    memoryContexts: 30,
    memoryMessages: 100,
    workerCounts: WORKER_COUNTS,
    noisyCpu: 0.25,
    retries: 0,
    retryBudgetSeconds: 0,
    rounds: 1,
    extrasUntilSeconds: 0,
    deadlineSeconds: 170,
  },
  full: {
    mode: 'full',
    warmupSeconds: 2,
    durationSeconds: 5,
    readConnections: 50,
    appendConnections: 4,
    appendCount: 6000,
    appendCompactLogRatio: 0.25,
    seedConcurrency: 32,
    memoryContexts: 1000,
    memoryMessages: 100,
    workerCounts: WORKER_COUNTS,
    noisyCpu: 0.25,
    retries: 1,
    retryBudgetSeconds: 60,
    rounds: 2,
    extrasUntilSeconds: 400,
    deadlineSeconds: 780,
  },
};

const PHASES = ['main', 'appends', 'memory', 'workers'] as const;
type Phase = (typeof PHASES)[number];
const PHASE_OF: Record<string, Phase> = {
  S1: 'main',
  S2: 'main',
  S3: 'main',
  S4: 'main',
  S5: 'appends',
  S6: 'memory',
  S7: 'workers',
};

function writeDocs(results: BenchResults): void {
  const analysisFile = join(ROOT, 'bench', 'analysis.md');
  const analysis = existsSync(analysisFile) ? readFileSync(analysisFile, 'utf8') : null;
  mkdirSync(join(ROOT, 'docs'), { recursive: true });
  writeFileSync(join(ROOT, 'docs', 'benchmarks.md'), renderMarkdown(results, analysis));
  writeFileSync(join(ROOT, 'docs', 'benchmarks.svg'), renderSvg(results));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      'no-docs': { type: 'boolean', default: false },
      render: { type: 'boolean', default: false },
    },
  });
  if (values.render) {
    // Re-renders the docs from bench/results/latest.json (e.g. after editing analysis.md).
    const latest = join(ROOT, 'bench', 'results', 'latest.json');
    const results = JSON.parse(readFileSync(latest, 'utf8')) as BenchResults;
    results.targets = evaluateTargets(results);
    writeDocs(results);
    process.stdout.write(`rendered docs/benchmarks.md and docs/benchmarks.svg from ${latest}\n`);
    return;
  }
  const profile = PROFILES[values.quick ? 'quick' : 'full'];
  let phases: Phase[] = [...PHASES];
  if (values.only !== undefined) {
    const wanted = values.only.split(',').map((s) => s.trim().toUpperCase());
    phases = PHASES.filter((p) => wanted.some((w) => PHASE_OF[w] === p));
  }
  const started = performance.now();
  const startedAt = new Date();
  const log = (message: string) => {
    const t = ((performance.now() - started) / 1000).toFixed(1).padStart(6);
    process.stdout.write(`[${t}s] ${message}\n`);
  };

  const command =
    `npm run bench${values.quick ? ' -- --quick' : ''}` +
    `${values.only === undefined ? '' : ` -- --only ${values.only}`}`;
  const results: BenchResults = {
    schema: 1,
    mode: profile.mode,
    command,
    startedAt: startedAt.toISOString(),
    elapsedSeconds: 0,
    machine: {
      cpus: CORES,
      cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
      node: process.versions.node,
      platform: `${platform()} ${release()}`,
      memoryGiB: totalmem() / 1024 ** 3,
      loadAverage: loadavg()[0] ?? 0,
    },
    settings: {
      warmupSeconds: profile.warmupSeconds,
      durationSeconds: profile.durationSeconds,
      readConnections: profile.readConnections,
      appendConnections: profile.appendConnections,
      appendCount: profile.appendCount,
      appendCompactLogRatio: profile.appendCompactLogRatio,
      seedConcurrency: profile.seedConcurrency,
      noisyCpu: profile.noisyCpu,
      retries: profile.retries,
      rounds: profile.rounds,
      messageBytes: MAIN_PLAN.messageBytes,
      productWorkers: CORES,
      fsync: true,
      memoryContexts: profile.memoryContexts,
      memoryMessages: profile.memoryMessages,
    },
    seeding: [],
    runs: [],
    memory: null,
    targets: [],
    notes: [],
  };
  if (profile.mode === 'quick') {
    results.notes.push(
      `--quick: ${profile.warmupSeconds} s warm-up and ${profile.durationSeconds} s per run, and S6 scaled down to ${profile.memoryContexts} contexts × ${profile.memoryMessages} messages (the full run seeds 1,000 × 100); figures are indicative only.`,
    );
  }
  if (values.only !== undefined) results.notes.push(`--only ${values.only}: a partial run.`);

  const runs = phases.includes('main') ? 30 : 0;
  const perRun = profile.warmupSeconds + profile.durationSeconds;
  log(
    `${profile.mode} run on ${CORES} cores, Node ${process.versions.node}: phases ${phases.join(', ')}; ` +
      `${perRun} s per run (${profile.warmupSeconds} s warm-up + ${profile.durationSeconds} s measured), ` +
      `${profile.readConnections} connections for reads, ${profile.appendConnections} for S5 appends; ` +
      `about ${runs} runs in S1–S4; S6 ${profile.memoryContexts} × ${profile.memoryMessages} messages; ` +
      `S7 workers ${profile.workerCounts.join(', ')}`,
  );

  const tmp = mkdtempSync(join(tmpdir(), 'ccs-bench-'));
  const bench: Bench = {
    profile,
    ...(values.only === undefined
      ? {}
      : { only: new Set(values.only.split(',').map((s) => s.trim().toUpperCase())) }),
    results,
    tmp,
    log,
    retrySeconds: 0,
    elapsed: () => (performance.now() - started) / 1000,
  };
  try {
    if (phases.includes('main')) await mainPhase(bench);
    if (phases.includes('appends')) await appendPhase(bench);
    if (phases.includes('memory')) await memoryPhase(bench);
    if (phases.includes('workers')) await workersPhase(bench);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }

  results.elapsedSeconds = (performance.now() - started) / 1000;
  results.targets = evaluateTargets(results);

  const resultsDir = join(ROOT, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const json = `${JSON.stringify(results, null, 2)}\n`;
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  const file = join(resultsDir, `${stamp}-${profile.mode}.json`);
  writeFileSync(file, json);
  writeFileSync(join(resultsDir, 'latest.json'), json);
  log(`results: ${file} and bench/results/latest.json`);

  if (!values['no-docs'] && values.only === undefined) {
    writeDocs(results);
    log('wrote docs/benchmarks.md and docs/benchmarks.svg');
  }

  for (const t of results.targets) {
    log(
      `target ${t.id}: ${t.achieved.toFixed(2)}× (${t.target}) ${t.pass ? 'met' : `MISSED, ${t.missedBy}`}`,
    );
  }
  log(`done in ${(results.elapsedSeconds / 60).toFixed(1)} min`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
