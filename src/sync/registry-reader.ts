import { type LockStats, sumStats } from './lock-stats.js';
import type { LockMemory } from './memory.js';
import * as layout from './registry-layout.js';

/**
 * Reading the lock registry's thread records from any thread, without stopping the threads
 * that write them: what each thread holds and waits for (the deadlock detector, long-wait
 * reports, tests), what a dead thread's record shows and what live threads are involved
 * with (recovery), and the contention counters summed over every record (metrics). Never
 * writes; never blocks.
 */

/** A lock a thread's record shows it involved with: holding, acquiring or releasing it. */
export interface RecordedLock {
  lockId: number;
  mode: 'read' | 'write';
  phase: 'acquiring' | 'held' | 'releasing';
}

/** A lock a thread holds (or is acquiring or releasing), as read from its record. */
export interface HeldLockInfo extends RecordedLock {
  /** Registry clock (ms since the registry's epoch) when the attempt or hold began. */
  since: number;
}

/** The lock a thread waits for, as read from its record. */
export interface WaitInfo {
  lockId: number;
  mode: 'read' | 'write';
  /** An async (`…Async`) wait: the thread itself is not blocked. */
  async: boolean;
  /** A writer whose announcement is in the lock word (it holds new readers back). */
  announced: boolean;
  /** Number of this wait; with the owner id it names one wait. */
  seq: number;
  /** Registry clock when the wait started. */
  since: number;
  /** The deadlock detector has asked this wait to fail. */
  victim: boolean;
}

/** One thread record, read without stopping its thread. */
export interface ThreadLockState {
  ownerId: number;
  /** Record index; the record's tag is `record + 1`. */
  record: number;
  /** The supervisor is recovering this (dead) thread's locks. */
  dead: boolean;
  /** Holdings that did not fit the record. */
  overflow: number;
  held: HeldLockInfo[];
  waiting: WaitInfo | null;
  /** Raw words that change whenever the record changes (for stability checks). */
  fingerprint: string;
}

/** The record of a thread that has stopped, as recovery reads it. */
export interface StoppedRecord {
  /** Entries not FREE, in entry order. */
  entries: RecordedLock[];
  /** The lock the thread was waiting for (0: none), and in which mode. */
  waitLock: number;
  waitMode: 'read' | 'write';
  /** Holdings that did not fit the record. */
  overflow: number;
}

/** Which locks the live threads are involved with, at one collect of every record. */
export interface Involvement {
  /** Locks some live thread has a read entry on (any phase). */
  reads: Set<number>;
  /** Locks some live thread is acquiring in write mode. */
  writeAcquiring: Set<number>;
  /** Locks some live thread is acquiring, in either mode. */
  acquiring: Set<number>;
  /** Some live thread has holdings it could not record: nothing is quiescent. */
  untracked: boolean;
  /** Words that change whenever any record changes. */
  print: number[];
}

/** Tries at reading one entry or wait record consistently before giving it up. */
const READ_TRIES = 8;

export class RegistryReader {
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  readonly capacity: number;

  constructor(
    private readonly buf: layout.RegistryBuffer,
    private readonly m: LockMemory,
  ) {
    this.i32 = buf.i32;
    this.f64 = buf.f64;
    this.capacity = buf.capacity;
  }

  /** Record index of a live or dead thread, or -1. */
  recordOf(ownerId: number): number {
    for (let r = 0; r < this.capacity; r++) {
      const owner = this.m.load(this.i32, layout.recordBase(r) + layout.R_OWNER);
      if (owner === ownerId || owner === -ownerId) return r;
    }
    return -1;
  }

  /** Reads record `r` (consistent per entry and per wait record); null if free. */
  readRecord(r: number): ThreadLockState | null {
    const at = layout.recordBase(r);
    const owner = this.m.load(this.i32, at + layout.R_OWNER);
    if (owner === 0) return null;
    const held: HeldLockInfo[] = [];
    const print: number[] = [owner];
    for (let k = 0; k < layout.MAX_HELD; k++) this.readEntry(layout.entryBase(at, k), held, print);
    const waiting = this.readWait(at, print);
    return {
      ownerId: Math.abs(owner),
      record: r,
      dead: owner < 0,
      overflow: this.m.load(this.i32, at + layout.R_OVERFLOW),
      held,
      waiting,
      fingerprint: print.join(','),
    };
  }

  /**
   * Reads the entry at `e` into `held` unless it is FREE, retrying until two reads of its
   * PHASE word agree (the generation in it shows any change in between).
   */
  private readEntry(e: number, held: HeldLockInfo[], print: number[]): void {
    const m = this.m;
    const a = this.i32;
    for (let tries = 0; tries < READ_TRIES; tries++) {
      const p1 = m.load(a, e + layout.E_PHASE);
      if (layout.entryPhase(p1) === layout.FREE) {
        print.push(p1);
        return;
      }
      const lockId = m.load(a, e + layout.E_LOCK);
      const since = this.f64[layout.f64Index(e + layout.E_SINCE)]!;
      if (m.load(a, e + layout.E_PHASE) !== p1) continue;
      held.push({
        lockId,
        mode: layout.entryWrites(p1) ? 'write' : 'read',
        phase: layout.phaseName(layout.entryPhase(p1)),
        since,
      });
      print.push(p1, lockId);
      return;
    }
  }

