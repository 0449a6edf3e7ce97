/**
 * An async mutex: `lock()` resolves when the caller holds it; `unlock()` hands it straight
 * to the next waiter in FIFO order (no barging), or frees it. An uncontended lock costs one
 * resolved promise.
 */
export class Mutex {
  private held = false;
  private readonly waiters: (() => void)[] = [];

  lock(): Promise<void> {
    if (!this.held) {
      this.held = true;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  unlock(): void {
    const next = this.waiters.shift();
    if (next !== undefined) next();
    else this.held = false;
  }

  /** Runs `fn` holding the lock, for the whole of `fn` (sync or async). */
  async run<T>(fn: () => T | Promise<T>): Promise<T> {
    await this.lock();
    try {
      return await fn();
    } finally {
      this.unlock();
    }
  }
}
