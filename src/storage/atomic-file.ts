import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { threadId } from 'node:worker_threads';
import { errnoCode } from './errors.js';
import { fsyncDir, unlinkQuietly, writeAll } from './fs-io.js';

/**
 * Crash-safe whole-file replacement: write a unique temp file in the target's directory,
 * fsync it, rename (or hard-link, for create-only) it over the target, fsync the directory.
 * A crash leaves either the old file or the new one, plus at most a stray temp file.
 */

const TEMP_MARKER = '.tmp-';
const TEMP_NAME = /\.tmp-(\d+)-\d+-[0-9a-f]+$/;
/** No atomic write takes this long; older temp files are leftovers whatever their pid. */
const TEMP_MAX_AGE_MS = 60 * 60 * 1000;

export interface AtomicWriteOptions {
  fsync: boolean;
  /** Fail (return false) instead of replacing an existing target. */
  exclusive?: boolean;
}

export function isTempFileName(name: string): boolean {
  return name.includes(TEMP_MARKER);
}

/** `<target>.tmp-<pid>-<threadId>-<random>`: unique across processes and worker threads. */
export function tempPathFor(target: string): string {
  return `${target}${TEMP_MARKER}${process.pid}-${threadId}-${randomBytes(6).toString('hex')}`;
}

/**
 * Atomically makes `target` hold `chunks`. Returns false only with `exclusive` when the
 * target already exists (nothing is changed then). fs errors are thrown as they are.
 */
export function writeFileAtomic(
  target: string,
  chunks: readonly Uint8Array[],
  options: AtomicWriteOptions,
): boolean {
  const temp = tempPathFor(target);
  let placed = false;
  try {
    const fd = fs.openSync(temp, 'wx', 0o644);
    try {
      writeAll(fd, chunks);
      if (options.fsync) fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    if (options.exclusive) {
      if (!linkExclusive(temp, target)) return false;
    } else {
      fs.renameSync(temp, target);
      placed = true;
    }
  } finally {
    if (!placed) unlinkQuietly(temp);
  }
  if (options.fsync) fsyncDir(path.dirname(target));
  return true;
}

/** link(2) fails with EEXIST atomically, unlike an exists-check followed by rename. */
function linkExclusive(temp: string, target: string): boolean {
  try {
    fs.linkSync(temp, target);
    return true;
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'EEXIST') return false;
    // File systems without hard links: fall back to check-then-rename. Callers hold the
    // context's write lock, so the window is only against misbehaving callers.
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'ENOSYS' || code === 'EXDEV') {
      if (fs.existsSync(target)) return false;
      fs.renameSync(temp, target);
      return true;
    }
    throw err;
  }
}

/**
 * Removes temp files left by crashed writers. Several worker threads (and restarts) share the
 * directory, so a temp file is only removed when its writer cannot still be running: its
 * process is gone, it predates this process, or it is older than any write could take.
 * Returns the names removed.
 */
export function removeStaleTempFiles(dir: string): string[] {
  const processStartMs = Date.now() - process.uptime() * 1000 - 2000;
  const removed: string[] = [];
  for (const name of fs.readdirSync(dir)) {
    if (!isTempFileName(name)) continue;
    const file = path.join(dir, name);
    let mtimeMs: number;
    try {
      mtimeMs = fs.statSync(file).mtimeMs;
    } catch {
      continue;
    }
    const pid = Number(TEMP_NAME.exec(name)?.[1] ?? Number.NaN);
    const stale =
      mtimeMs < processStartMs ||
      Date.now() - mtimeMs > TEMP_MAX_AGE_MS ||
      (Number.isInteger(pid) && pid !== process.pid && !processAlive(pid));
    if (stale) {
      unlinkQuietly(file);
      removed.push(name);
    }
  }
  return removed;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoCode(err) === 'EPERM';
  }
}
