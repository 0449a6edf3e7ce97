import fs from 'node:fs';
import path from 'node:path';

/**
 * Fault injection for durability tests (FAULT_INJECTION with FAULT_SYNC_DELAY_MS only):
 * every log sync first sleeps, widening the window between a frame's write(2) and its
 * fdatasync, and each sync that returned appends the newest version it covered to
 * `<DATA_DIR>/fault-syncs/<id>` (one decimal per line). After a SIGKILL the page cache
 * still holds every written frame; a test emulates a power loss instead by cutting each
 * log back to its frames of versions ≤ the largest recorded (the snapshot is durable by
 * itself), i.e. to what was fdatasynced.
 */
export class FaultSyncs {
  private readonly dir: string;
  private readonly sleeper = new Int32Array(new SharedArrayBuffer(4));

  constructor(
    dataDir: string,
    private readonly delayMs: number,
  ) {
    this.dir = path.join(dataDir, 'fault-syncs');
    fs.mkdirSync(this.dir, { recursive: true });
  }

  delay(): void {
    Atomics.wait(this.sleeper, 0, 0, this.delayMs);
  }

  /** Called after an fdatasync returned: `version` is durable. */
  record(id: string, version: number): void {
    fs.appendFileSync(path.join(this.dir, id), `${version}\n`);
  }
}

/** The newest version recorded durable for `id` (0 if none). */
export function recordedDurableVersion(dataDir: string, id: string): number {
  let text: string;
  try {
    text = fs.readFileSync(path.join(dataDir, 'fault-syncs', id), 'utf8');
  } catch {
    return 0;
  }
  let max = 0;
  for (const line of text.split('\n')) if (line !== '') max = Math.max(max, Number(line));
  return max;
}
