import { describe, expect, it } from 'vitest';
import type {
  DeadlockDetector,
  DeadlockEvent,
  LockEvent,
} from '../../src/sync/deadlock-detector.js';
import { contextLockId, describeLock } from '../../src/sync/lock-ids.js';
import { readLockStats } from '../../src/sync/lock-registry.js';
import type { WireReply } from '../fixtures/wire-error.js';
import {
  FOREVER,
  type LockSet,
  type LockWorker,
  lockSet,
  until,
  useLockThreads,
} from './lock-threads.js';

/**
 * Deadlocks between real threads, found by the detector from the registry and broken by
 * failing one waiter; known-good patterns raise no alarm. Waits here have deadlines far
 * longer than the test may run, so only the detector can end a deadlock.
 */

const threads = useLockThreads();

/** Lock indexes in the set `setup` makes. */
const [A, B, C] = [0, 1, 2];

async function setup(
  n: number,
  locks = 3,
): Promise<{ set: LockSet; ws: LockWorker[]; events: LockEvent[]; detector: DeadlockDetector }> {
  const set = lockSet(Array.from({ length: locks }, (_, k) => contextLockId(k)));
  const ws = await threads.workers(set, n);
  const events: LockEvent[] = [];
  const detector = threads.detector(set, {
    intervalMs: 10,
    longWaitMs: 100,
    logger: (e) => events.push(e),
  });
  return { set, ws, events, detector };
}

/** Waits until `n` threads are blocked (recorded, not async) on some lock. */
async function blocked(set: LockSet, n: number): Promise<void> {
  await until(
    () => set.registry.snapshot().filter((s) => s.waiting !== null && !s.waiting.async).length >= n,
    `${n} blocked threads`,
  );
}

/**
 * ABBA: t1 holds A and t2 holds B (both in `held` mode); t1 then asks for B and, once it
 * is blocked, t2 asks for A, both for write. Returns what `breaksCycle` reports.
 */
async function abba(held: 'read' | 'write') {
  const { set, ws, events } = await setup(2);
  const [t1, t2] = ws as [LockWorker, LockWorker];
  await t1.ok({ op: held, lock: A, timeoutMs: FOREVER });
  await t2.ok({ op: held, lock: B, timeoutMs: FOREVER });
  const w1 = t1.call({ op: 'write', lock: B, timeoutMs: FOREVER });
  await blocked(set, 1);
  const w2 = t2.call({ op: 'write', lock: A, timeoutMs: FOREVER });
  return { set, t1, t2, report: await breaksCycle(set, ws, events, [w1, w2]) };
}

/**
 * Runs the waits of a cycle; exactly one must fail with DeadlockError. The victim then
 * releases what it holds, so the others complete, each releasing all it holds as soon as
 * its wait succeeds (which lets the next one in).
 */
async function breaksCycle(
  set: LockSet,
  ws: LockWorker[],
  events: LockEvent[],
  waits: Promise<WireReply>[],
): Promise<DeadlockEvent> {
  const settled: (WireReply | undefined)[] = waits.map(() => undefined);
  const released = waits.map((p, k) =>
    p.then(async (r) => {
      settled[k] = r;
      if (r.ok) await ws[k]!.ok({ op: 'releaseAll' });
      return r;
    }),
  );
  await until(() => settled.some((r) => r !== undefined && !r.ok), 'a deadlock victim');
  const victims = settled.flatMap((r, k) => (r !== undefined && !r.ok ? [k] : []));
  expect(victims).toHaveLength(1);
  const v = victims[0]!;
  const err = (settled[v] as Extract<WireReply, { ok: false }>).error;
  expect(err).toMatchObject({ name: 'DeadlockError', code: 'lock_deadlock' });
  await ws[v]!.ok({ op: 'releaseAll' });
  const replies = await Promise.all(released);
  replies.forEach((r, k) => {
    if (k !== v) expect(r.ok, `waiter ${k}`).toBe(true);
  });
  for (const w of ws) await w.ok({ op: 'releaseAll' });
  expect(set.allClean()).toBe(true);
  const deadlocks = events.filter((e): e is DeadlockEvent => e.kind === 'deadlock');
  expect(deadlocks).toHaveLength(1);
  expect(deadlocks[0]!.victim).toBe(ws[v]!.ownerId);
  for (const s of set.registry.snapshot()) {
    expect(s.held).toEqual([]);
    expect(s.waiting).toBeNull();
  }
  return deadlocks[0]!;
}

