import { arenaLockId } from '../sync/lock-ids.js';
import type { LockRegistry } from '../sync/lock-registry.js';
import { RWLOCK_WORDS, RwLock } from '../sync/rwlock.js';
import { CLASS_BYTES, CLASS_COUNT, classFor } from './size-classes.js';

/**
 * A block allocator inside one growable SharedArrayBuffer that every thread maps.
 *
 * Message records, branch arrays and context metadata live here, so any worker reads them
 * in place. Blocks are addressed by a `Ref`: the block's offset in 8-byte units (0 is
 * null), which lets a u32 address 32 GiB. Freed blocks go on a per-class free list and are
 * reused by the next allocation of that class, so a long run of creates and deletes keeps
 * the arena's footprint flat.
 *
 * Arena header (Int32 words at byte 0):
 *
 * | word        | name         | meaning                                                  |
 * |-------------|--------------|----------------------------------------------------------|
 * | 0–3         | LOCK         | RwLock used as a mutex (write mode); a leaf lock: no     |
 * |             |              | other lock is taken while it is held                     |
 * | 4           | TOP          | first unit past the highest block ever carved (bump ptr) |
 * | 5           | USED_UNITS   | units in live blocks, headers included                   |
 * | 6           | LIVE_BLOCKS  | number of live blocks                                    |
 * | 7           | GROWS        | number of times the buffer was grown                     |
 * | 8 … 8+C−1   | FREE_HEAD[c] | ref of the first free block of size class c, 0 if none   |
 * | 8+C         | READ_EPOCH   | epoch of zero-copy reads (only grows)                    |
 * | 9+C, 10+C   | READ_PINS[p] | zero-copy reads in flight that pinned in an epoch of     |
 * |             |              | parity p                                                 |
 * | 11+C, 12+C  | DEFERRED[p]  | first block freed in an epoch of parity p while reads    |
 * |             |              | were in flight, not yet reusable (chained like a free    |
 * |             |              | list)                                                    |
 *
 * Zero-copy reads: the main thread hands the socket views of message records and keeps
 * them until the write completes, after it released the context's lock. It pins the
 * current epoch (lock-free) while still holding the read lock. A block freed while any pin
 * is held is deferred, not reused, into its epoch's list; the list of the previous epoch
 * becomes reusable once that epoch's pins are gone (every read that could view it has
 * completed: a block is freed only after the reads that viewed it released their lock, so
 * they pinned in its epoch or an earlier one), and the epoch then moves on. With no pin
 * held at all, everything deferred is reusable. Deferred blocks count as used.
 *
 * Block layout (at `ref * 8`):
 *
 * | bytes | meaning                                                               |
 * |-------|-----------------------------------------------------------------------|
 * | 0–3   | class index; bit 31 set while the block is live                       |
 * | 4–7   | payload length in bytes (what the caller asked for)                   |
 * | 8 …   | payload; while free, its first u32 is the ref of the next free block |
 */
export type Ref = number;

// Header words in table order, each placed after the one before (values as in the table).
const W_LOCK = 0;
const W_TOP = W_LOCK + RWLOCK_WORDS;
const W_USED_UNITS = W_TOP + 1;
const W_LIVE_BLOCKS = W_USED_UNITS + 1;
const W_GROWS = W_LIVE_BLOCKS + 1;
const W_FREE_HEAD = W_GROWS + 1;
const W_READ_EPOCH = W_FREE_HEAD + CLASS_COUNT;
const W_READ_PINS = W_READ_EPOCH + 1;
const W_DEFERRED = W_READ_PINS + 2;
const HEADER_WORDS = W_DEFERRED + 2;
const HEADER_UNITS = Math.ceil((HEADER_WORDS * 4) / 8);
const LIVE_BIT = 0x8000_0000;
const BLOCK_HEADER_BYTES = 8;
const GROW_STEP_BYTES = 8 * 1024 * 1024;

export class ArenaFullError extends Error {
  readonly code = 'arena_full';
  constructor(requested: number, max: number) {
    super(`shared-memory arena is full: cannot allocate ${requested} bytes (max ${max} bytes)`);
  }
}

