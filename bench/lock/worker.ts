/**
 * Benchmark worker (see `run.ts`): either times uncontended acquire+release pairs, or runs
 * one side of a contended throughput cell until the stop word is set.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { contextLockId } from '../../src/sync/lock-ids.js';
import { LockRegistry } from '../../src/sync/lock-registry.js';
import { RwLock } from '../../src/sync/rwlock.js';
import { BaselineRwLock } from './baseline-rwlock.js';
import { PlainMutex } from './mutex.js';
import { B, type BenchInput } from './shared.js';

const input = workerData as BenchInput;
const i32 = new Int32Array(input.sab);
const T = 10_000;

interface Lock {
  read(): void;
  readEnd(): void;
  write(): void;
  writeEnd(): void;
}

function subject(): Lock {
  const s = input.subject;
  if (s === 'mutex') {
    const m = new PlainMutex(i32, B.mutex);
    return {
      read: () => m.lock(),
      readEnd: () => m.unlock(),
      write: () => m.lock(),
      writeEnd: () => m.unlock(),
    };
  }
  let l: RwLock | BaselineRwLock;
  if (s === 'baseline') l = new BaselineRwLock(i32, B.rw);
  else if (s === 'rwlock') l = new RwLock(i32, B.rw);
  else {
    const registry = new LockRegistry(input.registry, {
      timing: s === 'registered+timing',
      checked: s === 'registered+checked',
    });
    l = new RwLock(i32, B.rw, { id: contextLockId(0), registry });
  }
  const lock = l;
  return {
    read: () => lock.readLock(T),
    readEnd: () => lock.readUnlock(),
    write: () => lock.writeLock(T),
    writeEnd: () => lock.writeUnlock(),
  };
}

/** Times `n` uncontended pairs of the asked kind per message, answering ns per pair. */
function uncontended(lock: Lock): void {
  const n = input.iterations;
  const time = (write: boolean): number => {
    const t0 = performance.now();
    if (write) {
      for (let i = 0; i < n; i++) {
        lock.write();
        lock.writeEnd();
      }
    } else {
      for (let i = 0; i < n; i++) {
        lock.read();
        lock.readEnd();
      }
    }
    return ((performance.now() - t0) * 1e6) / n;
  };
  time(false); // warm up both paths
  time(true);
  parentPort?.on('message', (kind: 'read' | 'write' | 'exit') => {
    if (kind === 'exit') parentPort?.close();
    else parentPort?.postMessage(time(kind === 'write'));
  });
  parentPort?.postMessage('ready');
}

function contended(lock: Lock): number {
  let x = input.seed | 0 || 1;
  Atomics.add(i32, B.ready, 1);
  while (Atomics.load(i32, B.go) === 0) Atomics.wait(i32, B.go, 0, 1000);
  let ops = 0;
  let sink = 0;
  while (Atomics.load(i32, B.stop) === 0) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    if ((x >>> 0) % 100 < input.writePercent) {
      lock.write();
      i32[B.data] = (i32[B.data]! + 1) | 0;
      lock.writeEnd();
    } else {
      lock.read();
      sink ^= i32[B.data]!;
      lock.readEnd();
    }
    ops++;
  }
  return ops + (sink & 0);
}

const lock = subject();
if (input.task === 'uncontended') uncontended(lock);
else parentPort?.postMessage(contended(lock));
