import {
  ACQUIRING,
  E_LOCK,
  E_PHASE,
  ENTRY_WORDS,
  FREE,
  GEN_MASK,
  GEN_ONE,
  HELD,
  type LockRegistry,
  MAX_HELD,
  PHASE_MASK,
  PHASE_WRITE,
  R_ENTRIES,
  R_OVERFLOW,
  R_OWNER,
  R_VICTIM,
  R_WAIT_LOCK,
  R_WAIT_MODE,
  RECORD_WORDS,
  type RegisteredLock,
  WAIT_WRITE,
} from './lock-registry.js';
import {
  OWNER,
  READER_ONE,
  READERS_MASK,
  readers,
  SLEEPERS,
  STATE,
  WRITER_HELD,
  WRITER_WAITING_ONE,
  writerHeld,
  writersWaiting,
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
 * Live threads publish their involvement before each lock-word change (`lock-registry.ts`),
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
  const m = reg.m;
  const a = reg.i32;
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
  let at = -1;
  let record = -1;
  for (let r = 0; r < reg.capacity; r++) {
    const base = reg.recordBase(r);
    if (
      m.load(a, base + R_OWNER) === ownerId &&
      m.cas(a, base + R_OWNER, ownerId, -ownerId) === ownerId
    ) {
      at = base;
      record = r;
      break;
    }
  }
  if (at < 0) return result;
  result.found = true;
  const tag = record + 1;
  const pending = pendingMap(reg);
  const touched = new Set<number>();
  const addPending = (id: number, fields: number): void => {
    pending.set(id, (pending.get(id) ?? 0) | fields);
    if (!result.reconciling.includes(id)) result.reconciling.push(id);
  };

  // Write locks: exact, through the tag in STATE.
  const candidates = new Set<number>();
  const entries: { id: number; word: number }[] = [];
  for (let k = 0; k < MAX_HELD; k++) {
    const e = at + R_ENTRIES + k * ENTRY_WORDS;
    const word = m.load(a, e + E_PHASE);
    if ((word & PHASE_MASK) === FREE) continue;
    const id = m.load(a, e + E_LOCK);
    entries.push({ id, word });
    candidates.add(id);
  }
  const waitLock = m.load(a, at + R_WAIT_LOCK);
  const waitMode = m.load(a, at + R_WAIT_MODE);
  if (waitLock !== 0) candidates.add(waitLock);
  result.untracked = m.load(a, at + R_OVERFLOW);

  for (const id of candidates) {
    const lock = reg.lookup(id);
    if (lock === undefined) {
      result.unknown.push(id);
      continue;
    }
    touched.add(id);
    if (releaseWriteByTag(reg, lock, tag, ownerId, options.poison)) {
      result.released.push({ lockId: id, mode: 'write' });
      result.writeLocked.push(id);
    }
  }

  for (const { id, word } of entries) {
    const lock = reg.lookup(id);
    if (lock === undefined) continue;
    const phase = word & PHASE_MASK;
    const write = (word & PHASE_WRITE) !== 0;
    if (write) {
      if (phase === ACQUIRING) addPending(id, FIELD_WRITERS | FIELD_SLEEPERS);
      continue;
    }
    if (phase === HELD) {
      if (releaseOneReader(reg, lock)) result.released.push({ lockId: id, mode: 'read' });
    } else {
      addPending(id, FIELD_READERS | (phase === ACQUIRING ? FIELD_SLEEPERS : 0));
    }
  }
  if (waitLock !== 0 && reg.lookup(waitLock) !== undefined) {
    addPending(waitLock, FIELD_SLEEPERS | ((waitMode & WAIT_WRITE) !== 0 ? FIELD_WRITERS : 0));
  }

  // Free the record for the next thread.
  for (let k = 0; k < MAX_HELD; k++) {
    const e = at + R_ENTRIES + k * ENTRY_WORDS;
    const word = m.load(a, e + E_PHASE);
    m.store(a, e + E_PHASE, (word + GEN_ONE) & GEN_MASK); // FREE, and a new generation
  }
  m.store(a, at + R_WAIT_LOCK, 0);
  m.store(a, at + R_VICTIM, 0);
  m.store(a, at + R_OVERFLOW, 0);
  m.store(a, at + R_OWNER, 0);

  reconcile(reg);
  for (const id of touched) reg.wake(id);
  result.pending = candidatesStillPending(pending, candidates);
  return result;
}