describe('deadlock detection across real threads', { timeout: 30_000 }, () => {
  it('AA: a reader asking for the write lock of its own lock', async () => {
    const { set, ws, events } = await setup(1);
    const [t] = ws as [LockWorker];
    await t.ok({ op: 'read', lock: A, timeoutMs: FOREVER });
    const report = await breaksCycle(set, ws, events, [
      t.call({ op: 'write', lock: A, timeoutMs: FOREVER }),
    ]);
    expect(report.cycle).toHaveLength(1);
    expect(report.cycle[0]).toMatchObject({ ownerId: t.ownerId, lock: 'context#0', mode: 'write' });
    expect(report.cycle[0]!.blockers).toEqual([
      expect.objectContaining({ ownerId: t.ownerId, mode: 'read' }),
    ]);
  });

  it('ABBA: two threads, two write locks taken in opposite orders', async () => {
    const { set, t1, t2, report } = await abba('write');
    expect(report.cycle.map((r) => r.ownerId).sort()).toEqual([t1.ownerId, t2.ownerId].sort());
    // The victim is the one that started waiting last.
    expect(report.victim).toBe(t2.ownerId);
    expect(report.message).toMatch(/^deadlock: 2 thread\(s\) in a wait-for cycle; breaking it/);
    const stats = readLockStats(set.registrySab);
    expect(stats.context.deadlocksBroken).toBe(1);
  });

  it('ABBA with readers: read-held locks, write requests', async () => {
    const { report } = await abba('read');
    expect(report.cycle.every((r) => r.mode === 'write')).toBe(true);
  });

  it('ABBCCA: three threads, three locks, one cycle', async () => {
    const { set, ws, events } = await setup(3);
    const [t1, t2, t3] = ws as [LockWorker, LockWorker, LockWorker];
    await t1.ok({ op: 'write', lock: A, timeoutMs: FOREVER });
    await t2.ok({ op: 'write', lock: B, timeoutMs: FOREVER });
    await t3.ok({ op: 'read', lock: C, timeoutMs: FOREVER });
    const waits = [
      t1.call({ op: 'read', lock: B, timeoutMs: FOREVER }),
      t2.call({ op: 'write', lock: C, timeoutMs: FOREVER }),
      t3.call({ op: 'write', lock: A, timeoutMs: FOREVER }),
    ];
    const report = await breaksCycle(set, ws, events, waits);
    expect(report.cycle).toHaveLength(3);
    expect(report.cycle.map((r) => r.lock).sort()).toEqual(['context#0', 'context#1', 'context#2']);
    // Each member waits for a lock held by the next one.
    report.cycle.forEach((r, i) => {
      const next = report.cycle[(i + 1) % 3]!;
      expect(r.blockers.map((b) => b.ownerId)).toContain(next.ownerId);
      expect(next.holds.map((h) => h.lock)).toContain(r.lock);
    });
    // A real report, for docs/locking.md.
    console.log(`example deadlock report:\n${report.message}`);
  });

  it('a reader re-entering its lock behind a waiting writer (write preference)', async () => {
    const { set, ws, events } = await setup(2);
    const [r, w] = ws as [LockWorker, LockWorker];
    await r.ok({ op: 'read', lock: A, timeoutMs: FOREVER });
    const writer = w.call({ op: 'write', lock: A, timeoutMs: FOREVER });
    await until(() => set.locks[A]!.writersWaiting === 1, 'writer announced');
    await until(
      () => set.registry.threadState(w.ownerId)?.waiting?.announced === true,
      'writer recorded as announced',
    );
    const again = r.call({ op: 'read', lock: A, timeoutMs: FOREVER });
    const report = await breaksCycle(set, ws, events, [again, writer]);
    const reader = report.cycle.find((x) => x.ownerId === r.ownerId)!;
    expect(reader.blockers).toEqual([
      expect.objectContaining({ ownerId: w.ownerId, mode: 'announced-writer' }),
    ]);
  });
});

describe('reporting without breaking', { timeout: 30_000 }, () => {
  it('reports a cycle once and leaves it to the deadlines', async () => {
    const set = lockSet([contextLockId(0), contextLockId(1)]);
    const ws = await threads.workers(set, 2);
    const [t1, t2] = ws as [LockWorker, LockWorker];
    const events: LockEvent[] = [];
    const detector = threads.detector(set, {
      intervalMs: 10,
      breakCycles: false,
      logger: (e) => events.push(e),
    });
    await t1.ok({ op: 'write', lock: A, timeoutMs: FOREVER });
    await t2.ok({ op: 'write', lock: B, timeoutMs: FOREVER });
    const w1 = t1.call({ op: 'write', lock: B, timeoutMs: 1500 });
    const w2 = t2.call({ op: 'write', lock: A, timeoutMs: 1500 });
    await until(() => events.some((e) => e.kind === 'deadlock'), 'a report');
    const scans = detector.totals.scans;
    await until(() => detector.totals.scans >= scans + 10, '10 more scans');
    const reports = events.filter((e): e is DeadlockEvent => e.kind === 'deadlock');
    expect(reports).toHaveLength(1);
    expect(reports[0]!.victim).toBeUndefined();
    expect(reports[0]!.message).toMatch(/^deadlock: 2 thread\(s\) in a wait-for cycle\n/);
    // Nobody is failed: both waits end at their deadlines.
    const [r1, r2] = await Promise.all([w1, w2]);
    expect([r1, r2].map((r) => (r.ok ? 'ok' : r.error.name))).toEqual([
      'LockTimeoutError',
      'LockTimeoutError',
    ]);
    await t1.ok({ op: 'releaseAll' });
    await t2.ok({ op: 'releaseAll' });
    expect(set.allClean()).toBe(true);
  });
});

