import type { LockRegistry, RegisteredLock } from './lock-registry.js';
import type { Involvement, StoppedRecord } from './registry-reader.js';
import {
  OWNER,
  READER_ONE,
  readerCount,
  SLEEPERS,
  STATE,
  withoutReaders,
  withoutWriter,
  withoutWritersWaiting,
  writerTag,
} from './rwlock.js';

/**
 * Recovery of the locks of a thread that died (or was terminated) while holding or waiting
 * for them. Runs on the supervisor's thread (the main thread in the server); never blocks.
 *
 * What a dead thread's record says, and what recovery does with it:
 *
 * | record shows                         | certain?                  | action                     |
 * |--------------------------------------|---------------------------|----------------------------|
 * | lock's STATE write-held with its tag | yes (one CAS took both)   | clear OWNER, WRITER_HELD    |
 * | read entry HELD                      | yes (published after CAS) | readers − 1                 |
 * | read entry ACQUIRING / RELEASING     | no: CAS done or not?      | reconcile the reader count  |
 * | write entry ACQUIRING (slow path)    | no: announced or not?     | reconcile writers-waiting   |
 * | any entry ACQUIRING                  | no: parked or not?        | reconcile SLEEPERS          |
 *
 * *Reconciling* a field of lock L waits (across calls of `reconcile()`, never by blocking)
 * for an instant at which no live thread is involved with that field of L: no live record
 * has a read entry on L (readers field), an ACQUIRING write entry on L (writers waiting),
 * or any ACQUIRING entry on L (sleepers). At such an instant the field holds only what dead
 * threads left, so it is set to 0. The instant is established by a double collect: read
 * every record, read the lock words, read every record again; if no record changed in
 * between (entry PHASE words carry a generation, so a change cannot hide), the lock words
 * were read at an instant with exactly the involvement seen. The fix is a compare-exchange
 * from the value read, so it fails (and is retried later) if anything moved since.
 * Live threads publish their involvement before each lock-word change (`registry-writer.ts`),
 * which is what makes "no live involvement" mean "no live contribution".
 *
 * Every lock the dead thread touched is notified at the end, so a release it completed
 * without waking the sleepers (killed in between) cannot leave them parked.
 *
 * Soundness needs every thread that uses a lock to use it through views registered with
 * the same registry (bare `RwLock` views are invisible to recovery).
 */

/** A lock recovery released (or, for `reconciled`, whose leftovers it cleared). */
export interface ReleasedLock {
  lockId: number;
  mode: 'read' | 'write';
}

export interface RecoveryResult {
  ownerId: number;
  /** A record of that thread was found (and is now free). */
  found: boolean;
  /** Locks released at once: the dead thread certainly held them. */
  released: ReleasedLock[];
  /**
   * Locks the thread held in write mode: the data they guard may be half-written. They are
   * passed to `options.poison` before they are released.
   */
  writeLocked: number[];
  /**
   * Locks whose counts the record could not settle (the thread died around a
   * compare-exchange, or while announced or parked): queued for `reconcile()`.
   */
  reconciling: number[];
  /** Of those, the ones the immediate `reconcile()` could not fix yet (live threads busy). */
  pending: number[];
  /** Lock ids in the record for which this thread has no view (cannot be recovered here). */
  unknown: number[];
  /** Holdings that overflowed the record and cannot be recovered. */
  untracked: number;
}

const FIELD_READERS = 1;
const FIELD_WRITERS = 2;
const FIELD_SLEEPERS = 4;

/** `threadId + 1`: the owner id (and registry key) of a worker, from its `threadId`. */
export function lockOwnerIdOf(threadId: number): number {
  return threadId + 1;
}

/** Per-registry-object bookkeeping of fields still to reconcile, lock id → FIELD_ bits. */
const pendingOf = new WeakMap<LockRegistry, Map<number, number>>();

function pendingMap(reg: LockRegistry): Map<number, number> {
  let map = pendingOf.get(reg);
  if (map === undefined) {
    map = new Map();
    pendingOf.set(reg, map);
  }
  return map;
}

/** Lock ids with fields still to reconcile. */
export function pendingReconciliation(reg: LockRegistry): number[] {
  return [...pendingMap(reg).keys()];
}

export interface RecoveryOptions {
  /**
   * Called for each lock the dead thread held in write mode, while it is still write-locked
   * (before recovery releases it), so that the caller can mark the data it guards as
   * poisoned before any other thread can see it. Must not block or throw.
   */
  poison?: (lockId: number) => void;
}

