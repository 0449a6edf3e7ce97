import fs from 'node:fs';
import { expect, test } from 'vitest';
import { appendRange, newId, summary, useStorageFixture } from './helpers.js';

const fixture = useStorageFixture();

// The same op at the same version is appended to three contexts of very different sizes; the
// bytes written (returned, and measured as the file growth) must be identical.
test('append cost does not depend on log length or snapshot size', () => {
  const { storage } = fixture.open({ fsync: false });
  const shortLog = newId();
  const longLog = newId();
  const bigSnapshot = newId();

  storage.create(shortLog, { small: true }, summary(shortLog, 9_990));
  appendRange(storage, shortLog, 9_991, 10_000); // 10 ops
  storage.create(longLog, { small: true }, summary(longLog, 0));
  appendRange(storage, longLog, 1, 10_000); // 10,000 ops
  const huge = { blob: new Uint8Array(16 * 1024 * 1024).fill(7), items: Array(20_000).fill('x') };
  storage.create(bigSnapshot, huge, summary(bigSnapshot, 10_000));

  const op = { kind: 'message', text: 'the same op for everyone', parts: [1, 2, 3] };
  const measure = (id: string) => {
    const snapBefore = fs.statSync(fixture.snapshotPath(id));
    const before = fs.existsSync(fixture.logPath(id)) ? fs.statSync(fixture.logPath(id)).size : 0;
    const returned = storage.append(id, 10_001, op, summary(id, 10_001));
    const delta = fs.statSync(fixture.logPath(id)).size - before;
    const snapAfter = fs.statSync(fixture.snapshotPath(id));
    expect(snapAfter.size).toBe(snapBefore.size);
    expect(snapAfter.mtimeMs).toBe(snapBefore.mtimeMs);
    return { returned, delta };
  };

  const short = measure(shortLog);
  const long = measure(longLog);
  const big = measure(bigSnapshot);
  expect(short.delta).toBe(short.returned);
  expect(long).toEqual(short);
  expect(big).toEqual(short);
  expect(fs.statSync(fixture.logPath(longLog)).size).toBeGreaterThan(500 * short.returned);

  expect(storage.load(longLog)!.ops).toHaveLength(10_001);
  expect(storage.load(bigSnapshot)!.ops.map((o) => o.op)).toEqual([op]);
});
