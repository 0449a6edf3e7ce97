import type { LockMemory } from './memory.js';
import {
  clearedEntry,
  E_PHASE,
  entryBase,
  MAX_HELD,
  R_OVERFLOW,
  R_OWNER,
  R_VICTIM,
  R_WAIT_LOCK,
  R_WAIT_SEQ,
  type RegistryBuffer,
  recordBase,
} from './registry-layout.js';

/**
 * The only writes to a thread record made by a thread that does not own it, all from the
 * supervisor's thread (the main thread in the server): the deadlock detector's victim mark
 * (`VICTIM`), and recovery taking over a dead thread's record and freeing it. Never blocks.
 */
export class RegistrySupervisor {
  private readonly i32: Int32Array;
  private readonly capacity: number;

  constructor(
    buf: RegistryBuffer,
    private readonly m: LockMemory,
  ) {
    this.i32 = buf.i32;
    this.capacity = buf.capacity;
  }

  /**
   * Asks wait `seq` of the thread in record `r` to fail with `DeadlockError` (the caller
   * then wakes the lock it waits on). Returns false if that wait is over.
   */
  markVictim(r: number, seq: number): boolean {
    const m = this.m;
    const a = this.i32;
    const at = recordBase(r);
    if (m.load(a, at + R_WAIT_SEQ) !== seq || m.load(a, at + R_WAIT_LOCK) === 0) {
      return false;
    }
    m.store(a, at + R_VICTIM, seq);
    // The wait may have ended (and another begun) in between: take the mark back. (A mark
    // left behind names a wait number that is over, so it fails no later wait.)
    if (m.load(a, at + R_WAIT_SEQ) !== seq || m.load(a, at + R_WAIT_LOCK) === 0) {
      m.cas(a, at + R_VICTIM, seq, 0);
      return false;
    }
    return true;
  }

  /**
   * Marks the record of the stopped thread `ownerId` as being recovered (OWNER = −id), so
   * that no one else recovers it; returns its index, or -1 if it has no record.
   */
  takeOverRecord(ownerId: number): number {
    const m = this.m;
    const a = this.i32;
    for (let r = 0; r < this.capacity; r++) {
      const base = recordBase(r);
      if (
        m.load(a, base + R_OWNER) === ownerId &&
        m.cas(a, base + R_OWNER, ownerId, -ownerId) === ownerId
      ) {
        return r;
      }
    }
    return -1;
  }

  /** Frees record `r`, taken over by `takeOverRecord`, for the next thread. */
  freeRecord(r: number): void {
    const m = this.m;
    const a = this.i32;
    const at = recordBase(r);
    for (let k = 0; k < MAX_HELD; k++) {
      const e = entryBase(at, k);
      const word = m.load(a, e + E_PHASE);
      m.store(a, e + E_PHASE, clearedEntry(word)); // FREE, and a new generation
    }
    m.store(a, at + R_WAIT_LOCK, 0);
    m.store(a, at + R_VICTIM, 0);
    m.store(a, at + R_OVERFLOW, 0);
    m.store(a, at + R_OWNER, 0);
  }
}
