import { contextLockId } from '../sync/lock-ids.js';
import type { LockRegistry } from '../sync/lock-registry.js';
import { RWLOCK_WORDS, RwLock } from '../sync/rwlock.js';
import type { Ref } from './arena.js';

/**
 * The slot table: one fixed-size entry per resident context, in a SharedArrayBuffer that
 * every thread maps. The main thread decides which context occupies which slot (and pins
 * slots in use); workers take the slot's lock and read or change the context through it.
 *
 * Table header (Int32 words at byte 0): word 0 = slot count; word 1 = VACATES, how many
 * times any slot was vacated (workers close the log fds they keep for vacated slots when it
 * moves); word 2 = SYNC_TOKENS, a counter from which every log sync takes a unique token
 * (see SYNC_OWNER); words 3–15 reserved.
 *
 * Slot s starts at word `HEADER_WORDS + s * SLOT_WORDS`:
 *
 * | word  | name             | meaning                                                  |
 * |-------|------------------|----------------------------------------------------------|
 * | 0–3   | LOCK             | the context's reader-writer lock (see sync/rwlock.ts)     |
 * | 4     | STATUS           | FREE 0, READY 1, POISONED 2                               |
 * | 5     | GENERATION       | bumped whenever the slot is vacated; a task names the    |
 * |       |                  | generation it expects, so a stale task cannot touch a new|
 * |       |                  | occupant                                                 |
 * | 6     | META_REF         | arena ref of the context's encoded metadata record       |
 * | 7     | BRANCHES_REF     | arena ref of the branch table (see slots/context-slot.ts)|
 * | 8     | VERSION          | the PUBLISHED version: the newest committed write that is|
 * |       |                  | durable (fdatasynced) and visible to readers; the ETag   |
 * | 9     | RESIDENT_UNITS   | arena units (8 bytes) held by this context               |
 * | 10    | LOG_RECORDS      | storage log records since the last snapshot              |
 * | 11    | LOG_BYTES        | log bytes written since the last snapshot (u32,          |
 * |       |                  | saturated): the log file's length, synced or not         |
 * | 12–13 | UPDATED_AT       | float64 epoch ms of the published version's write        |
 * | 14    | SNAPSHOT_BYTES   | bytes of the context's snapshot file (u32, saturated)    |
 * | 15    | WRITTEN_VERSION  | the newest write in the log and in memory: writers build |
 * |       |                  | on it; ahead of VERSION while that write's sync is in    |
 * |       |                  | flight (slots/group-commit.ts)                           |
 * | 16–17 | WRITTEN_AT       | float64 epoch ms of WRITTEN_VERSION's write              |
 * | 18    | SYNC_OWNER       | 0, or the token of the one log sync in flight for this   |
 * |       |                  | slot (claimed by compare-exchange from 0, or from a stale|
 * |       |                  | token by a takeover; released by compare-exchange to 0)  |
 * | 19    | SYNC_EVENTS      | bumped, then notified, whenever VERSION moves, a sync    |
 * |       |                  | ends or the slot is poisoned or vacated: what appends    |
 * |       |                  | waiting to be durable Atomics.wait / waitAsync on        |
 * | 20    | DURABLE_LOG_BYTES| log bytes known fdatasynced, the length at VERSION (u32, |
 * |       |                  | saturated): a failed sync cuts the log back to it        |
 * | 21–31 | reserved         |                                                          |
 *
 * Words 4–17 and 20 are written only under the slot's write lock and read under its read
 * lock, except STATUS, GENERATION and VERSION, which are also read with Atomics.load by the
 * main thread as hints (for example to answer If-None-Match without a dispatch, or to see
 * that an append became durable). SYNC_OWNER and SYNC_EVENTS are only touched with Atomics,
 * with or without the lock. Readers read VERSION and UPDATED_AT (and each branch's
 * PUBLISHED length, slots/context-slot.ts), never the WRITTEN words: they see a write only
 * once it is durable.
 */
export const SlotStatus = { Free: 0, Ready: 1, Poisoned: 2 } as const;
export type SlotStatus = (typeof SlotStatus)[keyof typeof SlotStatus];

