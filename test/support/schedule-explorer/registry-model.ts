import { DeadlockError } from '../../../src/sync/lock-errors.js';
import { contextLockId } from '../../../src/sync/lock-ids.js';
import { LockRegistry } from '../../../src/sync/lock-registry.js';
import { pendingReconciliation, reconcile, releaseAllHeldBy } from '../../../src/sync/recovery.js';
import { RwLock } from '../../../src/sync/rwlock.js';
import type { Scenario, SimThread, ThreadProgram } from './explorer.js';
import { describeLockWords, writePreferenceViolation } from './rwlock-model.js';

/**
 * Scenarios that run registered locks (`RwLock` + `LockRegistry`, both on the explorer's
 * memory, so every registry store is a scheduling point too):
 *
 * - the lock properties of `rwlock-model.ts` with the registry's bookkeeping interleaved;
 * - **deadlock break**: a waiter marked as victim leaves its wait with `DeadlockError`,
 *   leaving the lock word as if it had never come, whenever the detector's mark and notify
 *   land (including before it parks: the detector repeats the notify on its next scan);
 * - **dead-thread recovery**: one thread is killed between any two of its shared-memory
 *   operations (or while parked); a supervisor runs `releaseAllHeldBy` and `reconcile`;
 *   the surviving thread must finish (never stuck), mutual exclusion must hold throughout,
 *   and the lock words and registry must end clean.
 */

const LOCK = contextLockId(0);
/** Owner ids the explorer gives its threads: 101, 102, … */
const ownerOf = (thread: number): number => 101 + thread;

export interface RegistryWorld {
  i32: Int32Array;
  registry: SharedArrayBuffer;
  /** Reads the registry outside the schedule (plain Atomics, not scheduling points). */
  inspect: LockRegistry;
  /** What each thread is inside: a read or write section, or nothing. */
  inside: ('read' | 'write' | null)[];
  done: boolean[];
  victims: number;
}

function newWorld(): RegistryWorld {
  const registry = LockRegistry.createBuffer({ threads: 4 });
  return {
    i32: new Int32Array(new SharedArrayBuffer(16)),
    registry,
    inspect: new LockRegistry(registry, { timeOrigin: 0 }),
    inside: [null, null, null],
    done: [false, false, false],
    victims: 0,
  };
}

function views(t: SimThread, w: RegistryWorld): { reg: LockRegistry; lock: RwLock } {
  const reg = new LockRegistry(w.registry, { memory: t, timeOrigin: 0 });
  return { reg, lock: new RwLock(w.i32, 0, { id: LOCK, registry: reg }) };
}

/** A critical section; exclusion is checked against the threads inside that are alive. */
function section(t: SimThread, w: RegistryWorld, write: boolean): void {
  t.ghost(write ? 'enter write' : 'enter read', () => {
    w.inside[t.index] = write ? 'write' : 'read';
    const live = w.inside.filter((x, k) => x !== null && !t.peer(k).killed);
    const writers = live.filter((x) => x === 'write').length;
    if (writers > 1) return 'mutual exclusion violated: two writers inside';
    if (writers > 0 && live.length > 1) {
      return 'mutual exclusion violated: a reader and a writer inside';
    }
    return null;
  });
  t.ghost(write ? 'leave write' : 'leave read', () => {
    w.inside[t.index] = null;
    return null;
  });
}

type Op = 'read' | 'write' | 'tryRead' | 'tryWrite';

function worker(ops: Op[]): ThreadProgram<RegistryWorld> {
  return (t, w) => {
    const { lock } = views(t, w);
    for (const op of ops) {
      const write = op === 'write' || op === 'tryWrite';
      if (op === 'read') lock.readLock(1000);
      else if (op === 'write') lock.writeLock(1000);
      else if (op === 'tryRead' ? !lock.tryRead() : !lock.tryWrite()) continue;
      section(t, w, write);
      if (write) lock.writeUnlock();
      else lock.readUnlock();
    }
    t.ghost('done', () => {
      w.done[t.index] = true;
      return null;
    });
  };
}

function lockState(w: RegistryWorld): string {
  return describeLockWords(w.i32);
}

/** Lock words all 0 and no registry record showing a holding or a wait. */
function clean(w: RegistryWorld): string | null {
  if (Array.from(w.i32).some((x) => x !== 0)) {
    return `lock not clean when every thread finished: ${lockState(w)}`;
  }
  for (const s of w.inspect.snapshot()) {
    if (s.held.length > 0 || s.waiting !== null) {
      return `thread ${s.ownerId}'s record still shows ${JSON.stringify(s.held)} / ${JSON.stringify(s.waiting)}`;
    }
  }
  return null;
}

