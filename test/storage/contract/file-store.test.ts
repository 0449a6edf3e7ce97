import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PromptLibrary } from '../../../src/prompts/prompt-library.js';
import { StorageFencedError } from '../../../src/storage/errors.js';
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
});
