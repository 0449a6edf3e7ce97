/**
 * `npm run bench:lock`: what the shared-memory locks cost, side by side with a plain
 * shared-memory mutex on the same buffer.
 *
 * 1. Uncontended acquire+release pairs, ns each (median of rounds, one worker thread):
 *    the plain mutex; the RwLock before the registry refactor (`baseline-rwlock.ts`); the
 *    RwLock on `LockMemory` without a registry; registered (bookkeeping only); registered
 *    with timing (hold-time histogram: two clock reads per pair); registered in checked mode.
 * 2. Contended throughput, 1–4 threads on one lock, each pair around a one-word critical
 *    section: mutex; RwLock 100 % writes, 10 % writes, 0 % writes; registered RwLock (with
 *    timing) 10 % writes.
 *
 * Bounded: `--seconds <s>` per contended cell (default 0.5), `--iterations <n>` pairs per
 * uncontended round (default 1,000,000) and `--rounds <n>` (default 9; subjects take turns,
 * so machine noise spreads over all of them; best and median reported). Prints a table and
 * writes `bench/lock/results.json`.
 */
import { writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { LockRegistry } from '../../src/sync/lock-registry.js';
import { RwLock } from '../../src/sync/rwlock.js';
import { B, type BenchInput, type Subject } from './shared.js';

const WORKER_URL = new URL('./worker.js', import.meta.url);
const RESULTS = fileURLToPath(new URL('../../../bench/lock/results.json', import.meta.url));

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : Number.NaN;
  return Number.isFinite(v) && v > 0 ? v : fallback;
}

const seconds = arg('seconds', 0.5);
const iterations = Math.round(arg('iterations', 1_000_000));
const rounds = Math.round(arg('rounds', 9));

function buffers(): { sab: SharedArrayBuffer; registry: SharedArrayBuffer } {
  const sab = new SharedArrayBuffer(B.words * 4);
  RwLock.init(new Int32Array(sab), B.rw);
  return { sab, registry: LockRegistry.createBuffer({ threads: 16 }) };
}

function run<T>(input: BenchInput): { worker: Worker; result: Promise<T> } {
  const worker = new Worker(WORKER_URL, { workerData: input });
  const result = new Promise<T>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return { worker, result };
}

/** A worker timing uncontended pairs of one subject, one round per request. */
class Timer {
  private readonly worker: Worker;
  private next: ((ns: number) => void) | null = null;
  readonly ready: Promise<void>;

  constructor(subject: Subject) {
    const { sab, registry } = buffers();
    const input: BenchInput = {
      task: 'uncontended',
      subject,
      writePercent: 0,
      iterations,
      rounds,
      sab,
      registry,
      seed: 1,
    };
    this.worker = new Worker(WORKER_URL, { workerData: input });
    this.ready = new Promise((resolve, reject) => {
      this.worker.once('error', reject);
      this.worker.on('message', (m: 'ready' | number) => {
        if (m === 'ready') resolve();
        else this.next?.(m);
      });
    });
  }

  round(kind: 'read' | 'write'): Promise<number> {
    return new Promise((resolve) => {
      this.next = resolve;
      this.worker.postMessage(kind);
    });
  }

  close(): Promise<number> {
    return this.worker.terminate();
  }
}

/** Rounds of every subject, interleaved, so that machine noise spreads over all of them. */
async function uncontended(
  subjects: Subject[],
): Promise<{ subject: Subject; read: number[]; write: number[] }[]> {
  const timers = subjects.map((s) => new Timer(s));
  await Promise.all(timers.map((t) => t.ready));
  const out = subjects.map((subject) => ({ subject, read: [] as number[], write: [] as number[] }));
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < subjects.length; k++) {
      out[k]!.read.push(await timers[k]!.round('read'));
      out[k]!.write.push(await timers[k]!.round('write'));
    }
  }
  await Promise.all(timers.map((t) => t.close()));
  return out;
}

