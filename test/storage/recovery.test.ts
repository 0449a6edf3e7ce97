import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { encode } from '../../src/storage/codec.js';
import { StorageCorruptError } from '../../src/storage/errors.js';
import { encodeFrame } from '../../src/storage/frame.js';
import { appendRange, flipByte, newId, summary, useStorageFixture } from './helpers.js';

const fixture = useStorageFixture();

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected an error');
}

function expectCorrupt(fn: () => unknown, file: string, id: string): StorageCorruptError {
  const err = catchError(fn);
  expect(err).toBeInstanceOf(StorageCorruptError);
  const corrupt = err as StorageCorruptError;
  expect(corrupt.code).toBe('storage_corrupt');
  expect(corrupt.file).toBe(file);
  expect(corrupt.id).toBe(id);
  expect(corrupt.reason.length).toBeGreaterThan(0);
  return corrupt;
}

describe('compaction crash window', () => {
  test('log ops covered by the snapshot version are not replayed', () => {
    const { storage } = fixture.open();
    const id = newId();
    storage.create(id, { upTo: 0 }, summary(id, 0));
    appendRange(storage, id, 1, 7);
    const log = fs.readFileSync(fixture.logPath(id));
    // Crash after the new snapshot (version 5) was renamed in, before the log was reset.
    storage.compact(id, { upTo: 5 }, summary(id, 5));
    fs.writeFileSync(fixture.logPath(id), log);

    const loaded = storage.load(id)!;
    expect(loaded.snapshot).toEqual({ upTo: 5 });
    expect(loaded.snapshotVersion).toBe(5);
    expect(loaded.ops).toEqual([
      { version: 6, op: { kind: 'message', n: 6 } },
      { version: 7, op: { kind: 'message', n: 7 } },
    ]);
    expect(loaded.summary).toEqual(summary(id, 7));
    expect(loaded.logRecords).toBe(7);
    expect(storage.listSummaries()).toEqual([summary(id, 7)]);
  });

  test('a log entirely covered by the snapshot yields the snapshot summary', () => {
    const { storage } = fixture.open();
    const id = newId();
    storage.create(id, {}, summary(id, 0));
    appendRange(storage, id, 1, 3);
    const log = fs.readFileSync(fixture.logPath(id));
    storage.compact(id, { upTo: 3 }, summary(id, 3, { current_state: 'compacted' }));
    fs.writeFileSync(fixture.logPath(id), log);

    const loaded = storage.load(id)!;
    expect(loaded.ops).toEqual([]);
    expect(loaded.summary).toEqual(summary(id, 3, { current_state: 'compacted' }));
    expect(storage.listSummaries()).toEqual([summary(id, 3, { current_state: 'compacted' })]);
  });
});

describe('torn tail', () => {
  function setup(cut: (file: string, sizes: number[]) => void) {
    const { storage, warnings } = fixture.open();
    const id = newId();
    storage.create(id, {}, summary(id, 0));
    const sizes = appendRange(storage, id, 1, 4);
    const file = fixture.logPath(id);
    cut(file, sizes);
    return { storage, warnings, id, file, sizes };
  }

  const goodLength = (sizes: number[]) => sizes.slice(0, 3).reduce((a, b) => a + b, 0);

  const cases: [string, (file: string, sizes: number[]) => void][] = [
    ['log cut mid-payload', (file) => fs.truncateSync(file, fs.statSync(file).size - 3)],
    ['log cut mid-header', (file, sizes) => fs.truncateSync(file, goodLength(sizes) + 5)],
    ['last payload byte flipped', (file) => flipByte(file, fs.statSync(file).size - 1)],
    ['last checksum flipped', (file, sizes) => flipByte(file, goodLength(sizes) + 4)],
    [
      'unwritten tail reads as zeros',
      (file, sizes) => {
        const bytes = fs.readFileSync(file);
        bytes.fill(0, goodLength(sizes));
        fs.writeFileSync(file, bytes);
      },
    ],
  ];

  test.each(cases)('%s: dropped, the log cut to the last good frame', (_name, cut) => {
    const { storage, warnings, id, file, sizes } = setup(cut);
    const loaded = storage.load(id)!;
    expect(loaded.ops.map((o) => o.version)).toEqual([1, 2, 3]);
    expect(loaded.summary).toEqual(summary(id, 3));
    expect(loaded.logBytes).toBe(goodLength(sizes));
    expect(fs.statSync(file).size).toBe(goodLength(sizes));
    expect(warnings.some((w) => /torn tail/.test(w.msg))).toBe(true);

    storage.append(id, 4, { again: true }, summary(id, 4));
    const reloaded = storage.load(id)!;
    expect(reloaded.ops.map((o) => o.version)).toEqual([1, 2, 3, 4]);
    expect(reloaded.ops[3]!.op).toEqual({ again: true });
    expect(reloaded.summary).toEqual(summary(id, 4));
  });

  test('listSummaries skips a torn tail without modifying the log', () => {
    const { storage, file } = setup((f) => fs.truncateSync(f, fs.statSync(f).size - 3));
    const before = fs.readFileSync(file);
    const [listed] = storage.listSummaries();
    expect(listed!.version).toBe(3);
    expect(fs.readFileSync(file).equals(before)).toBe(true);
  });

  test('listSummaries falls back past a last frame with a bad checksum', () => {
    const { storage } = setup((f) => flipByte(f, fs.statSync(f).size - 1));
    expect(storage.listSummaries().map((s) => s.version)).toEqual([3]);
  });
});

