import fs from 'node:fs';
import { errnoCode } from './errors.js';

/** Small synchronous fs helpers. fs errors are thrown as they are. */

/**
 * Writes every byte of `chunks`, looping over short writes. With `position` the bytes go
 * there (pwrite); without, at the fd's current offset.
 */
export function writeAll(fd: number, chunks: readonly Uint8Array[], position?: number): number {
  let total = 0;
  for (const chunk of chunks) {
    let done = 0;
    while (done < chunk.length) {
      const at = position === undefined ? null : position + total + done;
      done += fs.writeSync(fd, chunk, done, chunk.length - done, at);
    }
    total += done;
  }
  return total;
}

/** Reads into `buf[offset..]` from file position `position` until `buf` is full or EOF. */
export function readAt(fd: number, buf: Buffer, position: number, offset = 0): number {
  let done = 0;
  while (offset + done < buf.length) {
    const n = fs.readSync(fd, buf, offset + done, buf.length - offset - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/** Makes creations, renames and unlinks in `dir` durable. */
export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } catch (err) {
    // Some platforms/file systems cannot fsync a directory; there is nothing more to do.
    const code = errnoCode(err);
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EPERM' && code !== 'ENOTSUP') {
      throw err;
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** `op()`, or `missing` if the file it works on does not exist (ENOENT). */
function unlessMissing<T, M>(op: () => T, missing: M): T | M {
  try {
    return op();
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return missing;
    throw err;
  }
}

/** Reads a whole file, or returns null if it does not exist. */
export function readFileIfExists(file: string): Buffer | null {
  return unlessMissing(() => fs.readFileSync(file), null);
}

/** Opens a file, or returns null if it does not exist. */
export function openIfExists(file: string, flags: fs.OpenMode): number | null {
  return unlessMissing(() => fs.openSync(file, flags), null);
}

/** Returns whether the file existed. */
export function unlinkIfExists(file: string): boolean {
  return unlessMissing(() => {
    fs.unlinkSync(file);
    return true;
  }, false);
}

export function unlinkQuietly(file: string): void {
  try {
    fs.unlinkSync(file);
  } catch {
    // Already gone, or not ours to remove; a stray temp file is harmless.
  }
}
