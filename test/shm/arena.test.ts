import { Worker } from 'node:worker_threads';
import { describe, expect, test } from 'vitest';
import { Arena, ArenaFullError } from '../../src/shm/arena.js';
import { CLASS_BYTES, classFor } from '../../src/shm/size-classes.js';

const MiB = 1024 * 1024;

describe('size classes', () => {
  test('the chosen class is the smallest that fits, wasting at most 25%', () => {
    for (let bytes = 1; bytes <= 100_000; bytes += 7) {
      const cls = classFor(bytes);
      expect(CLASS_BYTES[cls]).toBeGreaterThanOrEqual(bytes);
      if (cls > 0) expect(CLASS_BYTES[cls - 1]).toBeLessThan(bytes);
      if (bytes > 32) expect(CLASS_BYTES[cls]! / bytes).toBeLessThanOrEqual(1.25);
    }
  });
});

describe('Arena (a worker-side allocator; these run on a worker-like thread)', () => {
  // The arena's lock blocks, which the main thread may not do: run it in a worker.
  test('blocks from four threads never overlap, and everything freed is reused', async () => {
    const sab = Arena.createBuffer(MiB, 256 * MiB);
    const run = (tag: number) =>
      new Promise<{ clobbered: number }>((resolve, reject) => {
        const worker = new Worker(new URL('../fixtures/arena-worker.js', import.meta.url), {
          workerData: { sab, tag, rounds: 4000, seed: tag * 7919 },
        });
        worker.once('message', resolve);
        worker.once('error', reject);
      });
    const results = await Promise.all([1, 2, 3, 4].map(run));
    expect(results.map((r) => r.clobbered)).toEqual([0, 0, 0, 0]);

    const arena = new Arena(sab, 1000);
    const afterFirst = arena.stats();
    expect(afterFirst.usedBytes).toBe(0);
    expect(afterFirst.liveBlocks).toBe(0);

    // Freed blocks are reused: repeating the same allocation sequence carves nothing new.
    expect((await run(5)).clobbered).toBe(0);
    const carved = arena.stats().carvedBytes;
    expect((await run(5)).clobbered).toBe(0);
    expect(arena.stats().carvedBytes).toBe(carved);
    expect(arena.stats().usedBytes).toBe(0);
  });

  test('ArenaFullError past the maximum size', async () => {
    const sab = Arena.createBuffer(MiB, 16 * MiB);
    const worker = new Worker(
      `const { workerData, parentPort } = require('node:worker_threads');
       import(workerData.arenaUrl).then(({ Arena }) => {
         const arena = new Arena(workerData.sab, 1000);
         try { for (;;) arena.alloc(1024 * 1024); } catch (err) { parentPort.postMessage(err.code); }
       });`,
      {
        eval: true,
        workerData: { sab, arenaUrl: new URL('../../src/shm/arena.js', import.meta.url).href },
      },
    );
    const code = await new Promise((resolve) => worker.once('message', resolve));
    expect(code).toBe(new ArenaFullError(1, 1).code);
    await worker.terminate();
  });
});
