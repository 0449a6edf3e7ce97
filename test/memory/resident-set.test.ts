import { describe, expect, test } from 'vitest';
import { type Lease, ResidentSet } from '../../src/cache/resident-set.js';
import { AppError, serviceUnavailable } from '../../src/errors.js';
import type { Reply } from '../../src/pool/context-pool.js';
import { errorFrame, jsonFrame, readFrame } from '../../src/protocol/reply-frame.js';
import type { Task } from '../../src/protocol/tasks.js';
import { SlotStatus, SlotTable } from '../../src/shm/slot-table.js';

/**
 * The resident set's races, each pinned down by a test, against a fake worker pool whose
 * loads and evictions complete when the test says so (the slot table is the real one).
 * Each of these failed before the fix it names.
 */

interface Pending {
  task: Task;
  go(): void;
  fail(err: unknown): void;
}

class FakePool {
  readonly calls: Task[] = [];
  readonly pending: Pending[] = [];
  /** Slot → id of the context in it; a context must never be in two slots. */
  readonly occupant = new Map<number, string>();
  manual = false;
  /** A poisoned copy may still occupy its slot while a fresh one loads. */
  allowDuplicates = false;
  evictError: (() => unknown) | undefined;
  loadError: (() => AppError) | undefined;

  constructor(readonly slots: SlotTable) {}

  loadsOf(id: string): number {
    return this.calls.filter((t) => t.op === 'load' && t.id === id).length;
  }

  evictCalls(): number {
    return this.calls.filter((t) => t.op === 'evict').length;
  }

  async run(task: Task): Promise<Reply> {
    this.calls.push(task);
    if (this.manual) {
      await new Promise<void>((go, fail) => this.pending.push({ task, go, fail }));
    }
    switch (task.op) {
      case 'load': {
        if (this.loadError) return readFrame(errorFrame(this.loadError()));
        if (!this.allowDuplicates) {
          expect([...this.occupant.values()], `${task.id} loaded twice`).not.toContain(task.id);
        }
        expect(this.slots.status(task.slot)).toBe(SlotStatus.Free);
        this.occupant.set(task.slot, task.id);
        this.slots.setStatus(task.slot, SlotStatus.Ready);
        return readFrame(jsonFrame({ outcome: 'ok' }, {}));
      }
      case 'evict': {
        if (this.evictError) throw this.evictError();
        expect(this.slots.generation(task.slot)).toBe(task.gen);
        this.occupant.delete(task.slot);
        this.slots.vacate(task.slot);
        return readFrame(jsonFrame({ outcome: 'ok' }, undefined));
      }
      default:
        throw new Error(`unexpected task ${task.op}`);
    }
  }

  /** Lets the oldest held task (of `op`) run. */
  async release(op: Task['op']): Promise<void> {
    const i = this.pending.findIndex((p) => p.task.op === op);
    expect(i, `a pending ${op}`).toBeGreaterThanOrEqual(0);
    this.pending.splice(i, 1)[0]!.go();
    await settle();
  }
}