export class Arena {
  readonly u8: Uint8Array;
  readonly u32: Uint32Array;
  readonly i32: Int32Array;
  private readonly lock: RwLock;

  /** Creates the shared buffer; hand it to every thread, then wrap it with `new Arena`. */
  static createBuffer(initialBytes: number, maxBytes: number): SharedArrayBuffer {
    const sab = new SharedArrayBuffer(Math.max(initialBytes, HEADER_UNITS * 8), {
      maxByteLength: maxBytes,
    });
    const i32 = new Int32Array(sab);
    RwLock.init(i32, W_LOCK);
    i32[W_TOP] = HEADER_UNITS;
    return sab;
  }

  constructor(
    readonly sab: SharedArrayBuffer,
    private readonly lockTimeoutMs: number,
    registry?: LockRegistry,
  ) {
    // Length-tracking views: they follow the buffer when any thread grows it.
    this.u8 = new Uint8Array(sab);
    this.u32 = new Uint32Array(sab);
    this.i32 = new Int32Array(sab);
    this.lock = new RwLock(
      this.i32,
      W_LOCK,
      registry === undefined ? {} : { id: arenaLockId(), registry },
    );
  }

  /** Allocates a block with room for `payloadBytes`; blocking, workers only. */
  alloc(payloadBytes: number): Ref {
    const cls = classFor(payloadBytes + BLOCK_HEADER_BYTES);
    const units = CLASS_BYTES[cls]! / 8;
    this.lock.writeLock(this.lockTimeoutMs);
    try {
      this.reclaim();
      let ref = this.i32[W_FREE_HEAD + cls]!;
      if (ref !== 0) {
        this.i32[W_FREE_HEAD + cls] = this.u32[ref * 2 + 2]!;
      } else {
        ref = this.i32[W_TOP]!;
        this.ensureCapacity((ref + units) * 8);
        this.i32[W_TOP] = ref + units;
      }
      this.u32[ref * 2] = (cls | LIVE_BIT) >>> 0;
      this.u32[ref * 2 + 1] = payloadBytes;
      this.i32[W_USED_UNITS]! += units;
      this.i32[W_LIVE_BLOCKS]! += 1;
      return ref;
    } finally {
      this.lock.writeUnlock();
    }
  }

  /**
   * Returns blocks to their free lists under one lock acquisition; while zero-copy reads
   * are in flight, to the deferred list of the current epoch instead.
   */
  freeAll(refs: Iterable<Ref>): void {
    this.lock.writeLock(this.lockTimeoutMs);
    try {
      this.reclaim();
      const pinned = this.pinsHeld();
      const epoch = Atomics.load(this.i32, W_READ_EPOCH) & 1;
      for (const ref of refs) {
        if (ref === 0) continue;
        const word = this.u32[ref * 2]!;
        if ((word & LIVE_BIT) === 0) throw new Error(`arena: double free of block ${ref}`);
        const cls = word & ~LIVE_BIT;
        this.u32[ref * 2] = cls;
        // The link overwrites the payload's first word: a record's id, never the JSON bytes
        // a zero-copy read views.
        const head = pinned ? W_DEFERRED + epoch : W_FREE_HEAD + cls;
        this.u32[ref * 2 + 2] = this.i32[head]!;
        this.i32[head] = ref;
        if (!pinned) this.released(cls);
      }
    } finally {
      this.lock.writeUnlock();
    }
  }

  /**
   * Pins the blocks live now against reuse until `unpinReads(token)`; lock-free, for the
   * main thread. Call it while holding the read lock of the context whose records the
   * views show.
   */
  pinReads(): number {
    for (;;) {
      const epoch = Atomics.load(this.i32, W_READ_EPOCH);
      Atomics.add(this.i32, W_READ_PINS + (epoch & 1), 1);
      // Pinned in the epoch that is current (not one that moved on in between).
      if (Atomics.load(this.i32, W_READ_EPOCH) === epoch) return epoch & 1;
      Atomics.sub(this.i32, W_READ_PINS + (epoch & 1), 1);
    }
  }

  unpinReads(token: number): void {
    Atomics.sub(this.i32, W_READ_PINS + token, 1);
  }

