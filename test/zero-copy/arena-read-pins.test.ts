import { Worker } from 'node:worker_threads';
import { expect, test } from 'vitest';
import { Arena } from '../../src/shm/arena.js';

const MiB = 1024 * 1024;

/**
 * The arena's read pins, step by step (in a worker: the arena's lock may block). A block
 * freed while a pin is held is not reused until every pin that could view it is gone; a
 * pin taken after the free does not hold it back; with no pin held nothing is deferred.
 */
test('blocks freed under a read pin are reused only once the pins of their epoch are gone', async () => {
  const sab = Arena.createBuffer(MiB, 16 * MiB);
  const worker = new Worker(
    `const { workerData, parentPort } = require('node:worker_threads');
     import(workerData.arenaUrl).then(({ Arena }) => {
       const arena = new Arena(workerData.sab, 1000);
       const steps = {};
       // No pin: a freed block is reused at once.
       const a = arena.alloc(100);
       arena.freeAll([a]);
       steps.reusedAtOnce = arena.alloc(100) === a;
       // A pin held across the free: the block waits, a new one is carved.
       const b = arena.alloc(100);
       const first = arena.pinReads();
       arena.freeAll([b]);
       steps.deferred = arena.readPins().deferredBlocks;
       const c = arena.alloc(100); // also moves the epoch on (the previous one has no pins)
       steps.notReusedWhilePinned = c !== b;
       // A pin taken after the free does not protect b; the first pin still does.
       const second = arena.pinReads();
       steps.stillWaiting = arena.alloc(100) !== b;
       arena.unpinReads(first);
       steps.reusedAfterFirstPinGone = arena.alloc(100) === b;
       steps.pins = arena.readPins().pins;
       arena.unpinReads(second);
       steps.after = arena.readPins();
       steps.used = arena.stats().liveBlocks;
       parentPort.postMessage(steps);
     });`,
    {
      eval: true,
      workerData: { sab, arenaUrl: new URL('../../src/shm/arena.js', import.meta.url).href },
    },
  );
  const steps = await new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  await worker.terminate();
  expect(steps).toEqual({
    reusedAtOnce: true,
    deferred: 1,
    notReusedWhilePinned: true,
    stillWaiting: true,
    reusedAfterFirstPinGone: true,
    pins: 1,
    after: { pins: 0, deferredBlocks: 0 },
    used: 4,
  });
});