const HEADER_WORDS = 16;
const SLOT_WORDS = 32;
const W_LOCK = 0;
const W_STATUS = 4;
const W_GENERATION = 5;
const W_META_REF = 6;
const W_BRANCHES_REF = 7;
const W_VERSION = 8;
const W_RESIDENT_UNITS = 9;
const W_LOG_RECORDS = 10;
const W_LOG_BYTES = 11;
const W_UPDATED_AT = 12;
const W_SNAPSHOT_BYTES = 14;
const W_WRITTEN_VERSION = 15;
const W_WRITTEN_AT = 16;
const W_SYNC_OWNER = 18;
const W_SYNC_EVENTS = 19;
const W_DURABLE_LOG_BYTES = 20;
const H_VACATES = 1;
const H_SYNC_TOKENS = 2;
const U32_MAX = 0xffff_ffff;

if (RWLOCK_WORDS > W_STATUS) throw new Error('slot layout: lock words overlap STATUS');

export class SlotTable {
  readonly i32: Int32Array;
  private readonly f64: Float64Array;
  readonly count: number;
  private readonly locks: RwLock[];

  static createBuffer(slots: number): SharedArrayBuffer {
    const sab = new SharedArrayBuffer((HEADER_WORDS + slots * SLOT_WORDS) * 4);
    const i32 = new Int32Array(sab);
    i32[0] = slots;
    for (let s = 0; s < slots; s++) RwLock.init(i32, HEADER_WORDS + s * SLOT_WORDS + W_LOCK);
    return sab;
  }

  /** `registry`: record this thread's holdings and waits (lock ids `contextLockId(slot)`). */
  constructor(
    readonly sab: SharedArrayBuffer,
    registry?: LockRegistry,
  ) {
    this.i32 = new Int32Array(sab);
    this.f64 = new Float64Array(sab);
    this.count = this.i32[0]!;
    this.locks = Array.from(
      { length: this.count },
      (_, s) =>
        new RwLock(
          this.i32,
          this.base(s) + W_LOCK,
          registry === undefined ? {} : { id: contextLockId(s), registry },
        ),
    );
  }

  lock(slot: number): RwLock {
    const lock = this.locks[slot];
    if (lock === undefined) throw new RangeError(`no slot ${slot}`);
    return lock;
  }

  status(slot: number): SlotStatus {
    return Atomics.load(this.i32, this.base(slot) + W_STATUS) as SlotStatus;
  }

  setStatus(slot: number, status: SlotStatus): void {
    Atomics.store(this.i32, this.base(slot) + W_STATUS, status);
  }

  /** How many times any slot was vacated (a cheap "did anything leave?" check). */
  vacates(): number {
    return Atomics.load(this.i32, H_VACATES);
  }

  generation(slot: number): number {
    return Atomics.load(this.i32, this.base(slot) + W_GENERATION);
  }

  /** Vacates the slot: FREE, refs cleared, generation bumped. Call under the write lock. */
  vacate(slot: number): void {
    const b = this.base(slot);
    this.i32[b + W_META_REF] = 0;
    this.i32[b + W_BRANCHES_REF] = 0;
    this.i32[b + W_VERSION] = 0;
    this.i32[b + W_RESIDENT_UNITS] = 0;
    this.i32[b + W_LOG_RECORDS] = 0;
    this.i32[b + W_LOG_BYTES] = 0;
    this.i32[b + W_SNAPSHOT_BYTES] = 0;
    this.f64[(b + W_UPDATED_AT) / 2] = 0;
    this.i32[b + W_WRITTEN_VERSION] = 0;
    this.f64[(b + W_WRITTEN_AT) / 2] = 0;
    this.i32[b + W_DURABLE_LOG_BYTES] = 0;
    // A sync still in flight for the old occupant finds the generation moved and publishes
    // nothing; its release (compare-exchange of its own token) then fails harmlessly.
    Atomics.store(this.i32, b + W_SYNC_OWNER, 0);
    Atomics.add(this.i32, b + W_GENERATION, 1);
    Atomics.store(this.i32, b + W_STATUS, SlotStatus.Free);
    Atomics.add(this.i32, H_VACATES, 1);
    this.signalSync(slot);
  }

  metaRef(slot: number): Ref {
    return this.i32[this.base(slot) + W_META_REF]!;
  }

  setMetaRef(slot: number, ref: Ref): void {
    this.i32[this.base(slot) + W_META_REF] = ref;
  }

  branchesRef(slot: number): Ref {
    return this.i32[this.base(slot) + W_BRANCHES_REF]!;
  }

  setBranchesRef(slot: number, ref: Ref): void {
    this.i32[this.base(slot) + W_BRANCHES_REF] = ref;
  }

  version(slot: number): number {
    return Atomics.load(this.i32, this.base(slot) + W_VERSION);
  }

