import fs from 'node:fs';
import { describe, expect, test } from 'vitest';
import { appendRange, flipByte, newId, summary, useStorageFixture } from './helpers.js';

/**
 * FileStorage.scan(), which builds the listing at start-up: it reads each snapshot's header
 * frame and the log's last frame only, so its cost does not grow with the log or the
 * snapshot; a context whose header is unreadable is reported (it exists, but is corrupt).
 */
const fixture = useStorageFixture();

const op = (n: number, bytes: number) => ({ kind: 'message', n, text: 'z'.repeat(bytes) });

describe('scan', () => {
  test('reads the same bytes for a 10-frame and a 900-frame log, and a huge snapshot', () => {
    const { storage } = fixture.open({ fsync: false });
    const short = newId();
    const long = newId();
    storage.create(short, { small: true }, summary(short, 0));
    storage.create(long, { big: 'q'.repeat(4 * 1024 * 1024) }, summary(long, 0));
    for (let v = 1; v <= 10; v++) storage.append(short, v, op(v, 1000), summary(short, v));
    for (let v = 1; v <= 900; v++) storage.append(long, v, op(v, 1000), summary(long, v));

    const both = storage.scan();
    expect(new Map(both.summaries.map((s) => [s.id, s.version]))).toEqual(
      new Map([
        [short, 10],
        [long, 900],
      ]),
    );
    fs.renameSync(fixture.snapshotPath(long), `${fixture.snapshotPath(long)}.away`);
    const shortOnly = storage.scan().bytesRead;
    expect(both.bytesRead).toBe(2 * shortOnly);
    expect(shortOnly).toBeLessThan(10 * 1024); // one 8 KiB tail window plus the header
    expect(fs.statSync(fixture.logPath(long)).size).toBeGreaterThan(900 * 1000);
  });

  test('the tail read agrees with a full load for frames of every size', () => {
    const { storage } = fixture.open({ fsync: false });
    const ids: string[] = [];
    // Last frames from a few bytes to past the largest tail window (256 KiB): the walk
    // from the start answers those.
    for (const size of [0, 1, 100, 5_000, 8_170, 8_200, 100_000, 300_000]) {
      const id = newId();
      ids.push(id);
      storage.create(id, {}, summary(id, 0));
      appendRange(storage, id, 1, 3);
      storage.append(id, 4, op(4, size), summary(id, 4, { message_count: size }));
    }
    const listed = new Map(storage.scan().summaries.map((s) => [s.id, s]));
    for (const id of ids) expect(listed.get(id)).toEqual(storage.load(id)!.summary);
  });

  test('a torn tail falls back to the last good frame, like load does', () => {
    const { storage } = fixture.open({ fsync: false });
    const id = newId();
    storage.create(id, {}, summary(id, 0));
    appendRange(storage, id, 1, 50);
    const file = fixture.logPath(id);
    fs.truncateSync(file, fs.statSync(file).size - 5);
    const before = fs.readFileSync(file);
    expect(storage.scan().summaries).toEqual([summary(id, 49)]);
    expect(fs.readFileSync(file).equals(before)).toBe(true); // scan never writes
    expect(storage.load(id)!.summary).toEqual(summary(id, 49));
  });

  test('an unreadable snapshot header is reported as such, with the file untouched', () => {
    const { storage, warnings } = fixture.open({ fsync: false });
    const bad = newId();
    const good = newId();
    storage.create(bad, {}, summary(bad, 0));
    storage.create(good, {}, summary(good, 0));
    const file = fixture.snapshotPath(bad);
    flipByte(file, 14);
    const before = fs.readFileSync(file);
    const scan = storage.scan();
    expect(scan.summaries).toEqual([summary(good, 0)]);
    expect(scan.unreadable).toHaveLength(1);
    expect(scan.unreadable[0]!.id).toBe(bad);
    expect(scan.unreadable[0]!.reason).toMatch(/checksum/);
    expect(warnings.some((w) => w.msg.includes(bad))).toBe(true);
    expect(fs.readFileSync(file).equals(before)).toBe(true);
  });

  test('storage counts the bytes it appends, snapshots, compacts and loads', () => {
    const { storage } = fixture.open({ fsync: false });
    const id = newId();
    storage.create(id, { s: 1 }, summary(id, 0));
    const snap = fs.statSync(fixture.snapshotPath(id)).size;
    const sizes = appendRange(storage, id, 1, 4);
    storage.compact(id, { s: 2 }, summary(id, 4));
    const compacted = fs.statSync(fixture.snapshotPath(id)).size;
    appendRange(storage, id, 5, 5);
    const log = fs.statSync(fixture.logPath(id)).size;
    storage.load(id);
    expect(storage.stats).toEqual({
      appends: 5,
      appendBytes: sizes.reduce((a, b) => a + b, 0) + log,
      logSyncs: 0, // fsync off: no log is synced
      snapshotBytes: snap,
      compactions: 1,
      compactBytes: compacted,
      compactionFailures: 0,
      loadBytes: compacted + log,
      tornTails: 0,
    });
  });
});
