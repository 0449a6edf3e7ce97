import { describe, expect, test } from 'vitest';
import {
  encodeFrame,
  FRAME_HEADER_BYTES,
  readFrameAt,
  scanFrames,
} from '../../src/storage/frame.js';

const frames = [Buffer.from('first'), Buffer.from('second payload'), Buffer.from('3')];
const log = Buffer.concat(frames.map((p) => encodeFrame(p)));
const end1 = FRAME_HEADER_BYTES + 5;
const end2 = end1 + FRAME_HEADER_BYTES + 14;

describe('frames', () => {
  test('encode and scan', () => {
    const scan = scanFrames(log);
    expect(scan.bad).toBeNull();
    expect(scan.goodEnd).toBe(log.length);
    expect(scan.frames.map((f) => f.payload.toString())).toEqual(['first', 'second payload', '3']);
    expect(scan.frames.map((f) => f.offset)).toEqual([0, end1, end2]);
  });

  test('header layout: u32 LE length, u32 LE crc32', () => {
    const frame = encodeFrame(Buffer.from('abc'));
    expect(frame.readUInt32LE(0)).toBe(3);
    expect(frame.readUInt32LE(4)).toBe(0x352441c2); // crc32('abc')
    expect(frame.subarray(8).toString()).toBe('abc');
  });

  test('empty payloads cannot be framed and never parse', () => {
    expect(() => encodeFrame(Buffer.alloc(0))).toThrow(RangeError);
    expect(readFrameAt(Buffer.alloc(8), 0)).toMatchObject({ ok: false });
  });

  test('every truncation of the last frame is a torn tail', () => {
    for (let cut = end2 + 1; cut < log.length; cut++) {
      const scan = scanFrames(log.subarray(0, cut));
      expect(scan.bad?.torn).toBe(true);
      expect(scan.goodEnd).toBe(end2);
      expect(scan.frames).toHaveLength(2);
    }
  });

  test('a damaged frame before valid data is not torn', () => {
    const damaged = Buffer.from(log);
    damaged[end1 + FRAME_HEADER_BYTES] = damaged[end1 + FRAME_HEADER_BYTES]! ^ 1;
    const scan = scanFrames(damaged);
    expect(scan.bad).toMatchObject({ offset: end1, torn: false });
    expect(scan.frames).toHaveLength(1);
  });
});
