import { describe, expect, it } from 'vitest';
import { arenaLockId, cacheLockId, contextLockId, describeLock } from '../../src/sync/lock-ids.js';
import { LockRegistry, readLockStats } from '../../src/sync/lock-registry.js';
import { currentLockOwnerId, WRITER_HELD } from '../../src/sync/rwlock.js';
import { lockSet, until, useLockThreads } from './lock-threads.js';

const threads = useLockThreads();
const workers = threads.workers;

const CACHE = 0;
const CTX1 = 1;
const CTX2 = 2;
const ARENA = 3;
const IDS = [cacheLockId(0), contextLockId(1), contextLockId(2), arenaLockId()];

describe('lock ids', () => {
  it('encode class and index, and rank cache < context < arena', () => {
    expect(describeLock(contextLockId(12))).toBe('context#12');
    expect(describeLock(arenaLockId())).toBe('arena#0');
    expect(describeLock(cacheLockId())).toBe('cache#0');
    expect(() => contextLockId(-1)).toThrow(RangeError);
    expect(() => contextLockId(1 << 24)).toThrow(RangeError);
  });
});

describe('lock registry on one thread', () => {
  it('records holdings with their mode, and clears them on release', () => {
    const set = lockSet(IDS);
    const me = currentLockOwnerId();
    expect(set.locks[CTX1]!.tryWrite()).toBe(true);
    expect(set.locks[ARENA]!.tryRead()).toBe(true);
    const state = set.registry.threadState(me)!;
    expect(state.held.map((h) => [describeLock(h.lockId), h.mode, h.phase])).toEqual([
      ['context#1', 'write', 'held'],
      ['arena#0', 'read', 'held'],
    ]);
    expect(state.waiting).toBeNull();
    // A registered writer's tag (record index + 1) is in STATE, OWNER as before.
    expect(set.words(CTX1)).toEqual([WRITER_HELD + state.record + 1, me, 0, 0]);
    expect(set.locks[CTX1]!.readers).toBe(0);
    set.locks[ARENA]!.readUnlock();
    set.locks[CTX1]!.writeUnlock();
    expect(set.registry.threadState(me)!.held).toEqual([]);
    expect(set.allClean()).toBe(true);
  });

  it('refuses to release a read lock this thread does not hold', () => {
    const set = lockSet(IDS);
    Atomics.store(set.i32, 4 * CTX1, 1); // a reader on another thread
    expect(() => set.locks[CTX1]!.readUnlock()).toThrow(/holds no read lock on context#1/);
    expect(set.words(CTX1)).toEqual([1, 0, 0, 0]);
  });

  it('counts acquisitions, contention, timeouts and hold times per lock class', async () => {
    const set = lockSet(IDS, false, { holdSampleEvery: 1 });
    for (let i = 0; i < 5; i++) {
      expect(set.locks[CTX1]!.tryRead()).toBe(true);
      set.locks[CTX1]!.readUnlock();
    }
    expect(set.locks[ARENA]!.tryWrite()).toBe(true);
    await expect(set.locks[ARENA]!.readLockAsync(20)).rejects.toMatchObject({
      name: 'LockTimeoutError',
    });
    set.locks[ARENA]!.writeUnlock();
    set.registry.publishStats();
    const stats = readLockStats(set.registrySab);
    expect(stats.context.acquisitions).toBe(5);
    expect(stats.context.contended).toBe(0);
    expect(stats.context.holdSeconds.count).toBe(5);
    expect(stats.arena).toMatchObject({ acquisitions: 1, contended: 1, timeouts: 1 });
    expect(stats.arena.waitSeconds.count).toBe(1);
    expect(stats.arena.waitSeconds.sum).toBeGreaterThanOrEqual(0.015);
    const buckets = stats.arena.waitSeconds.buckets;
    expect(buckets.at(-1)).toEqual({ le: Number.POSITIVE_INFINITY, count: 1 });
    expect(buckets.find((b) => b.le === 0.01)!.count).toBe(0);
    expect(stats.cache.acquisitions).toBe(0);
  });

  it('times one hold in holdSampleEvery, stamping the others with the coarse clock', () => {
    const set = lockSet(IDS, false, { holdSampleEvery: 4 });
    // Timed: the thread's first acquire, then every fourth (1st, 5th, 9th).
    for (let i = 0; i < 10; i++) {
      expect(set.locks[CTX1]!.tryWrite()).toBe(true);
      set.locks[CTX1]!.writeUnlock();
    }
    // Counted locally, published every 64 acquisitions, after a wait, or when asked.
    expect(readLockStats(set.registrySab).context.acquisitions).toBe(0);
    set.registry.publishStats();
    const stats = readLockStats(set.registrySab);
    expect(stats.context.acquisitions).toBe(10);
    expect(stats.context.holdSeconds.count).toBe(3);
    const before = set.registry.coarseNow;
    expect(set.locks[CTX1]!.tryRead()).toBe(true);
    const held = set.registry.threadState(currentLockOwnerId())!.held[0]!;
    expect(held.since).toBe(before);
    expect(set.registry.tick()).toBeGreaterThanOrEqual(before);
    set.locks[CTX1]!.readUnlock();
  });

  it('shares one record and one lock directory among the registry objects of a thread', () => {
    const set = lockSet(IDS);
    const other = new LockRegistry(set.registrySab);
    expect(other.lookup(IDS[CTX1]!)).toBe(set.locks[CTX1]);
    expect(set.locks[CTX1]!.tryWrite()).toBe(true);
    expect(other.tag).toBe(set.registry.tag);
    expect(set.registry.ownerIds()).toEqual([currentLockOwnerId()]);
    set.locks[CTX1]!.writeUnlock();
  });

  it('refuses a thread when every record is in use', () => {
    const sab = LockRegistry.createBuffer({ threads: 1 });
    const reg = new LockRegistry(sab);
    Atomics.store(reg.i32, reg.recordBase(0), 9999); // another thread's record
    expect(() => reg.tag).toThrow(/lock registry full/);
    expect(reg.refused).toBe(1);
  });
});

describe('checked mode', () => {
  it('throws LockOrderError at the call, before anything waits or changes', async () => {
    const set = lockSet(IDS);
    const [t, other] = await workers(set, 2, true);
    // Another thread holds the cache lock: a wait for it would block for the full timeout.
    expect(await other!.ok({ op: 'write', lock: CACHE, timeoutMs: 5000 })).toBeNull();
    expect(await t!.ok({ op: 'write', lock: CTX1, timeoutMs: 5000 })).toBeNull();
    const before = [set.words(CACHE), set.words(CTX1)];
    const err = await t!.fails({ op: 'read', lock: CACHE, timeoutMs: 60_000 });
    expect(err).toMatchObject({
      name: 'LockOrderError',
      code: 'lock_order',
      rule: 'rank',
      lockId: IDS[CACHE],
    });
    expect(err.message).toMatch(/cache#0 \(rank 10\) taken while holding context#1 \(rank 20\)/);
    expect([set.words(CACHE), set.words(CTX1)]).toEqual(before);
    expect(set.registry.threadState(t!.ownerId)!.waiting).toBeNull();

    // Two locks of one class, and taking a held lock again.
    expect(await t!.fails({ op: 'tryWrite', lock: CTX2 })).toMatchObject({ rule: 'rank' });
    expect(await t!.fails({ op: 'read', lock: CTX1, timeoutMs: 60_000 })).toMatchObject({
      rule: 'reentrant',
    });
    // In rank order: context then arena is fine.
    expect(await t!.ok({ op: 'write', lock: ARENA, timeoutMs: 5000 })).toBeNull();
    expect(await t!.fails({ op: 'tryRead', lock: CTX2 })).toMatchObject({ rule: 'rank' });
    expect(await t!.ok({ op: 'releaseAll' })).toBe(2);
    expect(await other!.ok({ op: 'releaseAll' })).toBe(1);

    // The cache lock may be held while *trying* a context lock, never while waiting for one.
    expect(await t!.ok({ op: 'read', lock: CACHE, timeoutMs: 5000 })).toBeNull();
    expect(await t!.ok({ op: 'tryWrite', lock: CTX1 })).toBe(true);
    expect(await t!.ok({ op: 'writeUnlock', lock: CTX1 })).toBeNull();
    expect(await t!.fails({ op: 'write', lock: CTX2, timeoutMs: 5000 })).toMatchObject({
      rule: 'cache-across-wait',
    });
    expect(await t!.ok({ op: 'releaseAll' })).toBe(1);
    expect(set.allClean()).toBe(true);
  });

  it('is off unless asked for', async () => {
    const set = lockSet(IDS);
    const [t] = await workers(set, 1, false);
    expect(await t!.ok({ op: 'write', lock: CTX1, timeoutMs: 5000 })).toBeNull();
    expect(await t!.ok({ op: 'read', lock: CACHE, timeoutMs: 5000 })).toBeNull();
    expect(await t!.ok({ op: 'releaseAll' })).toBe(2);
    expect(set.allClean()).toBe(true);
  });

  it('records the wait of a blocked thread, with mode and since when', async () => {
    const set = lockSet(IDS);
    const [h, w] = await workers(set, 2);
    expect(await h!.ok({ op: 'read', lock: CTX1, timeoutMs: 5000 })).toBeNull();
    const waiting = w!.call({ op: 'write', lock: CTX1, timeoutMs: 30_000 });
    await until(() => set.registry.threadState(w!.ownerId)?.waiting?.announced === true, 'wait');
    const s = set.registry.threadState(w!.ownerId)!;
    expect(s.waiting).toMatchObject({ lockId: IDS[CTX1], mode: 'write', async: false });
    expect(s.held).toEqual([
      expect.objectContaining({ lockId: IDS[CTX1], mode: 'write', phase: 'acquiring' }),
    ]);
    expect(set.registry.now() - s.waiting!.since).toBeGreaterThanOrEqual(0);
    expect(set.locks[CTX1]!.writersWaiting).toBe(1);
    expect(await h!.ok({ op: 'releaseAll' })).toBe(1);
    expect(await waiting).toMatchObject({ ok: true });
    expect(set.registry.threadState(w!.ownerId)!.waiting).toBeNull();
    expect(await w!.ok({ op: 'releaseAll' })).toBe(1);
    expect(set.allClean()).toBe(true);
  });
});
