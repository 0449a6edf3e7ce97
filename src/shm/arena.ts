import { arenaLockId } from '../sync/lock-ids.js';
import type { LockRegistry } from '../sync/lock-registry.js';
import { RwLock } from '../sync/rwlock.js';
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

const W_LOCK = 0;
const W_TOP = 4;
const W_USED_UNITS = 5;
const W_LIVE_BLOCKS = 6;
const W_GROWS = 7;
const W_FREE_HEAD = 8;
const HEADER_WORDS = W_FREE_HEAD + CLASS_COUNT;
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

  /** Returns blocks to their free lists under one lock acquisition. */
  freeAll(refs: Iterable<Ref>): void {
    this.lock.writeLock(this.lockTimeoutMs);
    try {
      for (const ref of refs) {
        if (ref === 0) continue;
        const word = this.u32[ref * 2]!;
        if ((word & LIVE_BIT) === 0) throw new Error(`arena: double free of block ${ref}`);
        const cls = word & ~LIVE_BIT;
        this.u32[ref * 2] = cls;
        this.u32[ref * 2 + 2] = this.i32[W_FREE_HEAD + cls]!;
        this.i32[W_FREE_HEAD + cls] = ref;
        this.i32[W_USED_UNITS]! -= CLASS_BYTES[cls]! / 8;
        this.i32[W_LIVE_BLOCKS]! -= 1;
      }
    } finally {
      this.lock.writeUnlock();
    }
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
