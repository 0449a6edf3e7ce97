import fs from 'node:fs';
import path from 'node:path';
import { errnoCode, StorageError } from './errors.js';

/** The lock file's name in the directory it guards. */
export const LOCK_FILE = 'context-store.lock';

/**
 * An exclusive claim on a data directory by one process: a file created with O_EXCL that
 * holds the owner's pid. A file left by a process that is gone (its pid no longer runs) is
 * taken over. Best effort against a crash, exact against a second live process on the same
 * machine (the only case it is for: it does not work across machines sharing a mount).
 */
export class DirLock {
  private constructor(private readonly file: string) {}

  /** Takes the lock on `dir`, or throws a StorageError naming the process that holds it. */
  static take(dir: string): DirLock {
    const file = path.join(dir, LOCK_FILE);
    for (let attempt = 0; attempt < 2; attempt++) {
      let fd: number;
      try {
        fd = fs.openSync(file, 'wx');
      } catch (err) {
        if (errnoCode(err) !== 'EEXIST') {
          throw new StorageError(`lock ${file}: ${String(err)}`, { cause: err });
        }
        const holder = readPid(file);
        if (holder === undefined) {
          throw new StorageError(
            `${file} holds no pid: remove it if no process uses ${dir}; one process owns a data directory`,
          );
        }
        if (holder === process.pid || isRunning(holder)) {
          throw new StorageError(
            `${dir} is in use by process ${holder} (${file}); one process owns a data directory`,
          );
        }
        fs.rmSync(file, { force: true }); // left by a process that is gone
        continue;
      }
      try {
        fs.writeSync(fd, `${process.pid}\n`);
      } finally {
        fs.closeSync(fd);
      }
      return new DirLock(file);
    }
    throw new StorageError(`lock ${file}: taken by another process while being taken over`);
  }

  /** Releases the lock (once; later calls do nothing). */
  release(): void {
    if (readPid(this.file) === process.pid) fs.rmSync(this.file, { force: true });
  }
}

/** The pid in a lock file; undefined if unreadable or not a pid (its writer died between). */
function readPid(file: string): number | undefined {
  try {
    const pid = Number.parseInt(fs.readFileSync(file, 'utf8'), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoCode(err) === 'EPERM'; // it runs, as another user
  }
}
