import fs from 'node:fs';
import { describe, expect, test } from 'vitest';
import {
  StorageConflictError,
  StorageError,
  StorageNotFoundError,
} from '../../src/storage/errors.js';
import { appendRange, newId, summary, useStorageFixture } from './helpers.js';

const fixture = useStorageFixture();

describe('FileStorage basics', () => {
  test('create/load round-trips nested objects and binary payloads', () => {
    const { storage } = fixture.open();
    const id = newId();
    const blob = new Uint8Array([0, 1, 2, 254, 255]);
    const snapshot = {
      messages: [
        { role: 'user', text: 'héllo ✓', meta: { tags: ['a', 'b'], nested: { deep: [1, 2.5] } } },
        { role: 'assistant', text: '', meta: null },
      ],
      blob,
      empty: {},
      flag: true,
    };
    storage.create(id, snapshot, summary(id, 0));

    expect(storage.exists(id)).toBe(true);
    const loaded = storage.load(id);
    expect(loaded).not.toBeNull();
    const { blob: loadedBlob, ...rest } = loaded!.snapshot as typeof snapshot;
    const { blob: _blob, ...expectedRest } = snapshot;
    expect(rest).toEqual(expectedRest);
    expect(loadedBlob).toBeInstanceOf(Uint8Array);
    expect(Array.from(loadedBlob)).toEqual(Array.from(blob));
    expect(loaded!.snapshotVersion).toBe(0);
    expect(loaded!.ops).toEqual([]);
    expect(loaded!.summary).toEqual(summary(id, 0));
    expect(loaded!.logBytes).toBe(0);
    expect(loaded!.logRecords).toBe(0);
  });

  test('appended ops replay exactly, in order, with the last summary', () => {
    const { storage } = fixture.open();
    const id = newId();
    storage.create(id, { base: true }, summary(id, 0));
    const ops = Array.from({ length: 25 }, (_, i) => ({
      type: i % 2 ? 'add' : 'edit',
      payload: { index: i, bytes: new Uint8Array([i, i + 1]) },
    }));
    let total = 0;
    ops.forEach((op, i) => {
      total += storage.append(id, i + 1, op, summary(id, i + 1, { message_count: i * 10 }));
    });

    const loaded = storage.load(id)!;
    expect(loaded.snapshot).toEqual({ base: true });
    expect(loaded.ops.map((o) => o.version)).toEqual(ops.map((_, i) => i + 1));
    loaded.ops.forEach((logged, i) => {
      const op = logged.op as (typeof ops)[number];
      expect(op.type).toBe(ops[i]!.type);
      expect(op.payload.index).toBe(i);
      expect(Array.from(op.payload.bytes)).toEqual([i, i + 1]);
    });
    expect(loaded.summary).toEqual(summary(id, 25, { message_count: 240 }));
    expect(loaded.logRecords).toBe(25);
    expect(loaded.logBytes).toBe(total);
    expect(fs.statSync(fixture.logPath(id)).size).toBe(total);
  });

  test('state survives reopening the directory', () => {
    const id = newId();
    const first = fixture.open().storage;
    first.create(id, { s: 1 }, summary(id, 0));
    appendRange(first, id, 1, 3);

    const second = fixture.open().storage;
    const loaded = second.load(id)!;
    expect(loaded.ops.map((o) => o.version)).toEqual([1, 2, 3]);
    expect(loaded.summary.version).toBe(3);
  });

  test('listSummaries covers every context with its latest summary', () => {
    const { storage } = fixture.open({ fsync: false });
    const ids = [newId(), newId(), newId()];
    storage.create(ids[0]!, {}, summary(ids[0]!, 0));
    storage.create(ids[1]!, {}, summary(ids[1]!, 0));
    appendRange(storage, ids[1]!, 1, 4);
    storage.create(ids[2]!, {}, summary(ids[2]!, 0));
    appendRange(storage, ids[2]!, 1, 2);
    storage.compact(ids[2]!, { compacted: true }, summary(ids[2]!, 2, { current_state: 'x' }));

    const byId = new Map(storage.listSummaries().map((s) => [s.id, s]));
    expect(byId.size).toBe(3);
    expect(byId.get(ids[0]!)).toEqual(summary(ids[0]!, 0));
    expect(byId.get(ids[1]!)).toEqual(summary(ids[1]!, 4));
    expect(byId.get(ids[2]!)).toEqual(summary(ids[2]!, 2, { current_state: 'x' }));
  });

  test('listSummaries of an empty store is empty', () => {
    expect(fixture.open().storage.listSummaries()).toEqual([]);
  });

  test('compact replaces the snapshot and empties the log', () => {
    const { storage } = fixture.open();
    const id = newId();
    storage.create(id, { n: 0 }, summary(id, 0));
    appendRange(storage, id, 1, 5);
    storage.compact(id, { n: 5 }, summary(id, 5));
    expect(fs.statSync(fixture.logPath(id)).size).toBe(0);
    appendRange(storage, id, 6, 7);

    const loaded = storage.load(id)!;
    expect(loaded.snapshot).toEqual({ n: 5 });
    expect(loaded.snapshotVersion).toBe(5);
    expect(loaded.ops.map((o) => o.version)).toEqual([6, 7]);
    expect(loaded.summary.version).toBe(7);
  });

  test('delete removes the context; load then returns null', () => {
    const { storage } = fixture.open();
    const id = newId();
    storage.create(id, {}, summary(id, 0));
    appendRange(storage, id, 1, 2);

    expect(storage.delete(id)).toBe(true);
    expect(storage.load(id)).toBeNull();
    expect(storage.exists(id)).toBe(false);
    expect(fs.existsSync(fixture.snapshotPath(id))).toBe(false);
    expect(fs.existsSync(fixture.logPath(id))).toBe(false);
    expect(storage.listSummaries()).toEqual([]);
    expect(storage.delete(id)).toBe(false);
  });

  test('a deleted id can be created afresh without its old ops', () => {
    const { storage } = fixture.open();
    const id = newId();
    storage.create(id, { old: true }, summary(id, 0));
    appendRange(storage, id, 1, 3);
    storage.delete(id);
    storage.create(id, { fresh: true }, summary(id, 0));
    const loaded = storage.load(id)!;
    expect(loaded.snapshot).toEqual({ fresh: true });
    expect(loaded.ops).toEqual([]);
  });

  test('create of an existing id throws StorageConflictError and changes nothing', () => {
    const { storage } = fixture.open();
    const id = newId();
    storage.create(id, { first: true }, summary(id, 0));
    appendRange(storage, id, 1, 1);

    let caught: unknown;
    try {
      storage.create(id, { second: true }, summary(id, 0));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(StorageConflictError);
    expect((caught as StorageConflictError).code).toBe('storage_conflict');
    expect((caught as StorageConflictError).id).toBe(id);
    const loaded = storage.load(id)!;
    expect(loaded.snapshot).toEqual({ first: true });
    expect(loaded.ops).toHaveLength(1);
  });

  test('load/exists/delete of an unknown id', () => {
    const { storage } = fixture.open();
    const id = newId();
    expect(storage.load(id)).toBeNull();
    expect(storage.exists(id)).toBe(false);
    expect(storage.delete(id)).toBe(false);
  });

  test('append and compact of an unknown id throw StorageNotFoundError', () => {
    const { storage } = fixture.open();
    const id = newId();
    expect(() => storage.append(id, 1, {}, summary(id, 1))).toThrow(StorageNotFoundError);
    expect(() => storage.compact(id, {}, summary(id, 1))).toThrow(StorageNotFoundError);
    expect(fs.existsSync(fixture.logPath(id))).toBe(false);
    expect(fs.existsSync(fixture.snapshotPath(id))).toBe(false);
  });

  test('ids that could escape the directory are rejected', () => {
    const { storage } = fixture.open();
    const bad = ['../../../../../../etc/passwd', '', 'x'.repeat(36), `${newId()}/`, '.'];
    for (const id of bad) {
      expect(() => storage.load(id)).toThrow(/invalid context id/);
      expect(() => storage.create(id, {}, summary(id, 0))).toThrow(/invalid context id/);
      expect(() => storage.exists(id)).toThrow(/invalid context id/);
      expect(() => storage.delete(id)).toThrow(/invalid context id/);
    }
    // Dots and slashes are not in the alphabet even at the right length.
    expect(() => storage.load('../aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaa')).toThrow(/invalid/);
  });

  test('I/O failures surface as StorageError with the fs error as cause', () => {
    const { storage } = fixture.open();
    const id = newId();
    fs.mkdirSync(fixture.snapshotPath(id)); // a directory where the snapshot file should be
    let caught: unknown;
    try {
      storage.load(id);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(StorageError);
    expect((caught as StorageError).code).toBe('storage_error');
    expect((caught as { cause: { code: string } }).cause.code).toBe('EISDIR');
  });
});
