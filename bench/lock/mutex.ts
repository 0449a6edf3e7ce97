/**
 * The baseline: a plain shared-memory mutex in one Int32 word (Drepper, "Futexes Are
 * Tricky", mutex #2): 0 free, 1 locked, 2 locked with possible waiters. One compare-exchange
 * to lock and one atomic subtract to unlock when uncontended; `Atomics.wait` / `notify`
 * otherwise. No reader sharing, no deadline, no owner, no registry.
 */
export class PlainMutex {
  constructor(
    private readonly i32: Int32Array,
    private readonly at: number,
  ) {}

  lock(): void {
    let c = Atomics.compareExchange(this.i32, this.at, 0, 1);
    if (c === 0) return;
    if (c !== 2) c = Atomics.exchange(this.i32, this.at, 2);
    while (c !== 0) {
      Atomics.wait(this.i32, this.at, 2);
      c = Atomics.exchange(this.i32, this.at, 2);
    }
  }

  unlock(): void {
    if (Atomics.sub(this.i32, this.at, 1) !== 1) {
      Atomics.store(this.i32, this.at, 0);
      Atomics.notify(this.i32, this.at, 1);
    }
  }
}