/** Lets every ready promise continuation run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise((r) => setImmediate(r));
}

function setup(slotCount: number, options: { slotWaitMs?: number; maxBytes?: number } = {}) {
  const slots = new SlotTable(SlotTable.createBuffer(slotCount));
  const pool = new FakePool(slots);
  const residents = new ResidentSet(slots, pool, {
    maxBytes: options.maxBytes ?? Number.MAX_SAFE_INTEGER,
    usedBytes: () => 1,
    slotWaitMs: options.slotWaitMs ?? 2_000,
    retryTrimMs: 20,
  });
  return { slots, pool, residents };
}

function track<T>(promise: Promise<T>) {
  const state: { done: boolean; value?: T; error?: unknown } = { done: false };
  promise.then(
    (value) => Object.assign(state, { done: true, value }),
    (error: unknown) => Object.assign(state, { done: true, error }),
  );
  return state;
}

describe('resident set races', () => {
  test('a context being evicted is not loaded into a second slot meanwhile', async () => {
    // Fix: acquire() waits for an eviction in flight instead of starting a second load
    // (which, with no slot left, answered 503 — or, with one, made two copies).
    const { pool, residents } = setup(1);
    (await residents.acquire('a')).release();
    pool.manual = true;
    const b = track(residents.acquire('b')); // evicts a: held
    await settle();
    const a = track(residents.acquire('a'));
    await settle();
    expect(a.done).toBe(false);
    await pool.release('evict'); // a is out
    await pool.release('load'); // b is in, pinned
    expect(b.done).toBe(true);
    expect(b.error).toBeUndefined();
    expect(a.done).toBe(false); // waits for b's pin, not 503
    (b.value as Lease).release();
    await settle();
    await pool.release('evict');
    await pool.release('load');
    expect(a.error).toBeUndefined();
    expect((a.value as Lease).id).toBe('a');
    expect(pool.loadsOf('a')).toBe(2);
    expect(residents.stats()).toMatchObject({ resident: 1, slotsInUse: 1, evictions: 2 });
  });

  test('a failed eviction leaves the context resident for whoever waited on it', async () => {
    const { pool, residents } = setup(1);
    const first = await residents.acquire('a');
    const gen = first.gen;
    first.release();
    pool.manual = true;
    pool.evictError = () => serviceUnavailable('the server is saturated', 'overloaded');
    const b = track(residents.acquire('b'));
    await settle();
    const a = track(residents.acquire('a'));
    await pool.release('evict');
    expect((b.error as AppError).code).toBe('overloaded');
    expect((a.value as Lease).gen).toBe(gen); // the same copy, not reloaded
    expect(pool.loadsOf('a')).toBe(1);
    expect(residents.stats()).toMatchObject({ evictionFailures: 1, resident: 1 });
  });

  test('with every slot pinned a request waits for a pin to drop (eviction waits for pins)', async () => {
    // Fix: takeSlot() answered 503 at once when no unpinned context could be evicted.
    const { pool, residents } = setup(1);
    const a = await residents.acquire('a');
    const b = track(residents.acquire('b'));
    await new Promise((r) => setTimeout(r, 30));
    expect(b.done).toBe(false);
    expect(pool.evictCalls()).toBe(0); // nothing is evicted under a pin
    a.release();
    await settle();
    await new Promise((r) => setTimeout(r, 10));
    expect((b.value as Lease).id).toBe('b');
    expect(residents.stats()).toMatchObject({ slotWaits: 1, evictions: 1 });
  });

  test('the wait for a slot is bounded: 503 overloaded at the deadline', async () => {
    const { slots, residents } = setup(1, { slotWaitMs: 40 });
    const a = await residents.acquire('a');
    await expect(residents.acquire('b')).rejects.toMatchObject({ status: 503, code: 'overloaded' });
    expect(residents.stats()).toMatchObject({ slotWaitTimeouts: 1, resident: 1 });
    expect(slots.status(a.slot)).toBe(SlotStatus.Ready);
    a.release();
  });

  test('churn on two slots: every request gets its context, none is in two slots', async () => {
    // Fix: an evicted slot is handed to the request that evicted for it, never put on the
    // free list where another request could take it first (the loser answered 503).
    const { pool, residents } = setup(2);
    const ids = ['a', 'b', 'c', 'd', 'e', 'f'];
    const work = Array.from({ length: 60 }, async (_, i) => {
      const lease = await residents.acquire(ids[(i * 7) % ids.length]!);
      await new Promise((r) => setTimeout(r, i % 3));
      expect(pool.occupant.get(lease.slot)).toBe(lease.id);
      lease.release();
    });
    await Promise.all(work);
    expect(pool.occupant.size).toBeLessThanOrEqual(2);
    expect(residents.stats().slotWaitTimeouts).toBe(0);
  });

  test('concurrent misses load once; a failed load frees its slot and is retried later', async () => {
    const { pool, residents } = setup(4);
    pool.loadError = () =>
      new AppError(500, 'storage_corrupt', 'the stored context cannot be read');
    const failures = await Promise.allSettled(
      Array.from({ length: 10 }, () => residents.acquire('a')),
    );
    expect(failures.every((f) => f.status === 'rejected')).toBe(true);
    expect((failures[0] as PromiseRejectedResult).reason).toMatchObject({
      code: 'storage_corrupt',
    });
    expect(pool.loadsOf('a')).toBe(1);
    expect(residents.stats()).toMatchObject({ slotsInUse: 0, loadFailures: 1, resident: 0 });

    pool.loadError = undefined;
    const leases = await Promise.all(Array.from({ length: 10 }, () => residents.acquire('a')));
    expect(pool.loadsOf('a')).toBe(2);
    expect(new Set(leases.map((l) => l.slot)).size).toBe(1);
    for (const l of leases) l.release();
  });

  test('a deleted context frees its slot only when its last pin drops', async () => {
    const { slots, pool, residents } = setup(1);
    const first = await residents.acquire('a');
    const second = await residents.acquire('a');
    slots.vacate(first.slot); // what the worker's delete does, under the write lock
    pool.occupant.clear();
    residents.forget('a');
    const b = track(residents.acquire('b'));
    await settle();
    first.release();
    await settle();
    expect(b.done).toBe(false); // still pinned by `second`
    second.release();
    await settle();
    const lease = b.value as Lease;
    expect(lease.slot).toBe(first.slot);
    expect(lease.gen).not.toBe(first.gen); // stale tasks of `a` cannot touch `b`
    expect(pool.evictCalls()).toBe(0);
  });

  test('a failing byte-bound eviction is retried after a delay, not in a tight loop', async () => {
    // Fix: trim() retried a failed eviction at once, in the same microtask chain: with the
    // pool saturated this spun forever and starved the event loop that drains the pool.
    const { pool, residents } = setup(4, { maxBytes: 0 });
    pool.evictError = () => serviceUnavailable('the server is saturated', 'overloaded');
    const lease = await residents.acquire('a');
    lease.release(); // over the byte bound: trim() tries to evict a
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    await new Promise((r) => setTimeout(r, 100));
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(5); // the event loop kept turning
    expect(pool.evictCalls()).toBeGreaterThanOrEqual(2);
    expect(pool.evictCalls()).toBeLessThanOrEqual(8);
    pool.evictError = undefined;
    await new Promise((r) => setTimeout(r, 40));
    expect(residents.stats()).toMatchObject({ resident: 0, slotsInUse: 0, evictions: 1 });
  });

  test('a poisoned copy is dropped: the next request reloads, its slot is emptied when unpinned', async () => {
    const { pool, residents } = setup(2);
    pool.allowDuplicates = true;
    const poisoned = await residents.acquire('a');
    residents.invalidate(poisoned); // what the service does on a `context_poisoned` reply
    const fresh = await residents.acquire('a');
    expect(fresh.slot).not.toBe(poisoned.slot);
    expect(pool.loadsOf('a')).toBe(2);
    expect(pool.evictCalls()).toBe(0); // still pinned by the request that found it
    poisoned.release();
    await settle();
    const evict = pool.calls.find((t) => t.op === 'evict')!;
    expect(evict).toMatchObject({ slot: poisoned.slot, gen: poisoned.gen });
    expect(residents.stats()).toMatchObject({ invalidations: 1, slotsInUse: 1, resident: 1 });
    residents.invalidate(poisoned); // a second report of the same copy changes nothing
    expect(residents.stats().invalidations).toBe(1);
    fresh.release();
  });
});