  /** Zero-copy reads in flight, and the blocks waiting for them (tests, diagnostics). */
  readPins(): { pins: number; deferredBlocks: number } {
    let deferredBlocks = 0;
    for (let p = 0; p < 2; p++) {
      for (let ref = this.i32[W_DEFERRED + p]!; ref !== 0; ref = this.u32[ref * 2 + 2]!) {
        deferredBlocks++;
      }
    }
    return {
      pins: Atomics.load(this.i32, W_READ_PINS) + Atomics.load(this.i32, W_READ_PINS + 1),
      deferredBlocks,
    };
  }

  private pinsHeld(): boolean {
    return (
      Atomics.load(this.i32, W_READ_PINS) !== 0 || Atomics.load(this.i32, W_READ_PINS + 1) !== 0
    );
  }

  /**
   * Makes deferred blocks reusable when no read can still view them: all of them when no
   * pin is held; else the previous epoch's once its pins are gone, moving the epoch on.
   * Under the arena lock.
   */
  private reclaim(): void {
    const epoch = Atomics.load(this.i32, W_READ_EPOCH);
    const current = epoch & 1;
    const previous = current ^ 1;
    if (this.i32[W_DEFERRED + current] === 0 && this.i32[W_DEFERRED + previous] === 0) return;
    if (!this.pinsHeld()) {
      this.release(current);
      this.release(previous);
      return;
    }
    if (Atomics.load(this.i32, W_READ_PINS + previous) !== 0) return;
    this.release(previous);
    Atomics.store(this.i32, W_READ_EPOCH, epoch + 1);
  }

  /** Moves a deferred list onto the free lists. */
  private release(parity: number): void {
    let ref = this.i32[W_DEFERRED + parity]!;
    this.i32[W_DEFERRED + parity] = 0;
    while (ref !== 0) {
      const next = this.u32[ref * 2 + 2]!;
      const cls = this.u32[ref * 2]! & ~LIVE_BIT;
      this.u32[ref * 2 + 2] = this.i32[W_FREE_HEAD + cls]!;
      this.i32[W_FREE_HEAD + cls] = ref;
      this.released(cls);
      ref = next;
    }
  }

  private released(cls: number): void {
    this.i32[W_USED_UNITS]! -= CLASS_BYTES[cls]! / 8;
    this.i32[W_LIVE_BLOCKS]! -= 1;
  }

  /** Byte offset of a block's payload. */
  offset(ref: Ref): number {
    return ref * 8 + BLOCK_HEADER_BYTES;
  }

  /** Payload length the block was allocated with. */
  length(ref: Ref): number {
    return this.u32[ref * 2 + 1]!;
  }

  /** Bytes a block occupies in the arena (its size class), header included. */
  blockBytes(ref: Ref): number {
    return CLASS_BYTES[this.u32[ref * 2]! & ~LIVE_BIT]!;
  }

  /** A view (not a copy) of a block's payload. */
  bytes(ref: Ref): Uint8Array {
    return this.u8.subarray(this.offset(ref), this.offset(ref) + this.length(ref));
  }

  stats(): { usedBytes: number; liveBlocks: number; carvedBytes: number; bufferBytes: number } {
    return {
      usedBytes: Atomics.load(this.i32, W_USED_UNITS) * 8,
      liveBlocks: Atomics.load(this.i32, W_LIVE_BLOCKS),
      carvedBytes: Atomics.load(this.i32, W_TOP) * 8,
      bufferBytes: this.sab.byteLength,
    };
  }

  private ensureCapacity(bytes: number): void {
    if (bytes <= this.sab.byteLength) return;
    const max = this.sab.maxByteLength;
    if (bytes > max) throw new ArenaFullError(bytes - this.sab.byteLength, max);
    // Grow geometrically so appends stay amortised O(1); untouched pages cost no RSS.
    const target = Math.max(bytes, this.sab.byteLength * 2, GROW_STEP_BYTES);
    this.sab.grow(Math.min(max, Math.ceil(target / GROW_STEP_BYTES) * GROW_STEP_BYTES));
    this.i32[W_GROWS]! += 1;
  }
}
