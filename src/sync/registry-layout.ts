import { STATS_WORDS } from './lock-stats.js';

/**
 * The lock registry's shared buffer, word by word: one SharedArrayBuffer in which every
 * thread records the locks it holds and the one it waits for (`registry-writer.ts`), so that
 * any thread can see the whole picture (`registry-reader.ts`). Every offset is a named
 * constant here, and every bit field of a registry word is packed and unpacked by the small
 * functions below: no other file masks a registry word.
 *
 * # Buffer layout (Int32 words)
 *
 * | words        | content                                                              |
 * |--------------|----------------------------------------------------------------------|
 * | 0            | MAGIC `0x4c4b5247`                                                   |
 * | 1            | capacity: number of thread records                                   |
 * | 2            | flags: bit 0 = checked mode                                          |
 * | 3            | registrations refused because every record was in use               |
 * | 4–5          | epoch: float64, `performance.timeOrigin + now()` at creation (ms)    |
 * | 6–7          | coarse clock: float64 registry time of the latest clock reading by  |
 * |              | any thread (sampled acquires, waits, detector scans)                |
 * | 16 …         | `capacity` thread records of `RECORD_WORDS` words                    |
 *
 * # Thread record (`RECORD_WORDS` words; written only by its thread, except where noted)
 *
 * | word   | field      | meaning                                                           |
 * |--------|------------|-------------------------------------------------------------------|
 * | 0      | OWNER      | owner id (`threadId + 1`) of the thread using it; 0 free; −id while |
 * |        |            | the supervisor recovers a dead thread's locks                      |
 * | 1      | OVERFLOW   | holdings not recorded because all entries were in use              |
 * | 2      | WAIT_LOCK  | id of the lock the thread waits for, 0 when not waiting            |
 * | 3      | WAIT_MODE  | bit 0 write, bit 1 async (the thread is not blocked), bit 2 the    |
 * |        |            | writer has announced itself (its count is in the lock's STATE)     |
 * | 4      | WAIT_SEQ   | number of the current / last wait; bumped when a wait starts       |
 * | 5      | VICTIM     | set by the detector to WAIT_SEQ to fail that wait                  |
 * | 8–9    | WAIT_SINCE | float64 ms since the epoch when the wait started                   |
 * | 16 + 4k| entry k    | `k < 8`: LOCK (id), PHASE (below), SINCE (float64 ms since epoch)  |
 * | 48 …   | STATS      | this record's contention counters (`lock-stats.ts`); they keep   |
 * |        |            | counting across the threads that use the record in turn          |
 *
 * Only the supervisor writes another thread's record (`registry-supervisor.ts`): VICTIM, and
 * a dead thread's whole record while it recovers its locks.
 *
 * Entry PHASE = `gen << 4 | write << 2 | phase`, phase 0 FREE, 1 ACQUIRING (published before
 * the compare-exchange that may take the lock), 2 HELD, 3 RELEASING (published before the
 * read-modify-write that releases it). ACQUIRING and FREE are `Atomics.store`s (live
 * readers depend on their order with the lock word); HELD and RELEASING are plain stores,
 * because they are inside the critical section and only recovery, after the thread's exit,
 * depends on them. `gen` changes each time the entry is reused, so two
 * equal reads of a PHASE word mean the entry did not change in between.
 */

// ---------------------------------------------------------------------------------------
// Header words.

/** Word 0: marks a formatted registry buffer. */
export const REGISTRY_MAGIC = 0x4c4b5247;
export const H_MAGIC = 0;
/** Word 1: number of thread records. */
export const H_CAPACITY = 1;
/** Word 2: flags (`FLAG_CHECKED`). */
export const H_FLAGS = 2;
/** Word 3: registrations refused because the registry was full. */
export const H_REFUSED = 3;
/** Words 4–5: float64 epoch (wall-clock ms at creation: registry time 0). */
export const H_EPOCH = 4;
/** Words 6–7: float64 coarse clock (registry time of the latest clock reading). */
export const H_CLOCK = 6;
/** Flags bit 0: checked mode for every thread. */
const FLAG_CHECKED = 1;
/** Word at which the first thread record starts. */
export const RECORDS_AT = 16;