describe('corruption', () => {
  function threeFrameLog() {
    const { storage, warnings } = fixture.open();
    const id = newId();
    const other = newId();
    storage.create(id, {}, summary(id, 0));
    storage.create(other, {}, summary(other, 0));
    appendRange(storage, other, 1, 2);
    const sizes = appendRange(storage, id, 1, 3);
    return { storage, warnings, id, other, sizes, file: fixture.logPath(id) };
  }

  test('a damaged middle frame is corruption; the log is left untouched', () => {
    const { storage, warnings, id, other, sizes, file } = threeFrameLog();
    flipByte(file, sizes[0]! + Math.floor(sizes[1]! / 2));
    const before = fs.readFileSync(file);
    const snapBefore = fs.readFileSync(fixture.snapshotPath(id));

    const err = expectCorrupt(() => storage.load(id), file, id);
    expect(err.reason).toMatch(/checksum/);
    expect(fs.readFileSync(file).equals(before)).toBe(true);
    expect(fs.readFileSync(fixture.snapshotPath(id)).equals(snapBefore)).toBe(true);
    // Stays failing, and stays untouched, on every later load.
    expectCorrupt(() => storage.load(id), file, id);
    expect(fs.readFileSync(file).equals(before)).toBe(true);

    const listed = new Map(storage.listSummaries().map((s) => [s.id, s]));
    expect(listed.get(other)).toEqual(summary(other, 2));
    expect(listed.get(id)?.version).toBe(3); // header walk reads the intact last frame
    expect(warnings.filter((w) => /torn/.test(w.msg))).toEqual([]);
  });

  test('a damaged length field is not mistaken for a torn tail', () => {
    const { storage, id, file } = threeFrameLog();
    flipByte(file, 3); // high byte of the first frame's length: now runs past EOF
    const before = fs.readFileSync(file);
    const err = expectCorrupt(() => storage.load(id), file, id);
    expect(err.reason).toMatch(/followed by a valid frame/);
    expect(fs.readFileSync(file).equals(before)).toBe(true);
  });

  test('garbage after a bad frame is corruption', () => {
    const { storage, id, sizes, file } = threeFrameLog();
    flipByte(file, sizes[0]! + sizes[1]! + 9); // third frame damaged...
    fs.appendFileSync(file, Buffer.from('not a frame at all')); // ...and not the last bytes
    const before = fs.readFileSync(file);
    expectCorrupt(() => storage.load(id), file, id);
    expect(fs.readFileSync(file).equals(before)).toBe(true);
  });

  test('an undecodable log payload with a valid checksum is corruption', () => {
    const { storage, id, file } = threeFrameLog();
    fs.appendFileSync(file, encodeFrame(Buffer.from([0xc1, 0xc1, 0xc1])));
    const before = fs.readFileSync(file);
    expect(expectCorrupt(() => storage.load(id), file, id).reason).toMatch(/undecodable/);
    expect(fs.readFileSync(file).equals(before)).toBe(true);
  });

  test('a log payload of the wrong shape is corruption', () => {
    const { storage, id, file } = threeFrameLog();
    fs.appendFileSync(file, encodeFrame(encode({ hello: 'world' })));
    expect(expectCorrupt(() => storage.load(id), file, id).reason).toMatch(/malformed/);
  });

  test('a garbage snapshot is corruption; file unchanged; others still listed', () => {
    const { storage, warnings, id, other } = threeFrameLog();
    const file = fixture.snapshotPath(id);
    fs.writeFileSync(file, Buffer.from('this is definitely not a snapshot file'));
    const before = fs.readFileSync(file);

    expect(expectCorrupt(() => storage.load(id), file, id).reason).toMatch(/magic/);
    expect(fs.readFileSync(file).equals(before)).toBe(true);
    expect(storage.listSummaries()).toEqual([summary(other, 2)]);
    expect(warnings.some((w) => w.msg.includes(id) && w.err instanceof StorageCorruptError)).toBe(
      true,
    );
    expect(fs.readFileSync(file).equals(before)).toBe(true);
  });

  test.each([
    ['a flipped snapshot body byte', (size: number) => size - 2, /checksum/],
    ['a flipped header byte', () => 14, /checksum/],
  ])('%s is corruption', (_name, where, reason) => {
    const { storage, id, other } = threeFrameLog();
    const file = fixture.snapshotPath(id);
    flipByte(file, where(fs.statSync(file).size));
    const before = fs.readFileSync(file);
    expect(expectCorrupt(() => storage.load(id), file, id).reason).toMatch(reason);
    expect(fs.readFileSync(file).equals(before)).toBe(true);
    const ids = storage.listSummaries().map((s) => s.id);
    expect(ids).toContain(other);
  });

  test('a snapshot whose body is damaged is still listed from its header', () => {
    const { storage, id } = threeFrameLog();
    const file = fixture.snapshotPath(id);
    flipByte(file, fs.statSync(file).size - 2);
    expect(storage.listSummaries().map((s) => s.id)).toContain(id);
  });

  test('truncated and trailing-garbage snapshots are corruption', () => {
    const { storage, id } = threeFrameLog();
    const file = fixture.snapshotPath(id);
    const good = fs.readFileSync(file);
    fs.writeFileSync(file, good.subarray(0, good.length - 1));
    expectCorrupt(() => storage.load(id), file, id);
    fs.writeFileSync(file, Buffer.concat([good, Buffer.from([0])]));
    expect(expectCorrupt(() => storage.load(id), file, id).reason).toMatch(/trailing/);
    fs.writeFileSync(file, good);
    expect(storage.load(id)!.ops).toHaveLength(3);
  });
});

