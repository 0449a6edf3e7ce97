import fs from 'node:fs';
import { crc32 } from 'node:zlib';
import { decode, encode, isRecord } from './codec.js';
import { errnoCode, StorageCorruptError } from './errors.js';
import { type BadFrame, encodeFrame, FRAME_HEADER_BYTES, scanFrames } from './frame.js';
import { openIfExists, readAt } from './fs-io.js';
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
 * Opens the log for appending (O_APPEND: every write lands at the current end of file,
 * whichever fd truncated it last). Returns null when the log does not exist and `create` is
 * false.
 */
export function openLogForAppend(file: string, create: boolean): number | null {
  const flags = fs.constants.O_WRONLY | fs.constants.O_APPEND | (create ? fs.constants.O_CREAT : 0);
  try {
    return fs.openSync(file, flags, 0o644);
  } catch (err) {
    if (!create && errnoCode(err) === 'ENOENT') return null;
    throw err;
  }
}

/**
 * Writes one frame at the end of the log open in `fd` (see openLogForAppend), then
 * fdatasyncs it when `fsync`. On failure the log is cut back by what this call wrote, so a
 * partial frame never precedes later ones. The caller serialises appends to one log (the
 * write lock), so the file's length is only ever changed by this call meanwhile.
 */
export function appendFrameTo(fd: number, frame: Buffer, fsync: boolean): void {
  let written = 0;
  try {
    while (written < frame.length) {
      written += fs.writeSync(fd, frame, written, frame.length - written);
    }
    if (fsync) fs.fdatasyncSync(fd);
  } catch (err) {
    try {
      if (written > 0) fs.ftruncateSync(fd, fs.fstatSync(fd).size - written);
    } catch {
      // The original error matters more; load() will judge what is left.
    }
    throw err;
  }
}

/** Cuts the log open in `fd` to `length` bytes if it is longer, and syncs that. */
export function cutOpenLog(fd: number, length: number, fsync: boolean): void {
  if (fs.fstatSync(fd).size <= length) return;
  fs.ftruncateSync(fd, length);
  if (fsync) fs.fdatasyncSync(fd);
}

/** Empties the log open in `fd` and makes that durable. */
export function truncateOpenLog(fd: number, fsync: boolean): void {
  fs.ftruncateSync(fd, 0);
  if (fsync) fs.fsyncSync(fd);
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
/** Tail windows tried, smallest first, before falling back to walking the whole log. */
const TAIL_WINDOWS = [8 * 1024, 256 * 1024];

/**
 * The last log record whose checksum holds, or null (no log, or no valid frame). Never
 * modifies the file. `counter.bytesRead` is increased by the bytes read.
 *
 * Fast path (an intact log, the normal case): read a small window at the end of the file
 * and find, from the end backwards, the offset at which a frame starts that ends exactly
 * at end of file, with a matching checksum and a payload that decodes as a record of this
 * context. The cost is that window, whatever the log's length. A frame ending at EOF whose
 * length and crc32 both match by accident is a 2^-32 event per candidate offset.
 *
 * Slow path (a torn tail, or a last frame larger than the windows): walk the frame headers
 * from the start through a small read window, then read only the final payload(s).
 */
export function readLastLogRecord(
  file: string,
  id: string,
  counter: { bytesRead: number } = { bytesRead: 0 },
): LogRecord | null {
  const fd = openIfExists(file, 'r');
  if (fd === null) return null;
  try {
    const size = fs.fstatSync(fd).size;
    for (const windowBytes of TAIL_WINDOWS) {
      const found = lastFrameInTail(fd, size, Math.min(size, windowBytes), id, file, counter);
      if (found !== null) return found;
      if (windowBytes >= size) break;
    }
    return walkToLastRecord(fd, size, id, file, counter);
  } finally {
    fs.closeSync(fd);
  }
}

function lastFrameInTail(
  fd: number,
  size: number,
  windowBytes: number,
  id: string,
  file: string,
  counter: { bytesRead: number },
): LogRecord | null {
  if (windowBytes <= FRAME_HEADER_BYTES) return null;
  const tail = Buffer.alloc(windowBytes);
  const got = readAt(fd, tail, size - windowBytes);
  counter.bytesRead += got;
  if (got < windowBytes) return null;
  for (let at = windowBytes - FRAME_HEADER_BYTES - 1; at >= 0; at--) {
    const length = tail.readUInt32LE(at);
    if (length === 0 || at + FRAME_HEADER_BYTES + length !== windowBytes) continue;
    const payload = tail.subarray(at + FRAME_HEADER_BYTES);
    if (crc32(payload) !== tail.readUInt32LE(at + 4)) continue;
    try {
      const record = decodeLogPayload(payload, size - windowBytes + at, corruptFactory(id, file));
      if (record.summary.id === id) return record;
    } catch {
      // Not a record after all (bytes inside a payload): keep looking.
    }
  }
  return null;
}

function walkToLastRecord(
  fd: number,
  size: number,
  id: string,
  file: string,
  counter: { bytesRead: number },
): LogRecord | null {
  const frames: { offset: number; length: number; checksum: number }[] = [];
  const window = Buffer.alloc(HEADER_WINDOW_BYTES);
  let windowStart = 0;
  let windowLength = 0;
  let offset = 0;
  while (offset + FRAME_HEADER_BYTES <= size) {
    if (offset + FRAME_HEADER_BYTES > windowStart + windowLength || offset < windowStart) {
      windowStart = offset;
      windowLength = readAt(fd, window, offset);
      counter.bytesRead += windowLength;
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
    const got = readAt(fd, payload, frame.offset + FRAME_HEADER_BYTES);
    counter.bytesRead += got;
    if (got < frame.length) continue;
    // A failing checksum here is normally a torn tail; fall back to the frame before.
    if (crc32(payload) !== frame.checksum) continue;
    return decodeLogPayload(payload, frame.offset, corruptFactory(id, file));
  }
  return null;
}
