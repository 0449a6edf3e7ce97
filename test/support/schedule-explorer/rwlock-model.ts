import { LockTimeoutError } from '../../../src/sync/lock-errors.js';
import type { LockMemory } from '../../../src/sync/memory.js';
import {
  OWNER,
  RWLOCK_WORDS,
  RwLock,
  type RwLockOptions,
  readerCount,
  readers,
  SLEEPERS,
  STATE,
  writerHeld,
  writersWaiting,
} from '../../../src/sync/rwlock.js';
import type { Scenario, SimThread, ThreadProgram } from './explorer.js';

/**
 * Scenarios that run `RwLock` (or a variant of it) on the schedule explorer, and the
 * properties checked in every schedule:
 *
 * - **mutual exclusion**: a writer inside its critical section is alone; ghost counters of
 *   the threads inside are checked at every entry;
 * - **write preference**: no write to STATE admits a reader (raises the reader count)
 *   while a writer is announced;
 * - **no lost wake-up**: with deadlines that never pass, a schedule in which some thread
 *   stays parked and nothing else can run fails (`stuck`);
 * - **clean exit**: when every thread is done, the lock words are all 0 again (no reader,
 *   writer, announcement or sleeper left behind), also after timeouts.
 */

export type LockClass = new (i32: Int32Array, base: number, options?: RwLockOptions) => RwLock;

export interface LockWorld {
  i32: Int32Array;
  readersIn: number;
  writersIn: number;
  /** Completed critical sections, and waits that ended in a timeout. */
  sections: number;
  timeouts: number;
}

function newWorld(): LockWorld {
  const i32 = new Int32Array(new SharedArrayBuffer(RWLOCK_WORDS * 4));
  return { i32, readersIn: 0, writersIn: 0, sections: 0, timeouts: 0 };
}

/** The write-preference property, as a check of one write to the lock's STATE word. */
export function writePreferenceViolation(i: number, before: number, after: number): string | null {
  if (i !== STATE) return null;
  if (writerHeld(before) || writerHeld(after)) return null;
  if (readers(after) > readers(before) && writersWaiting(before) > 0) {
    return `write preference violated: a reader was admitted while ${writersWaiting(before)} writer(s) waited`;
  }
  return null;
}

/** The words of the lock at the start of `i32`, for failure reports. */
export function describeLockWords(i32: Int32Array): string {
  const s = i32[STATE]!;
  return (
    `lock STATE readers=${readerCount(s)} waiting=${writersWaiting(s)} ` +
    `held=${writerHeld(s)} OWNER=${i32[OWNER]} SLEEPERS=${i32[SLEEPERS]}`
  );
}

function lockStateOf(w: LockWorld): string {
  return describeLockWords(w.i32);
}

type Op = 'read' | 'write' | 'tryRead' | 'tryWrite';

/** A thread program: acquire (in the given ways) … critical section … release, in order. */
function program(Lock: LockClass, ops: Op[], timeoutMs = 1000): ThreadProgram<LockWorld> {
  return (t: SimThread, w: LockWorld) => {
    const memory: LockMemory = t;
    const lock = new Lock(w.i32, 0, { memory });
    for (const op of ops) {
      const write = op === 'write' || op === 'tryWrite';
      try {
        if (op === 'read') lock.readLock(timeoutMs);
        else if (op === 'write') lock.writeLock(timeoutMs);
        else if (op === 'tryRead' ? !lock.tryRead() : !lock.tryWrite()) continue;
      } catch (e) {
        if (!(e instanceof LockTimeoutError)) throw e;
        t.ghost('timed out', () => {
          w.timeouts++;
          return null;
        });
        continue;
      }
      criticalSection(t, w, write);
      if (write) lock.writeUnlock();
      else lock.readUnlock();
    }
  };
}

function criticalSection(t: SimThread, w: LockWorld, write: boolean): void {
  t.ghost(write ? 'enter write' : 'enter read', () => {
    if (write) w.writersIn++;
    else w.readersIn++;
    if (w.writersIn > 1) return 'mutual exclusion violated: two writers inside';
    if (w.writersIn > 0 && w.readersIn > 0) {
      return 'mutual exclusion violated: a reader and a writer inside';
    }
    return null;
  });
  t.ghost(write ? 'leave write' : 'leave read', () => {
    if (write) w.writersIn--;
    else w.readersIn--;
    w.sections++;
    return null;
  });
}

function scenario(
  name: string,
  Lock: LockClass,
  threads: Op[][],
  timeouts = false,
): Scenario<LockWorld> {
  return {
    name,
    setup: newWorld,
    threads: threads.map((ops) => program(Lock, ops)),
    timeouts,
    onWrite: (_w, _a, i, before, after) => writePreferenceViolation(i, before, after),
    final: (w) => {
      const words = Array.from(w.i32);
      if (words.some((x) => x !== 0)) {
        return `lock not clean after every thread finished: ${lockStateOf(w)}`;
      }
      return null;
    },
    describe: lockStateOf,
  };
}

/**
 * The scenarios the test suite explores, for lock class `Lock` (the real `RwLock` or a
 * deliberately broken variant).
 */
export function rwlockScenarios(Lock: LockClass = RwLock): Scenario<LockWorld>[] {
  return [
    scenario('writer, writer, reader', Lock, [['write'], ['write'], ['read']]),
    scenario('reader, writer, reader', Lock, [['read'], ['write'], ['read']]),
    scenario('reader twice vs writer twice', Lock, [
      ['read', 'read'],
      ['write', 'write'],
    ]),
    scenario('try forms against blocking forms', Lock, [
      ['tryWrite', 'read'],
      ['write'],
      ['tryRead', 'write'],
    ]),
    scenario('timeouts: writer, writer, reader', Lock, [['write'], ['write'], ['read']], true),
    scenario('timeouts: reader, writer, reader', Lock, [['read'], ['write'], ['read']], true),
  ];
}