describe('crash leftovers', () => {
  test('temp files are ignored by list/load and stale ones removed on construction', () => {
    const { storage } = fixture.open();
    const id = newId();
    storage.create(id, { real: true }, summary(id, 0));
    const contexts = storage.contextsDir;
    const other = newId();
    const deadPid = path.join(contexts, `${id}.snap.tmp-999999999-0-abcdef`);
    const oldOwn = path.join(contexts, `${other}.snap.tmp-${process.pid}-3-abcdef`);
    const liveOwn = path.join(contexts, `${other}.snap.tmp-${process.pid}-4-abcdef`);
    for (const file of [deadPid, oldOwn, liveOwn]) fs.writeFileSync(file, 'partial');
    const twoHoursAgo = new Date(Date.now() - 2 * 60 * 60 * 1000);
    fs.utimesSync(oldOwn, twoHoursAgo, twoHoursAgo);

    expect(storage.listSummaries()).toEqual([summary(id, 0)]);
    expect(storage.load(id)!.snapshot).toEqual({ real: true });
    expect(storage.exists(other)).toBe(false);

    fixture.open(); // a restart, or another worker starting up
    expect(fs.existsSync(deadPid)).toBe(false);
    expect(fs.existsSync(oldOwn)).toBe(false);
    // May belong to a worker thread of this process that is writing right now.
    expect(fs.existsSync(liveOwn)).toBe(true);
    expect(storage.load(id)!.snapshot).toEqual({ real: true });
  });

  test('a log orphaned by an interrupted delete is ignored, and removed by create', () => {
    const { storage } = fixture.open();
    const id = newId();
    storage.create(id, {}, summary(id, 0));
    appendRange(storage, id, 1, 3);
    fs.unlinkSync(fixture.snapshotPath(id)); // crash between the two unlinks of delete()

    expect(storage.load(id)).toBeNull();
    expect(storage.exists(id)).toBe(false);
    expect(storage.listSummaries()).toEqual([]);
    storage.create(id, { again: true }, summary(id, 0));
    expect(storage.load(id)!.ops).toEqual([]);
    expect(fs.existsSync(fixture.logPath(id))).toBe(false);
  });

  test('a missing log (crash right after create) reads as empty and append recreates it', () => {
    const { storage } = fixture.open();
    const id = newId();
    storage.create(id, {}, summary(id, 0));
    expect(fs.existsSync(fixture.logPath(id))).toBe(false);
    expect(storage.load(id)!.ops).toEqual([]);
    storage.append(id, 1, 'op', summary(id, 1));
    expect(storage.load(id)!.ops).toEqual([{ version: 1, op: 'op' }]);
  });
});