  /** Reads the wait record of the record at `at`, retrying until lock and number agree. */
  private readWait(at: number, print: number[]): WaitInfo | null {
    const m = this.m;
    const a = this.i32;
    for (let tries = 0; tries < READ_TRIES; tries++) {
      const l1 = m.load(a, at + layout.R_WAIT_LOCK);
      if (l1 === 0) break;
      const q1 = m.load(a, at + layout.R_WAIT_SEQ);
      const mode = m.load(a, at + layout.R_WAIT_MODE);
      const since = this.f64[layout.f64Index(at + layout.R_WAIT_SINCE)]!;
      const victim = m.load(a, at + layout.R_VICTIM);
      if (m.load(a, at + layout.R_WAIT_LOCK) !== l1 || m.load(a, at + layout.R_WAIT_SEQ) !== q1)
        continue;
      print.push(l1, q1, mode);
      return {
        lockId: l1,
        mode: layout.waitWrites(mode) ? 'write' : 'read',
        async: layout.waitIsAsync(mode),
        announced: layout.waitAnnounced(mode),
        seq: q1,
        since,
        victim: victim === q1,
      };
    }
    return null;
  }

  /** Every thread record in use. */
  snapshot(): ThreadLockState[] {
    const out: ThreadLockState[] = [];
    for (let r = 0; r < this.capacity; r++) {
      const s = this.readRecord(r);
      if (s !== null) out.push(s);
    }
    return out;
  }

  /** Owner ids of the threads with a record (live ones, and dead ones being recovered). */
  ownerIds(): number[] {
    const out: number[] = [];
    for (let r = 0; r < this.capacity; r++) {
      const owner = this.m.load(this.i32, layout.recordBase(r) + layout.R_OWNER);
      if (owner !== 0) out.push(Math.abs(owner));
    }
    return out;
  }

  /** The record of one thread, or undefined. */
  threadState(ownerId: number): ThreadLockState | undefined {
    const r = this.recordOf(ownerId);
    return r < 0 ? undefined : (this.readRecord(r) ?? undefined);
  }

  /**
   * Reads record `r` of a thread that has stopped: nothing changes it any more, so one read
   * of each word is exact.
   */
  readStopped(r: number): StoppedRecord {
    const m = this.m;
    const a = this.i32;
    const at = layout.recordBase(r);
    const entries: RecordedLock[] = [];
    for (let k = 0; k < layout.MAX_HELD; k++) {
      const e = layout.entryBase(at, k);
      const word = m.load(a, e + layout.E_PHASE);
      if (layout.entryPhase(word) === layout.FREE) continue;
      entries.push({
        lockId: m.load(a, e + layout.E_LOCK),
        mode: layout.entryWrites(word) ? 'write' : 'read',
        phase: layout.phaseName(layout.entryPhase(word)),
      });
    }
    const waitLock = m.load(a, at + layout.R_WAIT_LOCK);
    const waitMode = layout.waitWrites(m.load(a, at + layout.R_WAIT_MODE)) ? 'write' : 'read';
    return { entries, waitLock, waitMode, overflow: m.load(a, at + layout.R_OVERFLOW) };
  }

  /**
   * Collects every live record's involvement (entries), and a fingerprint of all records.
   * Recovery compares two collects to find an instant with exactly that involvement.
   */
  collectInvolvement(): Involvement {
    const m = this.m;
    const a = this.i32;
    const inv: Involvement = {
      reads: new Set(),
      writeAcquiring: new Set(),
      acquiring: new Set(),
      untracked: false,
      print: [],
    };
    for (let r = 0; r < this.capacity; r++) {
      const at = layout.recordBase(r);
      const owner = m.load(a, at + layout.R_OWNER);
      inv.print.push(owner);
      if (owner <= 0) continue;
      if (m.load(a, at + layout.R_OVERFLOW) > 0) inv.untracked = true;
      for (let k = 0; k < layout.MAX_HELD; k++) {
        const e = layout.entryBase(at, k);
        const word = m.load(a, e + layout.E_PHASE);
        inv.print.push(word);
        const phase = layout.entryPhase(word);
        if (phase === layout.FREE) continue;
        const id = m.load(a, e + layout.E_LOCK);
        if (!layout.entryWrites(word)) inv.reads.add(id);
        if (phase === layout.ACQUIRING) {
          inv.acquiring.add(id);
          if (layout.entryWrites(word)) inv.writeAcquiring.add(id);
        }
      }
    }
    return inv;
  }

  /** Registrations refused because the registry was full. */
  get refused(): number {
    return this.m.load(this.i32, layout.H_REFUSED);
  }

  /**
   * Contention metrics per lock class, summed over every record (so they include the
   * threads that have exited). Never blocks; any thread.
   */
  readStats(): LockStats {
    return sumStats(
      Array.from({ length: this.capacity }, (_, r) => layout.statsBlock(this.buf.sab, r)),
    );
  }
}