/**
 * Releases every lock the thread `ownerId` (`threadId + 1`) held or was taking, queues what
 * cannot be decided at once for `reconcile`, wakes every waiter of those locks, and frees
 * the thread's record. Call it on the supervisor's thread once the thread has exited (the
 * Worker 'exit' event); calling it for a live thread breaks its locks.
 */
export function releaseAllHeldBy(
  reg: LockRegistry,
  ownerId: number,
  options: RecoveryOptions = {},
): RecoveryResult {
  const result: RecoveryResult = {
    ownerId,
    found: false,
    released: [],
    writeLocked: [],
    reconciling: [],
    pending: [],
    unknown: [],
    untracked: 0,
  };
  if (!Number.isInteger(ownerId) || ownerId <= 0) return result;
  const record = reg.supervisor.takeOverRecord(ownerId);
  if (record < 0) return result;
  result.found = true;
  const dead = reg.reader.readStopped(record);
  result.untracked = dead.overflow;
  const candidates = locksInRecord(dead);
  const touched = releaseWriteLocksByTag(reg, candidates, record + 1, options.poison, result);
  settleEntries(reg, dead, result);
  queueAbandonedWait(reg, dead, result);
  reg.supervisor.freeRecord(record);
  reconcile(reg);
  for (const id of touched) reg.wake(id);
  const pending = pendingMap(reg);
  result.pending = [...candidates].filter((id) => pending.has(id));
  return result;
}

/** Every lock the record names: its entries' locks, then the lock it waited for. */
function locksInRecord(dead: StoppedRecord): Set<number> {
  const ids = new Set<number>();
  for (const entry of dead.entries) ids.add(entry.lockId);
  if (dead.waitLock !== 0) ids.add(dead.waitLock);
  return ids;
}

/**
 * Write locks: exact, through the tag in STATE. Releases every lock in `candidates` that
 * STATE shows write-held by `tag`; returns the candidates this thread has a view of (the
 * others go to `result.unknown`).
 */
function releaseWriteLocksByTag(
  reg: LockRegistry,
  candidates: Set<number>,
  tag: number,
  poison: ((lockId: number) => void) | undefined,
  result: RecoveryResult,
): Set<number> {
  const touched = new Set<number>();
  for (const id of candidates) {
    const lock = reg.lookup(id);
    if (lock === undefined) {
      result.unknown.push(id);
      continue;
    }
    touched.add(id);
    if (releaseWriteByTag(reg, lock, tag, result.ownerId, poison)) {
      result.released.push({ lockId: id, mode: 'write' });
      result.writeLocked.push(id);
    }
  }
  return touched;
}

/**
 * Read entries HELD: the reader certainly counted, so it is removed at once. Everything else
 * the entries show is uncertain (did the compare-exchange happen? was the writer announced?
 * was it parked?) and is queued for `reconcile`.
 */
function settleEntries(reg: LockRegistry, dead: StoppedRecord, result: RecoveryResult): void {
  for (const { lockId: id, mode, phase } of dead.entries) {
    const lock = reg.lookup(id);
    if (lock === undefined) continue;
    if (mode === 'write') {
      if (phase === 'acquiring') queueForReconcile(reg, result, id, FIELD_WRITERS | FIELD_SLEEPERS);
      continue;
    }
    if (phase === 'held') {
      if (releaseOneReader(reg, lock)) result.released.push({ lockId: id, mode: 'read' });
    } else {
      const sleepers = phase === 'acquiring' ? FIELD_SLEEPERS : 0;
      queueForReconcile(reg, result, id, FIELD_READERS | sleepers);
    }
  }
}

/** The wait the thread died in: it may have left a sleeper and (a writer) an announcement. */
function queueAbandonedWait(reg: LockRegistry, dead: StoppedRecord, result: RecoveryResult): void {
  const id = dead.waitLock;
  if (id === 0 || reg.lookup(id) === undefined) return;
  queueForReconcile(
    reg,
    result,
    id,
    FIELD_SLEEPERS | (dead.waitMode === 'write' ? FIELD_WRITERS : 0),
  );
}

function queueForReconcile(
  reg: LockRegistry,
  result: RecoveryResult,
  id: number,
  fields: number,
): void {
  const pending = pendingMap(reg);
  pending.set(id, (pending.get(id) ?? 0) | fields);
  if (!result.reconciling.includes(id)) result.reconciling.push(id);
}

