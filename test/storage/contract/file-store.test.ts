import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PromptLibrary } from '../../../src/prompts/prompt-library.js';
import { LOCK_FILE } from '../../../src/storage/dir-lock.js';
import { StorageError, StorageFencedError } from '../../../src/storage/errors.js';
import { FileContextStore } from '../../../src/storage/file-context-store.js';
import { FileStorage } from '../../../src/storage/file-storage.js';
import { contextPaths } from '../../../src/storage/paths.js';
import { opsRange, runStoreContract, snapshotOf, summaryAt } from './store-contract.js';

const dirs: string[] = [];
function newDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ccs-filestore-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

runStoreContract({
  name: 'file',
  newStore: () => FileContextStore.open({ dir: newDir() }),
});

describe('FileContextStore over the files the server writes', () => {
  it('writes what FileStorage and the prompt library read, and reads what they wrote', async () => {
    const dir = newDir();
    const store = await FileContextStore.open({ dir });
    const id = '00000000-0000-4000-8000-000000000001';
    const epoch = await store.create(id, 'i1', snapshotOf('v0'), summaryAt(id, 0));
    await store.appendOps(id, epoch, opsRange(id, 1, 3));
    await store.createPrompt({ id: 'p', content: 'ü' });
    const direct = new FileStorage({ dir }).load(id);
    expect(direct?.ops.map((op) => op.version)).toEqual([1, 2, 3]);
    expect(direct?.summary).toEqual(summaryAt(id, 3));
    expect((await PromptLibrary.open(dir)).get('p')).toEqual({ id: 'p', content: 'ü' });
    await store.close();
  });

  it('forgets epochs on restart: fences from the previous process are stale until a claim', async () => {
    const dir = newDir();
    const first = await FileContextStore.open({ dir });
    const id = '00000000-0000-4000-8000-000000000002';
    const epoch = await first.create(id, 'i1', snapshotOf('v0'), summaryAt(id, 0));
    await first.appendOps(id, epoch, opsRange(id, 1, 1));
    await first.close();
    const second = await FileContextStore.open({ dir });
    await expect(second.appendOps(id, epoch, opsRange(id, 2, 2))).rejects.toBeInstanceOf(
      StorageFencedError,
    );
    const claimed = await second.claim(id, 'i1');
    await second.appendOps(id, claimed, opsRange(id, 2, 2));
    expect((await second.load(id))?.version).toBe(2);
    await second.close();
  });

  it('claiming after a crash drops a torn tail first, so the next run does not follow it', async () => {
    const dir = newDir();
    const first = await FileContextStore.open({ dir });
    const id = '00000000-0000-4000-8000-000000000003';
    const epoch = await first.create(id, 'i1', snapshotOf('v0'), summaryAt(id, 0));
    await first.appendOps(id, epoch, opsRange(id, 1, 2));
    await first.close();
    // A crash mid-write: the start of a frame header (length 100) and nothing more.
    fs.appendFileSync(contextPaths(path.join(dir, 'contexts'), id).log, Buffer.from([100, 0, 0]));
    const second = await FileContextStore.open({ dir });
    const claimed = await second.claim(id, 'i1');
    await second.appendOps(id, claimed, opsRange(id, 3, 4));
    await second.close();
    const third = await FileContextStore.open({ dir });
    expect((await third.load(id))?.ops.map((op) => op.version)).toEqual([1, 2, 3, 4]);
    await third.close();
  });

  it('fences a run after a write failed mid-frame and the cut failed too, until a claim drops the torn tail', async () => {
    const dir = newDir();
    const store = await FileContextStore.open({ dir });
    const id = '00000000-0000-4000-8000-000000000004';
    const epoch = await store.create(id, 'i1', snapshotOf('v0'), summaryAt(id, 0));
    const log = contextPaths(path.join(dir, 'contexts'), id).log;
    // The second frame's write fails after some of its bytes landed, and so does the cut.
    const storage = (store as unknown as { storage: FileStorage }).storage as FileStorage & {
      writeLog: FileStorage['writeLog'];
      cutLog: FileStorage['cutLog'];
    };
    const realWrite = storage.writeLog.bind(storage);
    let writes = 0;
    storage.writeLog = (...args) => {
      if (++writes === 1) return realWrite(...args);
      fs.appendFileSync(log, Buffer.from([100, 0, 0]));
      throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
    };
    storage.cutLog = () => {
      throw Object.assign(new Error('EIO: i/o error, ftruncate'), { code: 'EIO' });
    };
    await expect(store.appendOps(id, epoch, opsRange(id, 1, 3))).rejects.toThrow(/EIO/);
    Reflect.deleteProperty(storage, 'writeLog');
    Reflect.deleteProperty(storage, 'cutLog');
    // The same run re-sent with the same epoch would be written after the torn bytes.
    await expect(store.appendOps(id, epoch, opsRange(id, 1, 3))).rejects.toBeInstanceOf(
      StorageFencedError,
    );
    const claimed = await store.claim(id, 'i1');
    await store.appendOps(id, claimed, opsRange(id, 1, 3));
    await store.close();
    const reopened = await FileContextStore.open({ dir });
    expect((await reopened.load(id))?.ops.map((op) => op.version)).toEqual([1, 2, 3]);
    await reopened.close();
  });

  it('owns its directory: a second open fails while the first is open; a dead owner is taken over', async () => {
    const dir = newDir();
    const first = await FileContextStore.open({ dir });
    await expect(FileContextStore.open({ dir })).rejects.toThrow(
      new RegExp(`in use by process ${process.pid}`),
    );
    await first.close();
    const second = await FileContextStore.open({ dir });
    await second.close();
    // A lock file left by a process that has exited.
    const gone = spawnSync(process.execPath, ['-e', '0']).pid;
    fs.writeFileSync(path.join(dir, LOCK_FILE), `${gone}\n`);
    const third = await FileContextStore.open({ dir });
    expect(fs.readFileSync(path.join(dir, LOCK_FILE), 'utf8')).toBe(`${process.pid}\n`);
    await third.close();
    expect(fs.existsSync(path.join(dir, LOCK_FILE))).toBe(false);
  });

  it('answers a failed prompt write as a StorageError, not a raw fs error', async () => {
    const store = await FileContextStore.open({ dir: newDir() });
    const prompts = (store as unknown as { prompts: PromptLibrary }).prompts;
    const eio = () => Promise.reject(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }));
    prompts.create = eio;
    await expect(store.createPrompt({ id: 'p', content: 'x' })).rejects.toBeInstanceOf(
      StorageError,
    );
    Reflect.deleteProperty(prompts, 'create');
    await store.createPrompt({ id: 'p', content: 'x' });
    prompts.update = eio;
    prompts.remove = eio;
    await expect(store.updatePrompt({ id: 'p', content: 'y' })).rejects.toBeInstanceOf(
      StorageError,
    );
    await expect(store.deletePrompt('p')).rejects.toBeInstanceOf(StorageError);
    await store.close();
  });
});