// ---------------------------------------------------------------------------------------
// Thread record words (offsets from the record's base).

/** Owner id of the thread using the record; 0 free; −id while a supervisor recovers it. */
export const R_OWNER = 0;
/** Holdings not recorded because every entry was in use. */
export const R_OVERFLOW = 1;
/** Id of the lock the thread waits for, 0 when not waiting. */
export const R_WAIT_LOCK = 2;
/** `WAIT_` bits of the current wait. */
export const R_WAIT_MODE = 3;
/** Number of the current / last wait. */
export const R_WAIT_SEQ = 4;
/** The wait number the deadlock detector asks to fail (written by the detector). */
export const R_VICTIM = 5;
/** Words 8–9: float64 registry time the wait started. */
export const R_WAIT_SINCE = 8;
/** First entry; entry k is at `R_ENTRIES + k * ENTRY_WORDS`. */
export const R_ENTRIES = 16;
/** Number of entries: the most locks a thread's record can show at once. */
export const MAX_HELD = 8;
/** The record's contention counters (`lock-stats.ts`). */
export const R_STATS = 48;
/** Words of one thread record. */
export const RECORD_WORDS = R_STATS + STATS_WORDS;

/** Entry words (offsets from the entry's base). */
export const E_LOCK = 0;
export const E_PHASE = 1;
/** Words 2–3: float64 registry time the attempt or hold began. */
export const E_SINCE = 2;
export const ENTRY_WORDS = 4;

/** Largest number of records a registry may have: tags must fit the 16-bit readers field. */
export const MAX_RECORDS = 0xffff;

/** Base word of record `r`. */
export function recordBase(r: number): number {
  return RECORDS_AT + r * RECORD_WORDS;
}

/** Base word of entry `k` of the record at `at`. */
export function entryBase(at: number, k: number): number {
  return at + R_ENTRIES + k * ENTRY_WORDS;
}

/** Index in a Float64Array over the buffer of the float64 that starts at Int32 word `word`. */
export function f64Index(word: number): number {
  return word / 2;
}

// ---------------------------------------------------------------------------------------
// WAIT_MODE bits.

const WAIT_WRITE = 1;
const WAIT_ASYNC = 2;
const WAIT_ANNOUNCED = 4;

/** The WAIT_MODE word of a wait. */
export function waitModeWord(write: boolean, async: boolean, announced: boolean): number {
  return (write ? WAIT_WRITE : 0) | (async ? WAIT_ASYNC : 0) | (announced ? WAIT_ANNOUNCED : 0);
}

/** The wait of WAIT_MODE `mode` is for the write lock. */
export function waitWrites(mode: number): boolean {
  return (mode & WAIT_WRITE) !== 0;
}

/** The wait of WAIT_MODE `mode` is async: its thread is not blocked. */
export function waitIsAsync(mode: number): boolean {
  return (mode & WAIT_ASYNC) !== 0;
}

/** The writer of WAIT_MODE `mode` has announced itself in the lock's STATE. */
export function waitAnnounced(mode: number): boolean {
  return (mode & WAIT_ANNOUNCED) !== 0;
}

/** The wait number after `seq` (positive, wrapping at 2³¹). */
export function nextWaitSeq(seq: number): number {
  return (seq + 1) & 0x7fffffff || 1;
}

// ---------------------------------------------------------------------------------------
// Entry PHASE words.

const PHASE_MASK = 3;
export const FREE = 0;
export const ACQUIRING = 1;
export const HELD = 2;
export const RELEASING = 3;
const PHASE_WRITE = 4;
const GEN_ONE = 16;
const GEN_MASK = 0x7ffffff0;

/** The phase (`FREE`, `ACQUIRING`, `HELD`, `RELEASING`) of PHASE word `word`. */
export function entryPhase(word: number): number {
  return word & PHASE_MASK;
}

