/**
 * `npm run stress`: real worker threads hammering registered reader-writer locks, in three
 * modes run one after another, each for a third of `--duration` seconds (default 60):
 *
 * - **correct**: locks taken in rank order (context, then sometimes the arena lock inside),
 *   in checked mode. Expect no deadlock, no order error, no timeout, no exclusion violation.
 * - **inversions**: each round takes two context locks in random order, so wait-for cycles
 *   form all the time; the deadlock detector (main thread) must find and break every one.
 *   Waits have a deadline far longer than the detector needs, so a cycle it missed shows up
 *   as a timeout. Expect cycles detected = victims failed, no timeout, no violation.
 * - **kills**: correct-ordering work while the main thread terminates a random worker every
 *   few milliseconds (often inside a critical section, holding locks, or parked), recovers
 *   its locks with `releaseAllHeldBy` (poisoning and repairing data it was writing) and
 *   starts a replacement. Expect no timeout, no violation, every lock word back to 0.
 *
 * Exclusion is checked by occupancy words (each worker publishes which lock it is inside, in
 * which mode, and checks nobody conflicting is) and by a two-word datum per lock that a
 * writer updates in two steps and readers must always see equal. Exit status 1 on any
 * failure. Flags: --duration <s> --threads <n ≤ 4> --contexts <n> --seed <n> --mode <m>.
 */

import { loadavg } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { DeadlockDetector, type LockEvent } from '../../src/sync/deadlock-detector.js';
import { arenaLockId, contextLockId } from '../../src/sync/lock-ids.js';
import { LockRegistry } from '../../src/sync/lock-registry.js';
import { pendingReconciliation, reconcile, releaseAllHeldBy } from '../../src/sync/recovery.js';
import { RWLOCK_WORDS, RwLock } from '../../src/sync/rwlock.js';
import {
  bucketUpperUs,
  type StressLayout,
  type StressMode,
  type StressReport,
  type StressWorkerInput,
  stressLayout,
  TOTAL,
  WAIT_BUCKETS,
} from './layout.js';

const WORKER_URL = new URL('./worker.js', import.meta.url);

interface Args {
  durationS: number;
  threads: number;
  contexts: number;
  seed: number;
  modes: StressMode[];
}

function parseArgs(argv: string[]): Args {
  const args: Args = {
    durationS: 60,
    threads: 4,
    contexts: 8,
    seed: 0x5eed,
    modes: ['correct', 'inversions', 'kills'],
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    const num = Number(value);
    if (flag === '--mode' && value !== undefined) {
      if (!['correct', 'inversions', 'kills'].includes(value)) throw new Error(`bad --mode`);
      args.modes = [value as StressMode];
    } else if (flag === '--duration' && num > 0) args.durationS = num;
    else if (flag === '--threads' && Number.isInteger(num) && num >= 2 && num <= 4) {
      args.threads = num;
    } else if (flag === '--contexts' && Number.isInteger(num) && num >= 2 && num <= 64) {
      args.contexts = num;
    } else if (flag === '--seed' && Number.isInteger(num)) args.seed = num;
    else throw new Error(`unknown or bad flag ${flag} ${value ?? ''}`.trim());
    i++;
  }
  return args;
}

interface ModeResult {
  mode: StressMode;
  ok: boolean;
  lines: string[];
}

interface Slot {
  worker: Worker;
  ownerId: number;
  report: Promise<StressReport | null>;
  startCount: number;
}

function percentile(hist: number[], q: number): number {
  const total = hist.reduce((a, b) => a + b, 0);
  if (total === 0) return 0;
  let seen = 0;
  for (let b = 0; b < WAIT_BUCKETS; b++) {
    seen += hist[b]!;
    if (seen >= q * total) return bucketUpperUs(b);
  }
  return bucketUpperUs(WAIT_BUCKETS - 1);
}

function fmtUs(us: number): string {
  if (us < 1000) return `${us.toPrecision(3)} µs`;
  return `${(us / 1000).toPrecision(3)} ms`;
}

