import fs from 'node:fs';
import { describe, expect, test } from 'vitest';
import { encodeFrame } from '../../src/storage/frame.js';
import { appendRange, newId, summary, useStorageFixture } from './helpers.js';

/**
 * A last log frame whose checksum holds but whose payload does not decode is an
 * acknowledged change that cannot be read. The listing must not fall back to the older
 * snapshot summary (that would hide the change): the context is reported as unreadable,
 * as a full load reports it corrupt.
 */
const fixture = useStorageFixture();

describe('scan with an undecodable last log frame', () => {
  test('reports the context as unreadable, never an older summary', () => {
    const { storage, warnings } = fixture.open({ fsync: false });
    const id = newId();
    storage.create(id, {}, summary(id, 0));
    appendRange(storage, id, 1, 3);
    // A map announcing one entry and ending there: checksummed, but not a value.
    fs.appendFileSync(fixture.logPath(id), encodeFrame(Buffer.from([0x81])));
    const before = fs.readFileSync(fixture.logPath(id));

    const scan = storage.scan();
    expect(scan.summaries).toEqual([]);
    expect(scan.unreadable).toEqual([{ id, reason: expect.stringMatching(/undecodable/) }]);
    expect(warnings.map((w) => w.msg)).toContain(
      `storage: context ${id}: unreadable log, listed as corrupt`,
    );
    expect(() => storage.load(id)).toThrow(/undecodable/);
    expect(fs.readFileSync(fixture.logPath(id)).equals(before)).toBe(true);
  });
});
