import fs from 'node:fs';
import { decode, encode, isRecord } from './codec.js';
import { StorageCorruptError } from './errors.js';
import { FRAME_HEADER_BYTES, frameHeader, readFrameAt } from './frame.js';
import { openIfExists, readAt } from './fs-io.js';
import type { ContextSummary } from './types.js';

/**
 * `<id>.snap`: magic `CCS1`, a header frame with msgpack `{ version, summary }`, then a frame
 * with the msgpack snapshot, and nothing after it. The small header frame comes first so
 * summaries can be listed without reading snapshots.
 */
export const SNAPSHOT_MAGIC = Buffer.from('CCS1', 'latin1');
const PREFIX_BYTES = SNAPSHOT_MAGIC.length + FRAME_HEADER_BYTES;

export interface SnapshotHeader {
  version: number;
  summary: ContextSummary;
}

/** File content as chunks, so a large snapshot is not copied once more to concatenate. */
export function encodeSnapshotFile(summary: ContextSummary, snapshot: unknown): Uint8Array[] {
  const header = encode({ version: summary.version, summary });
  const body = encode(snapshot);
  return [SNAPSHOT_MAGIC, frameHeader(header), header, frameHeader(body), body];
}

export function parseSnapshotFile(
  buf: Buffer,
  id: string,
  file: string,
): { header: SnapshotHeader; snapshot: unknown } {
  const corrupt = (reason: string, cause?: unknown) =>
    new StorageCorruptError(id, file, `snapshot: ${reason}`, { cause });
  if (buf.length < SNAPSHOT_MAGIC.length || !buf.subarray(0, 4).equals(SNAPSHOT_MAGIC)) {
    throw corrupt('bad magic');
  }
  const first = readFrameAt(buf, SNAPSHOT_MAGIC.length);
  if (!first.ok) throw corrupt(`header frame: ${first.reason}`);
  const second = readFrameAt(buf, first.end);
  if (!second.ok) throw corrupt(`snapshot frame: ${second.reason}`);
  if (second.end !== buf.length) throw corrupt(`${buf.length - second.end} trailing bytes`);
  const header = decodeHeader(first.payload, corrupt);
  let snapshot: unknown;
  try {
    snapshot = decode(second.payload);
  } catch (err) {
    throw corrupt('undecodable snapshot payload', err);
  }
  return { header, snapshot };
}

/**
 * Reads only the magic and the header frame. Returns null when the file does not exist;
 * throws StorageCorruptError on a bad header and fs errors as they are.
 */
export function readSnapshotHeader(
  file: string,
  id: string,
  counter?: { bytesRead: number },
): SnapshotHeader | null {
  const fd = openIfExists(file, 'r');
  if (fd === null) return null;
  try {
    const corrupt = (reason: string, cause?: unknown) =>
      new StorageCorruptError(id, file, `snapshot: ${reason}`, { cause });
    const size = fs.fstatSync(fd).size;
    const prefix = Buffer.alloc(PREFIX_BYTES);
    const prefixRead = readAt(fd, prefix, 0);
    if (counter) counter.bytesRead += prefixRead;
    if (prefixRead < PREFIX_BYTES) throw corrupt('file too short');
    if (!prefix.subarray(0, 4).equals(SNAPSHOT_MAGIC)) throw corrupt('bad magic');
    const length = prefix.readUInt32LE(SNAPSHOT_MAGIC.length);
    if (length === 0 || PREFIX_BYTES + length > size) {
      throw corrupt(`header frame: bad length ${length}`);
    }
    // Re-frame header and payload together so readFrameAt performs the checksum test.
    const frame = Buffer.alloc(FRAME_HEADER_BYTES + length);
    prefix.copy(frame, 0, SNAPSHOT_MAGIC.length);
    const frameRead = readAt(fd, frame, PREFIX_BYTES, FRAME_HEADER_BYTES);
    if (counter) counter.bytesRead += frameRead;
    if (frameRead < length) {
      throw corrupt('header frame: file too short');
    }
    const read = readFrameAt(frame, 0);
    if (!read.ok) throw corrupt(`header frame: ${read.reason}`);
    return decodeHeader(read.payload, corrupt);
  } finally {
    fs.closeSync(fd);
  }
}

function decodeHeader(
  payload: Buffer,
  corrupt: (reason: string, cause?: unknown) => StorageCorruptError,
): SnapshotHeader {
  let value: unknown;
  try {
    value = decode(payload);
  } catch (err) {
    throw corrupt('undecodable header payload', err);
  }
  if (!isRecord(value) || typeof value.version !== 'number' || !isRecord(value.summary)) {
    throw corrupt('malformed header payload');
  }
  return { version: value.version, summary: value.summary as unknown as ContextSummary };
}
