import { canRead, RwLock, STATE, writerHeld } from '../../../src/sync/rwlock.js';

/**
 * Deliberately broken variants of `RwLock`, each a one-method change to the real class, so
 * that the test suite can show the schedule explorer catches the bug (a checker that
 * cannot fail proves nothing).
 */

/** Admits readers while a writer is announced: breaks write preference. */
export class ReaderBargingRwLock extends RwLock {
  protected override admitsReader(s: number): boolean {
    return canRead(s) || !writerHeld(s);
  }
}

/**
 * Parks without counting itself in SLEEPERS: releasers see no sleeper and never notify,
 * so a waiter that parked just before a release sleeps forever (a lost wake-up).
 */
export class UncountedSleeperRwLock extends RwLock {
  protected override park(s: number, remainingMs: number): void {
    this.m.wait(this.i32, this.base + STATE, s, remainingMs);
  }
}
