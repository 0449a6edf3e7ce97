import fs from 'node:fs';
import { crc32 } from 'node:zlib';
import { decode, encode, isRecord } from './codec.js';
import { errnoCode, StorageCorruptError } from './errors.js';
import { type BadFrame, encodeFrame, FRAME_HEADER_BYTES, scanFrames } from './frame.js';
import { openIfExists, readAt, writeAll } from './fs-io.js';
import type { ContextSummary } from './types.js';

/**
 * `<id>.log`: append-only frames (see frame.ts), payload msgpack `{ v, op, s }` = version,
 * opaque op, and the context summary after the op.
 */

export interface LogRecord {
  version: number;
  op: unknown;
  summary: ContextSummary;
}

export function encodeLogFrame(version: number, op: unknown, summary: ContextSummary): Buffer {
  return encodeFrame(encode({ v: version, op, s: summary }));
}

type Corrupt = (reason: string, cause?: unknown) => StorageCorruptError;

function corruptFactory(id: string, file: string): Corrupt {
  return (reason, cause) => new StorageCorruptError(id, file, `log: ${reason}`, { cause });
}

function decodeLogPayload(payload: Buffer, offset: number, corrupt: Corrupt): LogRecord {
  let value: unknown;
  try {
    value = decode(payload);
  } catch (err) {
    throw corrupt(`undecodable payload in frame at offset ${offset}`, err);
  }
  if (!isRecord(value) || typeof value.v !== 'number' || !isRecord(value.s)) {
    throw corrupt(`malformed payload in frame at offset ${offset}`);
  }
  return { version: value.v, op: value.op, summary: value.s as unknown as ContextSummary };
}

export interface ParsedLog {
  records: LogRecord[];
  /** Bytes of valid frames; the file should be cut to this length when `torn` is set. */
  goodEnd: number;
  /** A torn final frame (a crash mid-append) to drop, or null. */
  torn: BadFrame | null;
}

/** Parses a whole log. Throws StorageCorruptError for anything but a torn final frame. */
export function parseLog(buf: Buffer, id: string, file: string): ParsedLog {
  const corrupt = corruptFactory(id, file);
  const scan = scanFrames(buf);
  if (scan.bad && !scan.bad.torn) throw corrupt(scan.bad.reason);
  const records = scan.frames.map((frame) =>
    decodeLogPayload(frame.payload, frame.offset, corrupt),
  );
  return { records, goodEnd: scan.goodEnd, torn: scan.bad };
}

/**
 * Writes one frame at the end of the log with a single write, then fdatasyncs it. On failure
 * the log is cut back to its previous length, so a partial frame never precedes later ones.
 * Returns false, writing nothing, when the log does not exist and `create` is false.
 */
export function appendFrame(
  file: string,
  frame: Buffer,
  options: { fsync: boolean; create: boolean },
): boolean {
  let fd: number;
  try {
    const flags = fs.constants.O_WRONLY | (options.create ? fs.constants.O_CREAT : 0);
    fd = fs.openSync(file, flags, 0o644);
  } catch (err) {
    if (!options.create && errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
  try {
    const end = fs.fstatSync(fd).size;
    try {
      writeAll(fd, [frame], end);
      if (options.fsync) fs.fdatasyncSync(fd);
    } catch (err) {
      try {
        fs.ftruncateSync(fd, end);
      } catch {
        // The original error matters more; load() will judge what is left.
      }
      throw err;
    }
  } finally {
    fs.closeSync(fd);
  }
  return true;
}

/** Cuts the log to `length` bytes (if it exists) and makes that durable. */
export function truncateLog(file: string, length: number, fsync: boolean): void {
  const fd = openIfExists(file, 'r+');
  if (fd === null) return;
  try {
    if (fs.fstatSync(fd).size === length) return;
    fs.ftruncateSync(fd, length);
    if (fsync) fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

const HEADER_WINDOW_BYTES = 64 * 1024;

/**
 * The last log record whose checksum holds, or null (no log, or no valid frame). Walks the
 * frame headers through a small read window and reads only the final payload(s), so the
 * cost does not depend on payload sizes. Never modifies the file.
 */
export function readLastLogRecord(file: string, id: string): LogRecord | null {
  const fd = openIfExists(file, 'r');
  if (fd === null) return null;
  try {
    const size = fs.fstatSync(fd).size;
    const frames: { offset: number; length: number; checksum: number }[] = [];
    const window = Buffer.alloc(HEADER_WINDOW_BYTES);
    let windowStart = 0;
    let windowLength = 0;
    let offset = 0;
    while (offset + FRAME_HEADER_BYTES <= size) {
      if (offset + FRAME_HEADER_BYTES > windowStart + windowLength || offset < windowStart) {
        windowStart = offset;
        windowLength = readAt(fd, window, offset);
        if (windowLength < FRAME_HEADER_BYTES) break;
      }
      const length = window.readUInt32LE(offset - windowStart);
      const checksum = window.readUInt32LE(offset - windowStart + 4);
      if (length === 0 || offset + FRAME_HEADER_BYTES + length > size) break;
      frames.push({ offset, length, checksum });
      offset += FRAME_HEADER_BYTES + length;
    }
    for (let i = frames.length - 1; i >= 0; i--) {
      const frame = frames[i]!;
      const payload = Buffer.alloc(frame.length);
      if (readAt(fd, payload, frame.offset + FRAME_HEADER_BYTES) < frame.length) continue;
      // A failing checksum here is normally a torn tail; fall back to the frame before.
      if (crc32(payload) !== frame.checksum) continue;
      return decodeLogPayload(payload, frame.offset, corruptFactory(id, file));
    }
    return null;
  } finally {
    fs.closeSync(fd);
  }
}
