import type { LockMemory } from './memory.js';
import { f64Index, H_CLOCK, H_EPOCH } from './registry-layout.js';

/**
 * Registry time: milliseconds since the registry buffer's epoch, comparable across threads
 * (each thread's `performance.now()` has its own origin). Also the *coarse clock*, a float64
 * in the buffer holding the registry time of the latest clock reading by any thread, which
 * stamps the holds that are not timed (see `LockRegistryOptions.holdSampleEvery`).
 */
export class RegistryClock {
  /** Milliseconds to add to this thread's `m.now()` to get registry time. */
  private readonly offset: number;

  constructor(
    private readonly f64: Float64Array,
    private readonly m: LockMemory,
    timeOrigin: number,
  ) {
    this.offset = timeOrigin - f64[f64Index(H_EPOCH)]!;
  }

  /** Registry clock: ms since the registry's epoch. */
  now(): number {
    return this.m.now() + this.offset;
  }

  /** Converts a reading of this thread's `m.now()` to registry time. */
  toRegistryTime(threadNow: number): number {
    return threadNow + this.offset;
  }

  /** Registry time of the latest clock reading by any thread. */
  get coarse(): number {
    return this.f64[f64Index(H_CLOCK)]!;
  }

  /** Reads the clock and publishes it as the coarse clock; returns registry time. */
  tick(): number {
    const t = this.now();
    this.f64[f64Index(H_CLOCK)] = t;
    return t;
  }

  /**
   * Publishes registry time `t` as the coarse clock, but not more than once a millisecond
   * (its cache line is shared by every thread).
   */
  advance(t: number): void {
    if (t - this.f64[f64Index(H_CLOCK)]! > 1) this.f64[f64Index(H_CLOCK)] = t;
  }
}