/** Releases `lock`'s write lock if STATE shows it held by `tag` (poisoning it first). */
function releaseWriteByTag(
  reg: LockRegistry,
  lock: RegisteredLock,
  tag: number,
  ownerId: number,
  poison: ((lockId: number) => void) | undefined,
): boolean {
  const m = reg.m;
  const a = lock.i32;
  const st = lock.base + STATE;
  if (writerTag(m.load(a, st)) !== tag) return false;
  poison?.(lock.id);
  for (;;) {
    const s = m.load(a, st);
    if (writerTag(s) !== tag) return false;
    m.cas(a, lock.base + OWNER, ownerId, 0);
    if (m.cas(a, st, s, withoutWriter(s)) === s) return true;
  }
}

/** Removes one reader the dead thread certainly held. */
function releaseOneReader(reg: LockRegistry, lock: RegisteredLock): boolean {
  const m = reg.m;
  const a = lock.i32;
  const st = lock.base + STATE;
  for (;;) {
    const s = m.load(a, st);
    if (readerCount(s) === 0) return false;
    if (m.cas(a, st, s, s - READER_ONE) === s) return true;
  }
}

function samePrint(x: number[], y: number[]): boolean {
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

export interface ReconcileResult {
  /** Locks whose leftovers were cleared (and whose sleepers were woken) by this call. */
  fixed: number[];
  /** Locks still waiting for a quiescent instant. */
  pending: number[];
}

/** A lock's STATE and SLEEPERS words, read between the two collects. */
interface LockWords {
  s: number;
  sleepers: number;
}

/**
 * Clears what dead threads left in the counts of the locks `releaseAllHeldBy` queued, for
 * each field at the first instant no live thread is involved with it. Never blocks; call it
 * periodically (the deadlock detector's scan does) until `pending` is empty.
 */
export function reconcile(reg: LockRegistry): ReconcileResult {
  const pending = pendingMap(reg);
  const result: ReconcileResult = { fixed: [], pending: [] };
  if (pending.size === 0) return result;
  const m = reg.m;
  const before = reg.reader.collectInvolvement();
  const words = new Map<number, LockWords>();
  for (const id of pending.keys()) {
    const lock = reg.lookup(id);
    if (lock === undefined) continue;
    words.set(id, {
      s: m.load(lock.i32, lock.base + STATE),
      sleepers: m.load(lock.i32, lock.base + SLEEPERS),
    });
  }
  const after = reg.reader.collectInvolvement();
  if (before.untracked || after.untracked || !samePrint(before.print, after.print)) {
    result.pending = [...pending.keys()];
    return result;
  }
  for (const [id, fields] of pending) {
    const lock = reg.lookup(id);
    const seen = words.get(id);
    if (lock === undefined || seen === undefined) {
      pending.delete(id);
      continue;
    }
    if (clearLeftovers(reg, lock, fields, seen, after, pending)) result.fixed.push(id);
  }
  result.pending = [...pending.keys()];
  return result;
}

/**
 * Clears the fields of `lock` that no live thread is involved with (as of `after`), from the
 * words `seen` between the collects; updates `pending`. Returns whether anything changed
 * (then the lock's sleepers have been woken).
 */
function clearLeftovers(
  reg: LockRegistry,
  lock: RegisteredLock,
  fields: number,
  seen: LockWords,
  after: Involvement,
  pending: Map<number, number>,
): boolean {
  const m = reg.m;
  const id = lock.id;
  let left = fields;
  const s = seen.s;
  let next = s;
  if ((left & FIELD_READERS) !== 0 && !after.reads.has(id)) {
    next = withoutReaders(next);
    left &= ~FIELD_READERS;
  }
  if ((left & FIELD_WRITERS) !== 0 && !after.writeAcquiring.has(id)) {
    next = withoutWritersWaiting(next);
    left &= ~FIELD_WRITERS;
  }
  let changed = false;
  if (next !== s) {
    if (m.cas(lock.i32, lock.base + STATE, s, next) !== s) return false; // moved: retry later
    changed = true;
  }
  if ((left & FIELD_SLEEPERS) !== 0 && !after.acquiring.has(id)) {
    const sl = seen.sleepers;
    if (sl !== 0 && m.cas(lock.i32, lock.base + SLEEPERS, sl, 0) !== sl) {
      pending.set(id, left);
      return false;
    }
    left &= ~FIELD_SLEEPERS;
  }
  if (left === 0) pending.delete(id);
  else pending.set(id, left);
  if (changed || left !== fields) {
    m.notify(lock.i32, lock.base + STATE);
    return true;
  }
  return false;
}
