/**
 * A stress worker (see `run.ts`): hammers random context locks until the stop word is set,
 * checking at every entry that the lock really excludes what it should.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { LockRegistry } from '../../src/sync/lock-registry.js';
import { RwLock } from '../../src/sync/rwlock.js';
import { type StressReport, type StressWorkerInput, TOTAL, waitBucket } from './layout.js';

const input = workerData as StressWorkerInput;
const L = input.layout;
const i32 = new Int32Array(input.work);
const registry = new LockRegistry(input.registry, { checked: input.checked });
const locks = input.ids.map((id, k) => new RwLock(i32, L.locksAt + 4 * k, { id, registry }));
const arena = locks[L.contexts]!;
const T = input.timeoutMs;

const report: StressReport = { slot: input.slot, errors: [] };

function count(c: number): void {
  Atomics.add(i32, L.totalsAt + c, 1);
}

let x = input.seed | 0 || 1;
function rand(n: number): number {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  return (x >>> 0) % n;
}

function spinUs(us: number): void {
  const until = performance.now() + us / 1000;
  while (performance.now() < until) {}
}

function violation(): void {
  Atomics.add(i32, L.violations, 1);
}

/** Takes lock k; records the wait. Returns false if the wait failed (counted). */
function acquire(k: number, write: boolean): boolean {
  const lock = locks[k]!;
  const t0 = performance.now();
  try {
    if (rand(10) === 0) {
      if (write ? lock.tryWrite() : lock.tryRead()) {
        record(t0);
        return true;
      }
    }
    if (write) lock.writeLock(T);
    else lock.readLock(T);
  } catch (e) {
    const name = (e as Error).name;
    if (name === 'LockTimeoutError') count(TOTAL.timeouts);
    else if (name === 'DeadlockError') count(TOTAL.victims);
    else if (name === 'LockOrderError') count(TOTAL.orderErrors);
    else report.errors.push(`${name}: ${(e as Error).message}`);
    return false;
  }
  record(t0);
  return true;
}

function record(t0: number): void {
  const us = (performance.now() - t0) * 1000;
  Atomics.add(i32, L.histAt + waitBucket(us), 1);
  const at = L.totalsAt + TOTAL.maxWaitUs;
  for (let max = Atomics.load(i32, at); us > max; max = Atomics.load(i32, at)) {
    if (Atomics.compareExchange(i32, at, max, Math.ceil(us)) === max) break;
  }
}

function release(k: number, write: boolean): void {
  if (write) locks[k]!.writeUnlock();
  else locks[k]!.readUnlock();
}

/**
 * Inside lock k: publish occupancy, check nobody conflicting is inside, check the data
 * (a writer sets X then Y to one new value; a reader must see them equal), work a little.
 */
function section(level: number, k: number, write: boolean, us: number): void {
  const mine = L.occupancyAt + 2 * input.slot + level;
  Atomics.store(i32, mine, ((k + 1) << 1) | (write ? 1 : 0));
  for (let w = L.occupancyAt; w < L.occupancyAt + 2 * L.threads; w++) {
    if (w === mine) continue;
    const v = Atomics.load(i32, w);
    if (v >>> 1 === k + 1 && (write || (v & 1) === 1)) violation();
  }
  const xAt = L.dataAt + 2 * k;
  const before = Atomics.load(i32, xAt);
  if (Atomics.load(i32, xAt + 1) !== before) violation();
  if (write) {
    Atomics.store(i32, xAt, before + 1);
    spinUs(us);
    Atomics.store(i32, xAt + 1, before + 1);
  } else {
    spinUs(us);
    if (Atomics.load(i32, xAt) !== before || Atomics.load(i32, xAt + 1) !== before) violation();
  }
}

function leave(level: number): void {
  Atomics.store(i32, L.occupancyAt + 2 * input.slot + level, 0);
}

/** Correct ordering: one context lock, sometimes the arena lock inside it (rank order). */
function correctRound(): void {
  const k = rand(L.contexts);
  const write = rand(100) < 25;
  if (!acquire(k, write)) return;
  section(0, k, write, rand(8));
  if (rand(100) < 15) {
    if (acquire(L.contexts, true)) {
      section(1, L.contexts, true, rand(4));
      leave(1);
      arena.writeUnlock();
      count(TOTAL.nested);
    }
  }
  leave(0);
  release(k, write);
  done(write);
}

/** Injected inversions: two context locks in random order (so cycles form). */
function inversionRound(): void {
  const a = rand(L.contexts);
  const b = (a + 1 + rand(L.contexts - 1)) % L.contexts;
  const wa = rand(100) < 70;
  const wb = rand(100) < 70;
  if (!acquire(a, wa)) return;
  section(0, a, wa, 5 + rand(50));
  if (acquire(b, wb)) {
    section(1, b, wb, rand(20));
    leave(1);
    release(b, wb);
    count(TOTAL.nested);
  }
  leave(0);
  release(a, wa);
  done(wa);
}

function done(write: boolean): void {
  count(write ? TOTAL.writes : TOTAL.reads);
  Atomics.add(i32, L.countsAt + input.slot, 1);
}

// Start barrier (replacement workers in kills mode find `go` already set).
Atomics.add(i32, L.ready, 1);
while (Atomics.load(i32, L.go) === 0) Atomics.wait(i32, L.go, 0, 1000);
const round = input.mode === 'inversions' ? inversionRound : correctRound;
while (Atomics.load(i32, L.stop) === 0) {
  try {
    round();
  } catch (e) {
    report.errors.push(`${(e as Error).name}: ${(e as Error).message}`);
    break;
  }
}
registry.publishStats();
parentPort?.postMessage(report);