function scenario(
  name: string,
  threads: ThreadProgram<RegistryWorld>[],
  extra: Partial<Scenario<RegistryWorld>> = {},
): Scenario<RegistryWorld> {
  return {
    name,
    setup: newWorld,
    threads,
    onWrite: (w, a, i, before, after) =>
      a === w.i32 ? writePreferenceViolation(i, before, after) : null,
    final: clean,
    describe: lockState,
    ...extra,
  };
}

/** Holds the write lock until the waiter (thread 1) is done. */
const holder: ThreadProgram<RegistryWorld> = (t, w) => {
  const { lock } = views(t, w);
  lock.writeLock(1000);
  section(t, w, true);
  t.awaitCondition('until the waiter is done', () => w.done[1] === true);
  lock.writeUnlock();
};

/** Waits for the write lock; the detector may fail it. */
const victimWaiter: ThreadProgram<RegistryWorld> = (t, w) => {
  const { lock } = views(t, w);
  try {
    lock.writeLock(1000);
    section(t, w, true);
    lock.writeUnlock();
  } catch (e) {
    if (!(e instanceof DeadlockError)) throw e;
    t.ghost('deadlock victim', () => {
      w.victims++;
      return null;
    });
  }
  t.ghost('done', () => {
    w.done[1] = true;
    return null;
  });
};

/** The detector's part: mark thread 1's wait as victim, and repeat the notify next scan. */
const detector: ThreadProgram<RegistryWorld> = (t, w) => {
  const { reg } = views(t, w);
  const waiter = ownerOf(1);
  t.awaitCondition('thread 1 waits (or is done)', () => {
    const s = w.inspect.threadState(waiter);
    return w.done[1] === true || (s?.waiting !== null && s?.waiting !== undefined);
  });
  const s = reg.threadState(waiter);
  if (s?.waiting == null) return;
  if (!reg.signalVictim(s.record, s.waiting.seq, LOCK)) return;
  // Next scan: by then the victim has parked or left (scans are far apart).
  t.awaitCondition('next scan', () => {
    const p = t.peer(1);
    return p.status === 'done' || (p.status === 'blocked' && p.parked?.a === w.i32);
  });
  const again = reg.threadState(waiter);
  if (again?.waiting?.seq === s.waiting.seq && again.waiting.victim) reg.wake(LOCK);
};

/** Recovers thread 0's locks if it was killed, then reconciles until nothing is pending. */
const supervisor: ThreadProgram<RegistryWorld> = (t, w) => {
  const { reg } = views(t, w);
  t.awaitCondition('thread 0 exits', () => t.peer(0).status === 'done');
  if (!t.peer(0).killed) return;
  releaseAllHeldBy(reg, ownerOf(0));
  for (let scan = 0; scan < 3 && pendingReconciliation(reg).length > 0; scan++) {
    t.awaitCondition(
      'next scan (thread 1 is parked or done)',
      () => t.peer(1).status !== 'runnable',
    );
    reconcile(reg);
  }
  t.assert(
    pendingReconciliation(reg).length === 0,
    `recovery left ${pendingReconciliation(reg).join()} unreconciled with every other thread quiet`,
  );
};

export function registryScenarios(): Scenario<RegistryWorld>[] {
  return [
    scenario('registered: writer, writer, reader', [
      worker(['write']),
      worker(['write']),
      worker(['read']),
    ]),
    scenario('registered: reader, writer, tryRead+read', [
      worker(['read']),
      worker(['write']),
      worker(['tryRead', 'read']),
    ]),
    scenario('deadlock victim leaves cleanly', [holder, victimWaiter, detector]),
  ];
}

/** Thread 0 may be killed at any point; thread 1 must still finish; thread 2 recovers. */
export function recoveryScenarios(): Scenario<RegistryWorld>[] {
  const killable = [0];
  return [
    scenario('killed writer vs reader', [worker(['write']), worker(['read']), supervisor], {
      killable,
    }),
    scenario('killed reader vs writer', [worker(['read']), worker(['write']), supervisor], {
      killable,
    }),
    scenario('killed writer vs writer', [worker(['write']), worker(['write']), supervisor], {
      killable,
    }),
    scenario(
      'killed reader+writer vs reader+writer',
      [worker(['read', 'write']), worker(['write', 'read']), supervisor],
      { killable },
    ),
  ];
}