  setVersion(slot: number, version: number): void {
    Atomics.store(this.i32, this.base(slot) + W_VERSION, version);
  }

  /** The newest write in the log and in memory (writers' view; see WRITTEN_VERSION). */
  writtenVersion(slot: number): number {
    return Atomics.load(this.i32, this.base(slot) + W_WRITTEN_VERSION);
  }

  setWrittenVersion(slot: number, version: number): void {
    Atomics.store(this.i32, this.base(slot) + W_WRITTEN_VERSION, version);
  }

  writtenAt(slot: number): number {
    return this.f64[(this.base(slot) + W_WRITTEN_AT) / 2]!;
  }

  setWrittenAt(slot: number, epochMs: number): void {
    this.f64[(this.base(slot) + W_WRITTEN_AT) / 2] = epochMs;
  }

  durableLogBytes(slot: number): number {
    return this.i32[this.base(slot) + W_DURABLE_LOG_BYTES]! >>> 0;
  }

  setDurableLogBytes(slot: number, bytes: number): void {
    this.i32[this.base(slot) + W_DURABLE_LOG_BYTES] = Math.min(bytes, U32_MAX);
  }

  /** The token of the log sync in flight for this slot, or 0. */
  syncOwner(slot: number): number {
    return Atomics.load(this.i32, this.base(slot) + W_SYNC_OWNER);
  }

  /** A token no other sync has (never 0). */
  newSyncToken(): number {
    for (;;) {
      const token = Atomics.add(this.i32, H_SYNC_TOKENS, 1) + 1;
      if (token !== 0) return token;
    }
  }

  /** Claims the slot's sync: from `from` (0, or a stale owner's token) to `token`. */
  claimSync(slot: number, token: number, from = 0): boolean {
    return Atomics.compareExchange(this.i32, this.base(slot) + W_SYNC_OWNER, from, token) === from;
  }

  /** Ends the slot's sync if `token` still holds it, and wakes whoever waits. */
  releaseSync(slot: number, token: number): void {
    Atomics.compareExchange(this.i32, this.base(slot) + W_SYNC_OWNER, token, 0);
    this.signalSync(slot);
  }

  /** The counter appends waiting to be durable wait on (see SYNC_EVENTS). */
  syncEvents(slot: number): number {
    return Atomics.load(this.i32, this.base(slot) + W_SYNC_EVENTS);
  }

  /** Index of SYNC_EVENTS in `i32`, for Atomics.wait / waitAsync. */
  syncEventsIndex(slot: number): number {
    return this.base(slot) + W_SYNC_EVENTS;
  }

  /** Bumps SYNC_EVENTS and wakes every thread waiting on it. */
  signalSync(slot: number): void {
    const at = this.base(slot) + W_SYNC_EVENTS;
    Atomics.add(this.i32, at, 1);
    Atomics.notify(this.i32, at);
  }

  residentBytes(slot: number): number {
    return this.i32[this.base(slot) + W_RESIDENT_UNITS]! * 8;
  }

  addResidentBytes(slot: number, delta: number): void {
    this.i32[this.base(slot) + W_RESIDENT_UNITS]! += delta / 8;
  }

  logRecords(slot: number): number {
    return this.i32[this.base(slot) + W_LOG_RECORDS]!;
  }

  setLogRecords(slot: number, records: number): void {
    this.i32[this.base(slot) + W_LOG_RECORDS] = records;
  }

  logBytes(slot: number): number {
    return this.i32[this.base(slot) + W_LOG_BYTES]! >>> 0;
  }

  setLogBytes(slot: number, bytes: number): void {
    this.i32[this.base(slot) + W_LOG_BYTES] = Math.min(bytes, U32_MAX);
  }

  snapshotBytes(slot: number): number {
    return this.i32[this.base(slot) + W_SNAPSHOT_BYTES]! >>> 0;
  }

  setSnapshotBytes(slot: number, bytes: number): void {
    this.i32[this.base(slot) + W_SNAPSHOT_BYTES] = Math.min(bytes, U32_MAX);
  }

  updatedAt(slot: number): number {
    return this.f64[(this.base(slot) + W_UPDATED_AT) / 2]!;
  }

  setUpdatedAt(slot: number, epochMs: number): void {
    this.f64[(this.base(slot) + W_UPDATED_AT) / 2] = epochMs;
  }

  private base(slot: number): number {
    return HEADER_WORDS + slot * SLOT_WORDS;
  }
}