/** The entry of PHASE word `word` is for the write lock. */
export function entryWrites(word: number): boolean {
  return (word & PHASE_WRITE) !== 0;
}

/** The entry of PHASE word `word` holds its lock in `write` mode (phase HELD). */
export function entryHolds(word: number, write: boolean): boolean {
  return (word & (PHASE_WRITE | PHASE_MASK)) === ((write ? PHASE_WRITE : 0) | HELD);
}

/** PHASE word `word` moved to `phase`, keeping its generation and mode. */
export function withPhase(word: number, phase: number): number {
  return (word & ~PHASE_MASK) | phase;
}

/** The PHASE word that reuses an entry last `word`: the next generation, in `phase`. */
export function reusedEntry(word: number, write: boolean, phase: number): number {
  return ((word + GEN_ONE) & GEN_MASK) | (write ? PHASE_WRITE : 0) | phase;
}

/** PHASE word `word` made FREE by its thread (same generation: the next use bumps it). */
export function freedEntry(word: number): number {
  return word & ~(PHASE_MASK | PHASE_WRITE);
}

/** PHASE word `word` made FREE by the supervisor for the record's next thread. */
export function clearedEntry(word: number): number {
  return (word + GEN_ONE) & GEN_MASK;
}

/** How a reader of the record names phase `phase` (not FREE). */
export function phaseName(phase: number): 'acquiring' | 'held' | 'releasing' {
  return phase === ACQUIRING ? 'acquiring' : phase === HELD ? 'held' : 'releasing';
}

// ---------------------------------------------------------------------------------------
// The buffer.

export interface RegistryBufferOptions {
  /** Number of thread records: every thread that uses a registered lock needs one. */
  threads?: number;
  /** Checked mode for every thread (a thread may still override it). */
  checked?: boolean;
}

/** Creates and formats a registry buffer. */
export function createRegistryBuffer(options: RegistryBufferOptions = {}): SharedArrayBuffer {
  const threads = options.threads ?? 256;
  if (!Number.isInteger(threads) || threads < 1 || threads > MAX_RECORDS) {
    throw new RangeError(`threads must be an integer in 1..${MAX_RECORDS}`);
  }
  const sab = new SharedArrayBuffer((RECORDS_AT + threads * RECORD_WORDS) * 4);
  const i32 = new Int32Array(sab);
  i32[H_CAPACITY] = threads;
  i32[H_FLAGS] = options.checked === true ? FLAG_CHECKED : 0;
  const f64 = new Float64Array(sab);
  f64[f64Index(H_EPOCH)] = performance.timeOrigin + performance.now();
  f64[f64Index(H_CLOCK)] = 0;
  Atomics.store(i32, H_MAGIC, REGISTRY_MAGIC);
  return sab;
}

/** Typed views of a formatted registry buffer, shared by its writer, reader and supervisor. */
export interface RegistryBuffer {
  readonly sab: SharedArrayBuffer;
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  /** Number of thread records. */
  readonly capacity: number;
  /** The buffer's checked-mode flag. */
  readonly checked: boolean;
}

/** Views `sab`, which must have been made by `createRegistryBuffer`. */
export function openRegistryBuffer(sab: SharedArrayBuffer): RegistryBuffer {
  const i32 = new Int32Array(sab);
  const f64 = new Float64Array(sab, 0, Math.floor(sab.byteLength / 8));
  if (Atomics.load(i32, H_MAGIC) !== REGISTRY_MAGIC) {
    throw new TypeError('not a lock registry buffer (use LockRegistry.createBuffer)');
  }
  return {
    sab,
    i32,
    f64,
    capacity: i32[H_CAPACITY]!,
    checked: (i32[H_FLAGS]! & FLAG_CHECKED) !== 0,
  };
}

/** The contention counters of record `r` (`lock-stats.ts`). */
export function statsBlock(sab: SharedArrayBuffer, r: number): BigInt64Array {
  return new BigInt64Array(sab, (recordBase(r) + R_STATS) * 4, STATS_WORDS / 2);
}
