import { MessageChannel, type MessagePort, parentPort } from 'node:worker_threads';
import { currentLockOwnerId } from './thread-id.js';

/**
 * Knowing when a worker thread is gone, from the thread that must recover its locks.
 *
 * The Worker 'exit' event says it, but a pool (piscina) does not hand out its Workers, and
 * its 'workerDestroy' event fires when `terminate()` is *called*, before the thread has
 * stopped (recovering then could race with the thread's last instructions; and a destroyed
 * Worker's `threadId` reads -1). Instead, each worker announces itself once with a
 * MessagePort whose other end it keeps: the port is closed when the thread's environment is
 * torn down, after its JavaScript has stopped for good — whether it returned, threw,
 * called `process.exit` or was terminated (even while parked in `Atomics.wait` or spinning).
 * Piscina forwards the announcement as a pool 'message' event.
 */

const TAG = 'chat-context-server/lock-owner';

export interface LockOwnerAnnouncement {
  kind: typeof TAG;
  /** `threadId + 1` of the announcing thread: the key of its lock-registry record. */
  ownerId: number;
  port: MessagePort;
}

let kept: MessagePort | null = null;

/**
 * Worker side, once at start-up: posts this thread's lock-owner id and a port that closes
 * when the thread ends. Does not keep the thread alive.
 */
export function announceLockOwner(
  port: { postMessage(value: unknown, transfer: MessagePort[]): void } | null = parentPort,
): void {
  if (port === null) throw new Error('announceLockOwner: not in a worker thread');
  if (kept !== null) return;
  const channel = new MessageChannel();
  kept = channel.port1;
  kept.unref();
  const message: LockOwnerAnnouncement = {
    kind: TAG,
    ownerId: currentLockOwnerId(),
    port: channel.port2,
  };
  port.postMessage(message, [channel.port2]);
}

/**
 * Supervisor side: if `message` is an announcement, arranges for `onExit(ownerId)` to be
 * called once that thread has stopped, and returns true; otherwise returns false.
 */
export function watchLockOwner(message: unknown, onExit: (ownerId: number) => void): boolean {
  const m = message as Partial<LockOwnerAnnouncement> | null;
  if (m === null || typeof m !== 'object' || m.kind !== TAG) return false;
  const { ownerId, port } = m as LockOwnerAnnouncement;
  port.once('close', () => onExit(ownerId));
  port.unref();
  return true;
}
