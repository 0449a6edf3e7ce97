import type { Logger } from '../log.js';
import { SlotStatus, type SlotTable } from '../shm/slot-table.js';
import { DeadlockDetector } from '../sync/deadlock-detector.js';
import { describeLock, LockKind, lockIndexOf, lockKindOf } from '../sync/lock-ids.js';
import type { LockRegistry } from '../sync/lock-registry.js';
import { releaseAllHeldBy } from '../sync/recovery.js';
import { watchLockOwner } from '../sync/thread-exit.js';

/**
 * The main thread's guard against wedged locks (docs/locking.md):
 *
 * - when a worker thread ends (returned, crashed or terminated — termination skips
 *   `finally`), every lock it held is released; a context slot it held write-locked is
 *   marked poisoned first, so the context is reloaded from storage on its next use;
 * - a deadlock detector scans the lock registry, logs long waits and wait-for cycles, and
 *   breaks a cycle by failing one waiter (its request answers 503).
 *
 * It never blocks: recovery and scans only read shared words, release and notify.
 */
export class LockSupervisor {
  private readonly detector: DeadlockDetector;

  constructor(
    private readonly registry: LockRegistry,
    private readonly slots: SlotTable,
    private readonly log: Logger,
    options: { scanIntervalMs: number; longWaitMs: number },
  ) {
    this.detector = new DeadlockDetector(registry, {
      intervalMs: options.scanIntervalMs,
      longWaitMs: options.longWaitMs,
      logger: (event) => {
        const level = event.level === 'error' ? 'error' : event.level === 'warn' ? 'warn' : 'info';
        log[level]({ lockEvent: event }, event.message);
      },
    });
  }

  start(): void {
    this.detector.start();
  }

  stop(): void {
    this.detector.stop();
  }

  /** Feed it the pool's messages: a worker's lock-owner announcement is watched. */
  onWorkerMessage(message: unknown): void {
    watchLockOwner(message, (ownerId) => this.recover(ownerId));
  }

  private recover(ownerId: number): void {
    const result = releaseAllHeldBy(this.registry, ownerId, {
      poison: (lockId) => {
        if (lockKindOf(lockId) === LockKind.Context) {
          this.slots.setStatus(lockIndexOf(lockId), SlotStatus.Poisoned);
        }
      },
    });
    if (result.released.length > 0 || result.unknown.length > 0) {
      this.log.warn(
        {
          ownerId,
          released: result.released.map((r) => `${describeLock(r.lockId)}:${r.mode}`),
          poisoned: result.writeLocked.map(describeLock),
          unknown: result.unknown,
        },
        'a worker ended holding locks; released them',
      );
    }
  }
}