function best(xs: number[]): number {
  return Math.min(...xs);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function contended(subject: Subject, writePercent: number, threads: number): Promise<number> {
  const { sab, registry } = buffers();
  const i32 = new Int32Array(sab);
  const runs = Array.from({ length: threads }, (_, k) =>
    run<number>({
      task: 'contended',
      subject,
      writePercent,
      iterations: 0,
      rounds: 0,
      sab,
      registry,
      seed: 0x9e3779b9 ^ (k + 1),
    }),
  );
  while (Atomics.load(i32, B.ready) < threads) await delay(2);
  const t0 = performance.now();
  Atomics.store(i32, B.go, 1);
  Atomics.notify(i32, B.go);
  await delay(seconds * 1000);
  Atomics.store(i32, B.stop, 1);
  const ops = await Promise.all(runs.map((r) => r.result));
  const elapsed = (performance.now() - t0) / 1000;
  return ops.reduce((a, b) => a + b, 0) / elapsed;
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

async function main(): Promise<void> {
  const subjects: Subject[] = [
    'mutex',
    'baseline',
    'rwlock',
    'registered',
    'registered+timing',
    'registered+checked',
  ];
  const workloads: { name: string; subject: Subject; writePercent: number }[] = [
    { name: 'mutex (exclusive)', subject: 'mutex', writePercent: 100 },
    { name: 'rwlock 100% write', subject: 'rwlock', writePercent: 100 },
    { name: 'rwlock 10% write', subject: 'rwlock', writePercent: 10 },
    { name: 'rwlock 0% write', subject: 'rwlock', writePercent: 0 },
    { name: 'registered 10% write', subject: 'registered+timing', writePercent: 10 },
  ];
  const maxThreads = 4;
  const cores = availableParallelism();
  console.log(
    `bench:lock — node ${process.version}, ${cores} cores (${cpus()[0]?.model ?? '?'}), ` +
      `load average ${loadavg()[0]!.toFixed(2)}; ` +
      `uncontended: ${rounds} rounds × ${iterations.toLocaleString('en')} pairs per subject ` +
      `and mode; ` +
      `contended: ${seconds} s per cell, 1–${maxThreads} threads ` +
      `(~${Math.ceil(workloads.length * maxThreads * (seconds + 0.1))} s)`,
  );

  console.log('\nuncontended acquire + release, ns per pair: best / median of rounds');
  console.log(`  ${pad('subject', 22)}${pad('read', 16)}write`);
  const uncontendedResults: {
    subject: Subject;
    readNs: { best: number; median: number };
    writeNs: { best: number; median: number };
  }[] = [];
  for (const r of await uncontended(subjects)) {
    const readNs = { best: best(r.read), median: median(r.read) };
    const writeNs = { best: best(r.write), median: median(r.write) };
    uncontendedResults.push({ subject: r.subject, readNs, writeNs });
    const fmt = (x: { best: number; median: number }): string =>
      `${x.best.toFixed(1)} / ${x.median.toFixed(1)}`;
    console.log(
      `  ${pad(r.subject, 22)}${pad(r.subject === 'mutex' ? '—' : fmt(readNs), 16)}${fmt(writeNs)}`,
    );
  }

  console.log('\ncontended throughput, million acquire+release pairs per second (all threads)');
  console.log(
    `  ${pad('workload', 24)}${Array.from({ length: maxThreads }, (_, k) => pad(`${k + 1} thr`, 10)).join('')}`,
  );
  const contendedResults: { workload: string; threads: number; opsPerSec: number }[] = [];
  for (const w of workloads) {
    const cells: string[] = [];
    for (let t = 1; t <= maxThreads; t++) {
      const opsPerSec = await contended(w.subject, w.writePercent, t);
      contendedResults.push({ workload: w.name, threads: t, opsPerSec });
      cells.push(pad((opsPerSec / 1e6).toFixed(2), 10));
    }
    console.log(`  ${pad(w.name, 24)}${cells.join('')}`);
  }

  const results = {
    command: 'npm run bench:lock',
    date: new Date().toISOString(),
    node: process.version,
    cores,
    cpu: cpus()[0]?.model ?? 'unknown',
    loadAverageAtStart: loadavg()[0],
    bounds: { uncontendedRounds: rounds, iterations, contendedSecondsPerCell: seconds },
    uncontendedNsPerPair: uncontendedResults,
    contendedOpsPerSec: contendedResults,
  };
  writeFileSync(RESULTS, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nwrote ${RESULTS}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
