import { describe, expect, it } from 'vitest';
import { contextLockId } from '../../src/sync/lock-ids.js';
import { readLockStats } from '../../src/sync/lock-registry.js';
import {
  lockOwnerIdOf,
  pendingReconciliation,
  reconcile,
  releaseAllHeldBy,
} from '../../src/sync/recovery.js';
import { E_PHASE, entryBase, RELEASING, withPhase } from '../../src/sync/registry-layout.js';
import { FOREVER, type LockWorker, lockSet, track, until, useLockThreads } from './lock-threads.js';

/**
 * A worker terminated while holding (or waiting for) locks: `worker.terminate()` skips its
 * `finally` blocks, so only the supervisor's `releaseAllHeldBy` can give the locks back.
 */

const threads = useLockThreads();

const L = 0;
const M = 1;
const ID_L = contextLockId(0);
const ID_M = contextLockId(1);

async function setup(n: number) {
  const set = lockSet([ID_L, ID_M]);
  return { set, ws: await threads.workers(set, n) };
}

describe('dead-thread recovery', { timeout: 30_000 }, () => {
  it('a worker terminated holding a write lock: released, waiters complete', async () => {
    const { set, ws } = await setup(3);
    const [dead, w, r] = ws as [LockWorker, LockWorker, LockWorker];
    expect(await dead.ok({ op: 'tryRead', lock: M })).toBe(true);
    await dead.ok({ op: 'readUnlock', lock: M });
    await dead.ok({ op: 'publishStats' });
    await dead.ok({ op: 'write', lock: L, timeoutMs: FOREVER });
    await dead.ok({ op: 'read', lock: M, timeoutMs: FOREVER });
    const writer = track(w.call({ op: 'write', lock: L, timeoutMs: FOREVER }));
    const reader = track(r.call({ op: 'read', lock: L, timeoutMs: FOREVER }));
    await until(() => set.locks[L]!.writersWaiting === 1, 'writer waiting');
    const ownerId = dead.ownerId;
    expect(lockOwnerIdOf(dead.worker.threadId)).toBe(ownerId);
    await dead.terminate();
    expect(set.locks[L]!.isWriteLocked).toBe(true);

    const poisoned: [number, boolean][] = [];
    const result = releaseAllHeldBy(set.registry, ownerId, {
      poison: (id) => poisoned.push([id, set.locks[L]!.isWriteLocked]),
    });
    // Poisoned while still write-locked: nobody can see the half-written data as healthy.
    expect(poisoned).toEqual([[ID_L, true]]);
    expect(result).toMatchObject({ ownerId, found: true, pending: [], unknown: [], untracked: 0 });
    expect(result.released).toEqual(
      expect.arrayContaining([
        { lockId: ID_L, mode: 'write' },
        { lockId: ID_M, mode: 'read' },
      ]),
    );
    expect(result.writeLocked).toEqual([ID_L]);
    expect(set.registry.threadState(ownerId)).toBeUndefined();

    // Usable again within a second: the waiting writer gets it, then the reader.
    await until(() => writer.settled(), 'the waiting writer', 1000);
    expect(await writer.promise).toMatchObject({ ok: true });
    expect(reader.settled()).toBe(false);
    await w.ok({ op: 'releaseAll' });
    expect(await reader.promise).toMatchObject({ ok: true });
    await r.ok({ op: 'releaseAll' });
    await w.ok({ op: 'publishStats' });
    await r.ok({ op: 'publishStats' });
    expect(set.allClean()).toBe(true);
    // What the dead thread published stays counted (a record's counters are never reset);
    // acquisitions count at release, so its last two holdings are not in.
    const stats = readLockStats(set.registrySab);
    expect(stats.context.acquisitions).toBe(3);
    // Recovering twice, or an unknown thread, finds nothing.
    expect(releaseAllHeldBy(set.registry, ownerId).found).toBe(false);
  });

  it('a worker terminated holding a read lock: released, a waiting writer completes', async () => {
    const { set, ws } = await setup(3);
    const [dead, other, w] = ws as [LockWorker, LockWorker, LockWorker];
    await dead.ok({ op: 'read', lock: L, timeoutMs: FOREVER });
    await other.ok({ op: 'read', lock: L, timeoutMs: FOREVER });
    const writer = track(w.call({ op: 'write', lock: L, timeoutMs: FOREVER }));
    await until(() => set.locks[L]!.writersWaiting === 1, 'writer waiting');
    await dead.terminate();
    const result = releaseAllHeldBy(set.registry, dead.ownerId);
    expect(result.released).toEqual([{ lockId: ID_L, mode: 'read' }]);
    expect(result.writeLocked).toEqual([]);
    expect(set.locks[L]!.readers).toBe(1); // the live reader's
    expect(writer.settled()).toBe(false);
    await other.ok({ op: 'releaseAll' });
    await until(() => writer.settled(), 'the waiting writer', 1000);
    expect(await writer.promise).toMatchObject({ ok: true });
    await w.ok({ op: 'releaseAll' });
    expect(set.allClean()).toBe(true);
  });

  it('a writer terminated while waiting: its announcement no longer holds readers back', async () => {
    const { set, ws } = await setup(3);
    const [h, dead, r] = ws as [LockWorker, LockWorker, LockWorker];
    await h.ok({ op: 'read', lock: L, timeoutMs: FOREVER });
    void dead.call({ op: 'write', lock: L, timeoutMs: FOREVER });
    await until(() => set.registry.threadState(dead.ownerId)?.waiting?.announced === true, 'wait');
    await until(() => set.words(L)[2] === 1, 'writer parked');
    await dead.terminate();
    expect(set.locks[L]!.writersWaiting).toBe(1);
    expect(await r.ok({ op: 'tryRead', lock: L })).toBe(false);

    const result = releaseAllHeldBy(set.registry, dead.ownerId);
    // Whether its announcement and its sleeper count are still in the lock word is decided
    // by reconciling, at an instant no live thread is waiting on L. It never wrote.
    expect(result.writeLocked).toEqual([]);
    expect(pendingReconciliation(set.registry)).toEqual([]);
    expect(set.words(L)).toEqual([1, 0, 0, 0]);
    expect(await r.ok({ op: 'tryRead', lock: L })).toBe(true);
    await r.ok({ op: 'releaseAll' });
    await h.ok({ op: 'releaseAll' });
    expect(set.allClean()).toBe(true);
  });

  it('reconciles leftovers once the live threads stop touching the lock', async () => {
    const { set, ws } = await setup(2);
    const [dead, w] = ws as [LockWorker, LockWorker];
    await dead.ok({ op: 'read', lock: L, timeoutMs: FOREVER });
    await dead.terminate();
    // Make the dead reader's entry ambiguous, as if it died mid-release.
    const s = set.registry.threadState(dead.ownerId)!;
    const phaseAt = entryBase(set.registry.recordBase(s.record), 0) + E_PHASE;
    const phase = Atomics.load(set.registry.i32, phaseAt);
    Atomics.store(set.registry.i32, phaseAt, withPhase(phase, RELEASING));
    // A live writer is waiting on L: the reader count can still be reconciled (no live
    // reader), the writers-waiting count cannot (it is live).
    const writer = track(w.call({ op: 'write', lock: L, timeoutMs: FOREVER }));
    await until(() => set.locks[L]!.writersWaiting === 1, 'writer waiting');
    const result = releaseAllHeldBy(set.registry, dead.ownerId);
    expect(result.released).toEqual([]);
    await until(() => writer.settled(), 'the waiting writer', 1000);
    expect(await writer.promise).toMatchObject({ ok: true });
    await w.ok({ op: 'releaseAll' });
    expect(reconcile(set.registry).pending).toEqual([]);
    expect(set.allClean()).toBe(true);
  });

  it('the supervisor learns of the end of a thread from its announced port', async () => {
    const { set, ws } = await setup(2);
    const [dead, w] = ws as [LockWorker, LockWorker];
    const recovered: number[] = [];
    dead.onGone = (ownerId) => {
      recovered.push(ownerId);
      releaseAllHeldBy(set.registry, ownerId);
    };
    await dead.ok({ op: 'write', lock: L, timeoutMs: FOREVER });
    const writer = track(w.call({ op: 'write', lock: L, timeoutMs: FOREVER }));
    await until(() => set.locks[L]!.writersWaiting === 1, 'writer waiting');
    expect(set.registry.ownerIds().sort()).toEqual([dead.ownerId, w.ownerId].sort());
    void dead.terminate();
    await until(() => writer.settled(), 'the waiting writer', 1000);
    expect(recovered).toEqual([dead.ownerId]);
    expect(await writer.promise).toMatchObject({ ok: true });
    await w.ok({ op: 'releaseAll' });
    expect(set.registry.ownerIds()).toEqual([w.ownerId]);
    expect(set.allClean()).toBe(true);
  });

  it('the detector reconciles on its scans', async () => {
    const { set, ws } = await setup(3);
    const [h, dead, r] = ws as [LockWorker, LockWorker, LockWorker];
    const events: string[] = [];
    threads.detector(set, { intervalMs: 10, logger: (e) => events.push(e.kind) });
    await h.ok({ op: 'read', lock: L, timeoutMs: FOREVER });
    void dead.call({ op: 'write', lock: L, timeoutMs: FOREVER });
    await until(() => set.words(L)[2] === 1, 'writer parked');
    // A live reader queues behind the (soon dead) writer: not quiescent while it waits.
    const reader = track(r.call({ op: 'read', lock: L, timeoutMs: FOREVER }));
    await until(() => set.words(L)[2] === 2, 'reader parked');
    await dead.terminate();
    releaseAllHeldBy(set.registry, dead.ownerId);
    await until(() => reader.settled(), 'the reader behind the dead writer', 1000);
    expect(await reader.promise).toMatchObject({ ok: true });
    await r.ok({ op: 'releaseAll' });
    await h.ok({ op: 'releaseAll' });
    await until(() => pendingReconciliation(set.registry).length === 0, 'reconciled');
    await until(() => set.allClean(), 'clean lock words', 1000);
    expect(events.length).toBeGreaterThanOrEqual(0);
  });
});