describe('no alarm for known-good patterns', { timeout: 30_000 }, () => {
  it('many readers, a writer waiting for readers that wait for nothing, nesting in order', async () => {
    const { set, ws, events, detector } = await setup(5, 3);
    const [r1, r2, w, r3, n] = ws as [LockWorker, LockWorker, LockWorker, LockWorker, LockWorker];
    // Readers share A.
    await r1.ok({ op: 'read', lock: A, timeoutMs: FOREVER });
    await r2.ok({ op: 'read', lock: A, timeoutMs: FOREVER });
    // A writer waits for them; a third reader waits behind the writer.
    const writer = w.call({ op: 'write', lock: A, timeoutMs: FOREVER });
    await until(() => set.locks[A]!.writersWaiting === 1, 'writer announced');
    const reader = r3.call({ op: 'read', lock: A, timeoutMs: FOREVER });
    // Nested in order: n holds B and waits for C, which r1 holds (r1 waits for nothing).
    await r1.ok({ op: 'write', lock: C, timeoutMs: FOREVER });
    await n.ok({ op: 'write', lock: B, timeoutMs: FOREVER });
    const nested = n.call({ op: 'read', lock: C, timeoutMs: FOREVER });
    await blocked(set, 3);
    const scans = detector.totals.scans;
    await until(() => detector.totals.scans >= scans + 20, '20 more scans');
    expect(events.filter((e) => e.kind === 'deadlock')).toEqual([]);

    // Long waits are reported, naming the holders and how long they have held the lock.
    const long = events.flatMap((e) => (e.kind === 'long-wait' ? [e] : []));
    const writerWait = long.find((e) => e.wait.ownerId === w.ownerId)!;
    expect(writerWait.wait.blockers.map((b) => b.ownerId).sort()).toEqual(
      [r1.ownerId, r2.ownerId].sort(),
    );
    expect(writerWait.wait.blockers.every((b) => b.heldMs >= 100)).toBe(true);
    expect(writerWait.lockState).toEqual({ readers: 2, writerOwnerId: 0, writersWaiting: 1 });
    expect(writerWait.message).toMatch(
      new RegExp(`^long lock wait: thread ${w.ownerId} has waited \\d+ ms for write context#0`),
    );
    console.log(`example long-wait report:\n${writerWait.message}`);
    const readerWait = long.find((e) => e.wait.ownerId === r3.ownerId)!;
    expect(readerWait.wait.blockers).toEqual([
      expect.objectContaining({ ownerId: w.ownerId, mode: 'announced-writer' }),
    ]);
    const nestedWait = long.find((e) => e.wait.ownerId === n.ownerId)!;
    expect(nestedWait.wait.lock).toBe(describeLock(contextLockId(C)));
    expect(nestedWait.wait.holds).toEqual([expect.objectContaining({ lock: 'context#1' })]);
    // Each wait is reported once.
    expect(long).toHaveLength(3);

    await r1.ok({ op: 'releaseAll' });
    await r2.ok({ op: 'releaseAll' });
    expect(await writer).toMatchObject({ ok: true });
    await w.ok({ op: 'releaseAll' });
    expect(await reader).toMatchObject({ ok: true });
    expect(await nested).toMatchObject({ ok: true });
    await r3.ok({ op: 'releaseAll' });
    await n.ok({ op: 'releaseAll' });
    expect(set.allClean()).toBe(true);
    expect(events.filter((e) => e.kind === 'deadlock')).toEqual([]);
  });

  it('async waiters on the main thread are never made victims', async () => {
    const { set, ws, events, detector } = await setup(1);
    const [t] = ws as [LockWorker];
    await set.locks[A]!.writeLockAsync(1000);
    await t.ok({ op: 'write', lock: B, timeoutMs: FOREVER });
    const worker = t.call({ op: 'read', lock: A, timeoutMs: FOREVER });
    await blocked(set, 1);
    const main = set.locks[B]!.readLockAsync(500);
    const scans = detector.totals.scans;
    await until(() => detector.totals.scans >= scans + 10, '10 more scans');
    expect(events.filter((e) => e.kind === 'deadlock')).toEqual([]);
    await expect(main).rejects.toMatchObject({ name: 'LockTimeoutError' });
    set.locks[A]!.writeUnlock();
    expect(await worker).toMatchObject({ ok: true });
    await t.ok({ op: 'releaseAll' });
    expect(set.allClean()).toBe(true);
  });
});