async function runMode(mode: StressMode, seconds: number, args: Args): Promise<ModeResult> {
  const layout: StressLayout = stressLayout(args.contexts, args.threads);
  const ids = [...Array.from({ length: args.contexts }, (_, k) => contextLockId(k)), arenaLockId()];
  const checked = mode !== 'inversions';
  const registrySab = LockRegistry.createBuffer({ threads: 64, checked });
  const registry = new LockRegistry(registrySab);
  const work = new SharedArrayBuffer(layout.words * 4);
  const i32 = new Int32Array(work);
  const views = ids.map((id, k) =>
    RwLock.init(i32, layout.locksAt + RWLOCK_WORDS * k, { id, registry }),
  );
  const events: LockEvent[] = [];
  const detector = new DeadlockDetector(registry, {
    intervalMs: mode === 'inversions' ? 5 : 20,
    longWaitMs: 2000,
    logger: (e) => events.push(e),
  }).start();
  const timeoutMs = mode === 'correct' ? 5000 : 10_000;

  let seed = args.seed ^ (mode.length * 0x9e3779b9);
  const rand = (n: number): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  const spawn = (slot: number): Slot => {
    const input: StressWorkerInput = {
      mode,
      slot,
      seed: rand(0x7fffffff) + 1,
      registry: registrySab,
      work,
      layout,
      ids,
      timeoutMs,
      checked,
    };
    const worker = new Worker(WORKER_URL, { workerData: input });
    // Settles when the thread is gone (never earlier: its record is recovered then), with
    // its report if it sent one.
    const report = new Promise<StressReport | null>((resolve) => {
      let sent: StressReport | null = null;
      worker.once('message', (r: StressReport) => {
        sent = r;
      });
      worker.once('error', (e) => {
        console.error(`worker ${slot} error: ${e.stack ?? e.message}`);
      });
      worker.once('exit', () => resolve(sent));
    });
    return {
      worker,
      ownerId: worker.threadId + 1,
      report,
      startCount: Atomics.load(i32, layout.countsAt + slot),
    };
  };

  const slots = Array.from({ length: args.threads }, (_, s) => spawn(s));
  const startBy = performance.now() + 30_000;
  while (Atomics.load(i32, layout.ready) < args.threads) {
    if (performance.now() > startBy) throw new Error('stress workers did not start');
    await delay(5);
  }
  const started = performance.now();
  Atomics.store(i32, layout.go, 1);
  Atomics.notify(i32, layout.go);

  const kills = {
    total: 0,
    insideSection: 0,
    holding: 0,
    writeLocked: 0,
    released: 0,
    reconciling: 0,
  };
  const finishedReports: StressReport[] = [];
  const end = started + seconds * 1000;
  if (mode === 'kills') {
    while (performance.now() < end) {
      await delay(5 + rand(40));
      const s = rand(args.threads);
      const slot = slots[s]!;
      if (Atomics.load(i32, layout.countsAt + s) === slot.startCount) continue; // not going yet
      await slot.worker.terminate();
      kills.total++;
      const occ = layout.occupancyAt + 2 * s;
      if (Atomics.load(i32, occ) !== 0 || Atomics.load(i32, occ + 1) !== 0) kills.insideSection++;
      // It died inside its section or not: either way nobody else is in there now.
      Atomics.store(i32, occ, 0);
      Atomics.store(i32, occ + 1, 0);
      const r = releaseAllHeldBy(registry, slot.ownerId, {
        // Still write-locked by the dead thread: "reload from storage" = repair the datum.
        poison: (lockId) => {
          const k = ids.indexOf(lockId);
          const xAt = layout.dataAt + 2 * k;
          Atomics.store(i32, xAt + 1, Atomics.load(i32, xAt));
        },
      });
      if (r.released.length > 0 || r.reconciling.length > 0) kills.holding++;
      if (r.reconciling.length > 0) kills.reconciling++;
      kills.writeLocked += r.writeLocked.length;
      kills.released += r.released.length;
      if (r.unknown.length > 0 || r.untracked > 0) {
        console.error(`recovery could not see everything: ${JSON.stringify(r)}`);
        Atomics.add(i32, layout.violations, 1);
      }
      slots[s] = spawn(s);
    }
  } else {
    await delay(seconds * 1000);
  }
  Atomics.store(i32, layout.stop, 1);
  const elapsedS = (performance.now() - started) / 1000;
  for (const slot of slots) {
    const r = await slot.report;
    if (r !== null) finishedReports.push(r);
    // Exited normally (or not): free its record, recovering anything it still held.
    const left = releaseAllHeldBy(registry, slot.ownerId);
    if (left.released.length > 0) {
      console.error(`worker ${slot.ownerId} exited holding ${JSON.stringify(left.released)}`);
      Atomics.add(i32, layout.violations, 1);
    }
  }
  for (let i = 0; i < 50 && pendingReconciliation(registry).length > 0; i++) {
    reconcile(registry);
    await delay(1);
  }
  detector.stop();

  // Totals and checks.
  const total = (c: number): number => Atomics.load(i32, layout.totalsAt + c);
  const hist = Array.from(i32.subarray(layout.histAt, layout.histAt + WAIT_BUCKETS));
  const sections = Array.from({ length: args.threads }, (_, s) =>
    Atomics.load(i32, layout.countsAt + s),
  ).reduce((a, b) => a + b, 0);
  const violations = Atomics.load(i32, layout.violations);
  const lockWordsClean = views.every((v) =>
    Array.from(i32.subarray(v.base, v.base + RWLOCK_WORDS)).every((x) => x === 0),
  );
  const recordsInUse = registry.snapshot().length;
  const deadlocks = events.filter((e) => e.kind === 'deadlock');
  const errors = finishedReports.flatMap((r) => r.errors);
  const timeouts = total(TOTAL.timeouts);
  const victims = total(TOTAL.victims);
  const orderErrors = total(TOTAL.orderErrors);
  const maxWaitUs = total(TOTAL.maxWaitUs);
  const metrics = registry.readStats();

  const lines: string[] = [];
  const failures: string[] = [];
  const expectThat = (ok: boolean, what: string): void => {
    if (!ok) failures.push(what);
  };
  lines.push(
    `${sections.toLocaleString('en')} sections in ${elapsedS.toFixed(1)} s = ` +
      `${Math.round(sections / elapsedS).toLocaleString('en')} ops/s ` +
      `(${total(TOTAL.reads).toLocaleString('en')} reads, ` +
      `${total(TOTAL.writes).toLocaleString('en')} writes, ` +
      `${total(TOTAL.nested).toLocaleString('en')} with a second lock nested)`,
  );
  lines.push(
    `lock wait (acquire call) p50 ≤ ${fmtUs(percentile(hist, 0.5))}, ` +
      `p99 ≤ ${fmtUs(percentile(hist, 0.99))}, p99.9 ≤ ${fmtUs(percentile(hist, 0.999))}, ` +
      `max ${fmtUs(maxWaitUs)}`,
  );
  lines.push(
    `deadlocks detected ${deadlocks.length}, victims failed ${victims}, timeouts ${timeouts}, ` +
      `order errors ${orderErrors}, exclusion/data violations ${violations}, ` +
      `long waits ${events.filter((e) => e.kind === 'long-wait').length}`,
  );
  const ctx = metrics.context;
  lines.push(
    `registry metrics (context locks): ${ctx.acquisitions.toLocaleString('en')} acquisitions, ` +
      `${ctx.contended.toLocaleString('en')} contended, ${ctx.timeouts} timeouts, ` +
      `${ctx.deadlocksBroken} deadlocks broken; mean contended wait ` +
      `${fmtUs((ctx.waitSeconds.sum / Math.max(1, ctx.waitSeconds.count)) * 1e6)}` +
      (mode === 'kills' ? ' (killed workers lose their unpublished counts)' : ''),
  );
  expectThat(ctx.deadlocksBroken === victims, 'metrics disagree with the victims counted');
  expectThat(violations === 0, 'exclusion or data violations');
  expectThat(timeouts === 0, 'lock waits timed out');
  expectThat(errors.length === 0, `errors: ${errors.slice(0, 3).join('; ')}`);
  expectThat(lockWordsClean, 'lock words not all 0 at the end');
  expectThat(recordsInUse === 0, `${recordsInUse} registry records still in use`);
  expectThat(sections > 0, 'no progress');
  if (mode === 'inversions') {
    expectThat(deadlocks.length > 0, 'no deadlock formed (the mode is meant to cause them)');
    expectThat(
      victims === deadlocks.length,
      `${deadlocks.length} cycles detected but ${victims} victims failed`,
    );
    const sizes = deadlocks.map((d) => (d.kind === 'deadlock' ? d.cycle.length : 0));
    lines.push(
      `cycles formed and broken: ${deadlocks.length} (sizes: ` +
        `${[...new Set(sizes)]
          .sort()
          .map((n) => `${n}: ${sizes.filter((x) => x === n).length}`)
          .join(', ')})`,
    );
    const first = deadlocks[0];
    if (first !== undefined) lines.push(`first report:\n${first.message}`);
  } else {
    expectThat(deadlocks.length === 0, 'a deadlock in correct ordering');
    expectThat(victims === 0 && orderErrors === 0, 'victims or order errors');
  }
  if (mode === 'kills') {
    lines.push(
      `kills ${kills.total}: ${kills.insideSection} inside a critical section, ` +
        `${kills.holding} holding or taking locks, ${kills.reconciling} of them mid-operation ` +
        `(counts reconciled); locks released ${kills.released} (${kills.writeLocked} ` +
        `write-locked: poisoned and repaired); all lock words 0 at the end: ${lockWordsClean}`,
    );
    expectThat(kills.total > 0 && kills.holding > 0, 'no kill landed while holding a lock');
  }
  const ok = failures.length === 0;
  lines.push(ok ? 'PASS' : `FAIL: ${failures.join('; ')}`);
  return { mode, ok, lines };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const perMode = args.durationS / args.modes.length;
  console.log(
    `stress: ${args.modes.join(', ')} for ${perMode.toFixed(1)} s each ` +
      `(${args.durationS} s total), ${args.threads} worker threads, ${args.contexts} context ` +
      `locks + 1 arena lock, seed ${args.seed}; load average ${loadavg()[0]!.toFixed(2)}`,
  );
  const results: ModeResult[] = [];
  for (const mode of args.modes) {
    const r = await runMode(mode, perMode, args);
    results.push(r);
    console.log(`\n[${mode}]`);
    for (const line of r.lines) console.log(`  ${line.replaceAll('\n', '\n  ')}`);
  }
  const failed = results.filter((r) => !r.ok).map((r) => r.mode);
  console.log(
    `\nstress: ${failed.length === 0 ? 'all modes passed' : `FAILED: ${failed.join(', ')}`}`,
  );
  process.exitCode = failed.length === 0 ? 0 : 1;
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
