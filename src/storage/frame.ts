import { crc32 } from 'node:zlib';

/**
 * Checksummed framing shared by snapshot and log files:
 * `[u32 LE payload length][u32 LE crc32(payload)][payload]`. Empty payloads are invalid (an
 * all-zero region must never parse as a frame).
 */
export const FRAME_HEADER_BYTES = 8;
const MAX_PAYLOAD_BYTES = 0xffff_ffff;

export function frameHeader(payload: Uint8Array): Buffer {
  if (payload.length === 0 || payload.length > MAX_PAYLOAD_BYTES) {
    throw new RangeError(`frame payload length out of range: ${payload.length}`);
  }
  const header = Buffer.alloc(FRAME_HEADER_BYTES);
  header.writeUInt32LE(payload.length, 0);
  header.writeUInt32LE(crc32(payload), 4);
  return header;
}

/** Header and payload in one buffer, so a frame goes to disk in a single write. */
export function encodeFrame(payload: Uint8Array): Buffer {
  return Buffer.concat([frameHeader(payload), payload]);
}

export type FrameRead =
  | { ok: true; payload: Buffer; end: number }
  /** `end` is where the bad frame claims to end, or null when it runs past the buffer. */
  | { ok: false; reason: string; end: number | null };

/** Validates the frame starting at `offset` (payload is a view into `buf`). */
export function readFrameAt(buf: Buffer, offset: number): FrameRead {
  if (offset + FRAME_HEADER_BYTES > buf.length) {
    return { ok: false, reason: 'incomplete frame header', end: null };
  }
  const length = buf.readUInt32LE(offset);
  const checksum = buf.readUInt32LE(offset + 4);
  const end = offset + FRAME_HEADER_BYTES + length;
  if (end > buf.length) {
    return { ok: false, reason: `frame length ${length} runs past end of data`, end: null };
  }
  if (length === 0) return { ok: false, reason: 'zero-length frame', end };
  const payload = buf.subarray(offset + FRAME_HEADER_BYTES, end);
  if (crc32(payload) !== checksum) return { ok: false, reason: 'checksum mismatch', end };
  return { ok: true, payload, end };
}

export interface ScannedFrame {
  offset: number;
  payload: Buffer;
}

export interface BadFrame {
  offset: number;
  reason: string;
  /**
   * True when the bad frame is an unacknowledged write cut short by a crash: nothing valid
   * follows it, and it is the file's last frame (reaches or runs past the end) or the rest of
   * the file is zero-filled. False means corruption.
   */
  torn: boolean;
}

export interface FrameScan {
  frames: ScannedFrame[];
  /** Offset just past the last valid frame. */
  goodEnd: number;
  bad: BadFrame | null;
}

/** Reads consecutive frames from `start` to the end of `buf`, stopping at the first bad one. */
export function scanFrames(buf: Buffer, start = 0): FrameScan {
  const frames: ScannedFrame[] = [];
  let offset = start;
  while (offset < buf.length) {
    const read = readFrameAt(buf, offset);
    if (!read.ok) {
      return { frames, goodEnd: offset, bad: classifyBadFrame(buf, offset, read) };
    }
    frames.push({ offset, payload: read.payload });
    offset = read.end;
  }
  return { frames, goodEnd: offset, bad: null };
}

function classifyBadFrame(
  buf: Buffer,
  offset: number,
  read: { reason: string; end: number | null },
): BadFrame {
  const next = findValidFrameFrom(buf, offset + 1);
  if (next >= 0) {
    return {
      offset,
      reason: `${read.reason} at offset ${offset}, followed by a valid frame at offset ${next}`,
      torn: false,
    };
  }
  const last = read.end === null || read.end === buf.length;
  const torn = last || isZeroFilled(buf, offset);
  const where = torn ? 'in the last frame' : 'followed by further data';
  return { offset, reason: `${read.reason} at offset ${offset} ${where}`, torn };
}

/**
 * Offset of the first position at or after `from` holding a frame whose checksum matches,
 * or -1. Used only on the error path, to tell a torn tail from a damaged frame (for
 * instance a flipped length field) that has acknowledged frames after it.
 */
export function findValidFrameFrom(buf: Buffer, from: number): number {
  for (let offset = from; offset + FRAME_HEADER_BYTES < buf.length; offset++) {
    const length = buf.readUInt32LE(offset);
    const end = offset + FRAME_HEADER_BYTES + length;
    if (length === 0 || end > buf.length) continue;
    const payload = buf.subarray(offset + FRAME_HEADER_BYTES, end);
    if (crc32(payload) === buf.readUInt32LE(offset + 4)) return offset;
  }
  return -1;
}

function isZeroFilled(buf: Buffer, from: number): boolean {
  for (let i = from; i < buf.length; i++) if (buf[i] !== 0) return false;
  return true;
}
