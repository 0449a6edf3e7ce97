import fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import { expect, test } from 'vitest';
import { SlotTable } from '../../src/shm/slot-table.js';
import { OpenLogs } from '../../src/slots/open-logs.js';
import { compactionDue, DEFAULT_COMPACTION } from '../../src/storage/compaction-policy.js';
import type { LogHandle } from '../../src/storage/types.js';
import { newId, summary, useStorageFixture } from './helpers.js';

const fixture = useStorageFixture();
const op = (v: number) => ({ kind: 'message', n: v, text: 'x'.repeat(100) });

test('a log handle keeps one fd across appends and compaction; closeLog closes it', () => {
  const { storage } = fixture.open();
  const id = newId();
  const created = storage.create(id, { n: 0 }, summary(id, 0));
  expect(created).toBe(fs.statSync(fixture.snapshotPath(id)).size);
  const log: LogHandle = { fd: -1 };
  let bytes = storage.append(id, 1, op(1), summary(id, 1), log);
  const fd = log.fd;
  expect(fd).toBeGreaterThanOrEqual(0);
  for (let v = 2; v <= 5; v++) bytes += storage.append(id, v, op(v), summary(id, v), log);
  expect(log.fd).toBe(fd); // no reopen
  expect(fs.statSync(fixture.logPath(id)).size).toBe(bytes);

  const written = storage.compact(id, { n: 5 }, summary(id, 5), log);
  expect(written).toBe(fs.statSync(fixture.snapshotPath(id)).size);
  expect(fs.statSync(fixture.logPath(id)).size).toBe(0);
  // O_APPEND: the next frame lands at the new end (0), not at the old offset.
  const next = storage.append(id, 6, op(6), summary(id, 6), log);
  expect(log.fd).toBe(fd);
  expect(fs.statSync(fixture.logPath(id)).size).toBe(next);

  storage.closeLog(log);
  expect(log.fd).toBe(-1);
  expect(() => fs.fstatSync(fd)).toThrow(/EBADF/);
  const loaded = storage.load(id)!;
  expect(loaded.snapshot).toEqual({ n: 5 });
  expect(loaded.snapshotBytes).toBe(written);
  expect(loaded.ops.map((o) => o.version)).toEqual([6]);
  expect(loaded.logBytes).toBe(next);
});

test('two handles on one log (two workers): appends interleave in order, across a compaction through either', () => {
  const { storage } = fixture.open();
  const id = newId();
  storage.create(id, { n: 0 }, summary(id, 0));
  const a: LogHandle = { fd: -1 };
  const b: LogHandle = { fd: -1 };
  for (let v = 1; v <= 6; v++) storage.append(id, v, op(v), summary(id, v), v % 2 ? a : b);
  storage.compact(id, { n: 6 }, summary(id, 6), b); // truncated under a's open fd
  for (let v = 7; v <= 10; v++) storage.append(id, v, op(v), summary(id, v), v % 2 ? a : b);
  storage.closeLog(a);
  storage.closeLog(b);
  const loaded = storage.load(id)!;
  expect(loaded.ops.map((o) => o.version)).toEqual([7, 8, 9, 10]);
  expect(loaded.logRecords).toBe(4); // no hole, no stale frame before them
});

test('an fd opened by a worker thread is closed when that thread ends (why fds are per worker)', async () => {
  const file = `${fixture.dir()}/x.log`;
  fs.writeFileSync(file, '');
  const worker = new Worker(
    `const fs = require('node:fs');
     require('node:worker_threads').parentPort.postMessage(fs.openSync(${JSON.stringify(file)}, 'a'));`,
    { eval: true },
  );
  const fd = await new Promise<number>((resolve) => worker.once('message', resolve));
  await new Promise((resolve) => worker.once('exit', resolve));
  expect(() => fs.fstatSync(fd)).toThrow(/EBADF/);
});

test('compaction policy: by log size against the snapshot, with a floor, and the count trigger', () => {
  const policy = { logRatio: 1, minLogBytes: 1000, afterRecords: 0 };
  const due = (logBytes: number, snapshotBytes: number, logRecords = 1) =>
    compactionDue({ logBytes, snapshotBytes, logRecords }, policy);
  expect(due(999, 10)).toBe(false); // under the floor
  expect(due(1000, 10)).toBe(true);
  expect(due(4999, 5000)).toBe(false); // under the ratio
  expect(due(5000, 5000)).toBe(true);
  expect(
    compactionDue(
      { logBytes: 1, snapshotBytes: 1e9, logRecords: 16 },
      { ...policy, afterRecords: 16 },
    ),
  ).toBe(true);
  expect(DEFAULT_COMPACTION).toEqual({ logRatio: 1, minLogBytes: 1024 * 1024, afterRecords: 0 });
});

/**
 * The bound of docs/storage.md, on the arithmetic alone: appends of f-byte frames that each
 * add s ≤ f bytes to the context; a compaction writes the whole context as the snapshot.
 * Whatever the starting size, bytes written per append stay ≤ (2 + 1/r) × f (plus the first
 * snapshot spread over the run), and the log stays ≤ max(floor, r × snapshot) + one frame.
 */
test('amortised bytes per append stay within (2 + 1/r) x the frame, whatever the start size', () => {
  const f = 1500;
  const s = 1250;
  const appends = 200_000;
  for (const r of [0.25, 1, 2]) {
    for (const start of [1_000, 1_000_000, 100_000_000]) {
      const policy = { logRatio: r, minLogBytes: 1 << 20, afterRecords: 0 };
      let content = start;
      let onDisk = start;
      let log = 0;
      let written = 0;
      let logOverBound = 0;
      for (let i = 0; i < appends; i++) {
        content += s;
        log += f;
        written += f;
        logOverBound = Math.max(logOverBound, log - Math.max(policy.minLogBytes, r * onDisk));
        if (compactionDue({ logBytes: log, logRecords: 0, snapshotBytes: onDisk }, policy)) {
          written += content;
          onDisk = content;
          log = 0;
        }
      }
      expect(written / appends).toBeLessThanOrEqual((2 + 1 / r) * f + start / appends);
      expect(logOverBound).toBeLessThanOrEqual(f);
    }
  }
});

test('OpenLogs: one handle per slot and occupant, swept when a slot is vacated, LRU-capped', () => {
  const { storage } = fixture.open();
  const slots = new SlotTable(SlotTable.createBuffer(4));
  const logs = new OpenLogs(slots, storage, 2);
  const ids = [newId(), newId(), newId()];
  ids.forEach((id, slot) => {
    storage.create(id, {}, summary(id, 0));
    storage.append(id, 1, op(1), summary(id, 1), logs.handle(slot));
  });
  // Capped at 2: slot 0's fd (least recently used) was closed to open slot 2's.
  expect(logs.size).toBe(2);
  expect(logs.handle(1).fd).toBeGreaterThanOrEqual(0); // kept
  const kept1 = logs.handle(1).fd;
  slots.vacate(1); // evicted by "another worker"
  logs.sweep();
  expect(logs.size).toBe(1);
  expect(() => fs.fstatSync(kept1)).toThrow(/EBADF/);
  // A new occupant of slot 2 never gets the fd of the old one.
  const old2 = logs.handle(2).fd;
  slots.vacate(2);
  expect(logs.handle(2).fd).toBe(-1);
  expect(() => fs.fstatSync(old2)).toThrow(/EBADF/);
  logs.close(2); // as the worker that evicts or deletes a context does
  expect(logs.size).toBe(0);
});