function candidatesStillPending(pending: Map<number, number>, ids: Set<number>): number[] {
  return [...ids].filter((id) => pending.has(id));
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
  const s0 = m.load(a, st);
  if (!writerHeld(s0) || (s0 & READERS_MASK) !== tag) return false;
  poison?.(lock.id);
  for (;;) {
    const s = m.load(a, st);
    if (!writerHeld(s) || (s & READERS_MASK) !== tag) return false;
    m.cas(a, lock.base + OWNER, ownerId, 0);
    if (m.cas(a, st, s, s & ~(WRITER_HELD | READERS_MASK)) === s) return true;
  }
}

/** Removes one reader the dead thread certainly held. */
function releaseOneReader(reg: LockRegistry, lock: RegisteredLock): boolean {
  const m = reg.m;
  const a = lock.i32;
  const st = lock.base + STATE;
  for (;;) {
    const s = m.load(a, st);
    if (writerHeld(s) || readers(s) === 0) return false;
    if (m.cas(a, st, s, s - READER_ONE) === s) return true;
  }
}

interface Involvement {
  reads: Set<number>;
  writeAcquiring: Set<number>;
  acquiring: Set<number>;
  /** Some live thread has holdings it could not record: nothing is quiescent. */
  untracked: boolean;
  /** Words that change whenever any record changes. */
  print: number[];
}

/** Reads every live record's involvement (entries), and a fingerprint of all records. */
function collect(reg: LockRegistry): Involvement {
  const m = reg.m;
  const a = reg.i32;
  const inv: Involvement = {
    reads: new Set(),
    writeAcquiring: new Set(),
    acquiring: new Set(),
    untracked: false,
    print: [],
  };
  for (let r = 0; r < reg.capacity; r++) {
    const at = reg.recordsAt + r * RECORD_WORDS;
    const owner = m.load(a, at + R_OWNER);
    inv.print.push(owner);
    if (owner <= 0) continue;
    if (m.load(a, at + R_OVERFLOW) > 0) inv.untracked = true;
    for (let k = 0; k < MAX_HELD; k++) {
      const e = at + R_ENTRIES + k * ENTRY_WORDS;
      const word = m.load(a, e + E_PHASE);
      inv.print.push(word);
      const phase = word & PHASE_MASK;
      if (phase === FREE) continue;
      const id = m.load(a, e + E_LOCK);
      if ((word & PHASE_WRITE) === 0) inv.reads.add(id);
      if (phase === ACQUIRING) {
        inv.acquiring.add(id);
        if ((word & PHASE_WRITE) !== 0) inv.writeAcquiring.add(id);
      }
    }
  }
  return inv;
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
  const before = collect(reg);
  const words = new Map<number, { s: number; sleepers: number }>();
  for (const id of pending.keys()) {
    const lock = reg.lookup(id);
    if (lock === undefined) continue;
    words.set(id, {
      s: m.load(lock.i32, lock.base + STATE),
      sleepers: m.load(lock.i32, lock.base + SLEEPERS),
    });
  }
  const after = collect(reg);
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
    let left = fields;
    const s = seen.s;
    let next = s;
    if ((left & FIELD_READERS) !== 0 && !after.reads.has(id)) {
      if (!writerHeld(s)) next -= readers(s);
      left &= ~FIELD_READERS;
    }
    if ((left & FIELD_WRITERS) !== 0 && !after.writeAcquiring.has(id)) {
      next -= writersWaiting(s) * WRITER_WAITING_ONE;
      left &= ~FIELD_WRITERS;
    }
    let changed = false;
    if (next !== s) {
      if (m.cas(lock.i32, lock.base + STATE, s, next) !== s) continue; // moved: retry later
      changed = true;
    }
    if ((left & FIELD_SLEEPERS) !== 0 && !after.acquiring.has(id)) {
      const sl = seen.sleepers;
      if (sl !== 0 && m.cas(lock.i32, lock.base + SLEEPERS, sl, 0) !== sl) {
        pending.set(id, left);
        continue;
      }
      left &= ~FIELD_SLEEPERS;
    }
    if (left === 0) pending.delete(id);
    else pending.set(id, left);
    if (changed || left !== fields) {
      m.notify(lock.i32, lock.base + STATE);
      result.fixed.push(id);
    }
  }
  result.pending = [...pending.keys()];
  return result;
}
