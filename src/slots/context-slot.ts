import { pack, unpack } from 'msgpackr';
import type { ContextMeta } from '../model/types.js';
import type { Arena, Ref } from '../shm/arena.js';
import type { SlotTable } from '../shm/slot-table.js';
import { workMeter } from './thread-work-meter.js';
import { bytesToUuid, UUID_BYTES, uuidBytesEqual, uuidToBytes } from './uuid-bytes.js';

/**
 * One context as it lives in shared memory, reached through its slot. The caller holds the
 * slot's lock (read lock for the getters, write lock for everything that changes).
 *
 * Two views of one context: a reader (`'published'`, the default) sees each branch's
 * PUBLISHED length and the slot's published version, i.e. only writes that are durable; a
 * writer (`'written'`, what SlotAccess.write hands its work) sees every write in memory,
 * including appends whose log sync is still in flight (slots/group-commit.ts). Records
 * past a branch's published length are never shown to a reader.
 *
 * A context is three kinds of arena blocks:
 *
 * - the **meta record**: msgpack of `ContextMeta` (config, state, branch names and
 *   prompts); replaced whole when it changes, which is rare and O(meta);
 * - **message records**, one per message, written once: bytes 0–15 the message id (UUID),
 *   bytes 16… the message DTO as UTF-8 JSON, exactly the bytes a response carries;
 * - the **branch table** (u32 words, below), branch i matching `meta.branches[i]`; each
 *   branch's array block holds `capacity` u32 refs of message records, of which the first
 *   `length` are the branch's messages, oldest first. Branches share records: a fork copies
 *   refs, never records. The table is replaced whole when a branch is added or removed.
 *
 * Branch table: word 0 = branch count (`T_COUNT`); branch i at word
 * `TABLE_HEADER_WORDS + i * BRANCH_WORDS`:
 *
 * | word | name      | meaning                                                |
 * |------|-----------|--------------------------------------------------------|
 * | 0    | ARRAY     | arena ref of the branch's array of message-record refs |
 * | 1    | LENGTH    | refs in use: the branch's message count as written     |
 * |      |           | (writers' view, synced or not)                          |
 * | 2    | CAPACITY  | refs the array block has room for (doubles when full)  |
 * | 3    | PUBLISHED | the branch's message count readers see: ≤ LENGTH, the  |
 * |      |           | length at the slot's published VERSION (durable)       |
 *
 * All four are written under the slot's write lock; PUBLISHED catches up with LENGTH when
 * the sync that made those appends durable publishes them (SlotAccess, group-commit.ts).
 */
const T_COUNT = 0;
const TABLE_HEADER_WORDS = 1;
const B_ARRAY = 0;
const B_LENGTH = 1;
const B_CAPACITY = 2;
const B_PUBLISHED = 3;
const BRANCH_WORDS = 4;
const INITIAL_CAPACITY = 8;

interface TableEntry {
  array: Ref;
  length: number;
  capacity: number;
  published: number;
}

/** Which writes a ContextSlot shows: only durable ones (readers) or all (writers). */
export type SlotView = 'published' | 'written';

/** A branch's lengths: as written, and as published to readers. */
export interface BranchLengths {
  written: number;
  published: number;
}

export class ContextSlot {
  private readonly lengthWord: number;

  constructor(
    private readonly slots: SlotTable,
    private readonly arena: Arena,
    readonly slot: number,
    readonly view: SlotView = 'published',
  ) {
    this.lengthWord = view === 'published' ? B_PUBLISHED : B_LENGTH;
  }

  /** The version and update time this view shows (published, or written). */
  stamp(): { version: number; updatedAt: number } {
    if (this.view === 'written') {
      return {
        version: this.slots.writtenVersion(this.slot),
        updatedAt: this.slots.writtenAt(this.slot),
      };
    }
    return { version: this.slots.version(this.slot), updatedAt: this.slots.updatedAt(this.slot) };
  }

  // ---- meta ---------------------------------------------------------------------------

  meta(): ContextMeta {
    workMeter.metaReads++;
    // slice() copies into a private buffer: msgpackr's string decoding rejects shared views.
    return unpack(this.arena.bytes(this.slots.metaRef(this.slot)).slice()) as ContextMeta;
  }

  setMeta(meta: ContextMeta): void {
    const old = this.slots.metaRef(this.slot);
    const ref = this.allocStore(pack(meta));
    this.slots.setMetaRef(this.slot, ref);
    if (old !== 0) this.release([old]);
  }

  // ---- branches -----------------------------------------------------------------------

  /** Creates the branch table with `branches` (arrays of record refs, aligned with meta). */
  initBranches(branches: readonly (readonly Ref[])[]): void {
    this.writeTable(branches.map((refs) => this.newArray(refs)));
  }

  branchCount(): number {
    return this.arena.u32[this.tableWord() + T_COUNT]!;
  }

  /** The branch's message count in this view. */
  branchLength(branch: number): number {
    return this.arena.u32[this.entryWord(branch) + this.lengthWord]!;
  }

  /** Every branch's written length, in table order (what a sync will publish). */
  writtenLengths(): number[] {
    const lengths: number[] = [];
    for (let b = 0; b < this.branchCount(); b++) {
      lengths.push(this.arena.u32[this.entryWord(b) + B_LENGTH]!);
    }
    return lengths;
  }

  /** Publishes branch lengths (all written ones by default). Under the write lock. */
  publishLengths(lengths: readonly number[] = this.writtenLengths()): void {
    for (let b = 0; b < lengths.length; b++) {
      this.arena.u32[this.entryWord(b) + B_PUBLISHED] = lengths[b]!;
    }
  }

  /** The record ref at `index` of a branch (0 = oldest). */
  messageRef(branch: number, index: number): Ref {
    workMeter.refsRead++;
    const array = this.arena.u32[this.entryWord(branch) + B_ARRAY]!;
    return this.arena.u32[this.arena.offset(array) / 4 + index]!;
  }

  /** All record refs of a branch in this view: a copy of its ref array (4 bytes a message). */
  branchRefs(branch: number): Ref[] {
    return this.refsUpTo(branch, this.lengthWord);
  }

  /** Every record ref of a branch, published or not (to free or rewrite them all). */
  private allRefs(branch: number): Ref[] {
    return this.refsUpTo(branch, B_LENGTH);
  }

  private refsUpTo(branch: number, lengthWord: number): Ref[] {
    const e = this.entryWord(branch);
    const start = this.arena.offset(this.arena.u32[e + B_ARRAY]!) / 4;
    const length = this.arena.u32[e + lengthWord]!;
    workMeter.refsRead += length;
    return Array.from(this.arena.u32.subarray(start, start + length));
  }

  /** Appends a record ref to a branch, doubling its array when full: amortised O(1). */
  pushRef(branch: number, ref: Ref): void {
    const e = this.entryWord(branch);
    const length = this.arena.u32[e + B_LENGTH]!;
    let capacity = this.arena.u32[e + B_CAPACITY]!;
    if (length === capacity) {
      const oldArray = this.arena.u32[e + B_ARRAY]!;
      capacity *= 2;
      const array = this.allocBlock(capacity * 4);
      const from = this.arena.offset(oldArray) / 4;
      this.arena.u32.copyWithin(this.arena.offset(array) / 4, from, from + length);
      this.arena.u32[e + B_ARRAY] = array;
      this.arena.u32[e + B_CAPACITY] = capacity;
      this.release([oldArray]);
    }
    const array = this.arena.u32[e + B_ARRAY]!;
    this.arena.u32[this.arena.offset(array) / 4 + length] = ref;
    this.arena.u32[e + B_LENGTH] = length + 1;
  }

  /** Adds a branch whose array holds `refs` (a fork: refs are copied, records are not). */
  addBranch(refs: readonly Ref[]): void {
    const entries = this.tableEntries();
    entries.push(this.newArray(refs));
    this.writeTable(entries);
  }

  /**
   * Removes a branch, freeing its array and the records no other branch references.
   * O(context) in refs (4 bytes a message), which a branch delete may cost.
   */
  removeBranch(branch: number): void {
    const kept = new Set<Ref>();
    for (let b = 0; b < this.branchCount(); b++) {
      if (b !== branch) for (const ref of this.allRefs(b)) kept.add(ref);
    }
    const orphans = this.allRefs(branch).filter((ref) => !kept.has(ref));
    const entries = this.tableEntries();
    const [removed] = entries.splice(branch, 1);
    this.writeTable(entries);
    this.release([removed!.array, ...new Set(orphans)]);
  }

  /** Points every reference to `oldRef` at `newRef` and frees the old record. */
  replaceRecord(oldRef: Ref, newRef: Ref): void {
    for (let b = 0; b < this.branchCount(); b++) {
      const e = this.entryWord(b);
      const start = this.arena.offset(this.arena.u32[e + B_ARRAY]!) / 4;
      const length = this.arena.u32[e + B_LENGTH]!;
      for (let i = start; i < start + length; i++) {
        if (this.arena.u32[i] === oldRef) this.arena.u32[i] = newRef;
      }
    }
    this.release([oldRef]);
  }

  private tableEntries(): TableEntry[] {
    const entries = [];
    for (let b = 0; b < this.branchCount(); b++) {
      const e = this.entryWord(b);
      entries.push({
        array: this.arena.u32[e + B_ARRAY]!,
        length: this.arena.u32[e + B_LENGTH]!,
        capacity: this.arena.u32[e + B_CAPACITY]!,
        published: this.arena.u32[e + B_PUBLISHED]!,
      });
    }
    return entries;
  }

  /**
   * A new branch array holding `refs`, published whole: a new branch comes from a load, a
   * create or a fork, all of which are durable before any reader can see them.
   */
  private newArray(refs: readonly Ref[]): TableEntry {
    const capacity = Math.max(INITIAL_CAPACITY, refs.length);
    const array = this.allocBlock(capacity * 4);
    this.arena.u32.set(refs, this.arena.offset(array) / 4);
    return { array, length: refs.length, capacity, published: refs.length };
  }

  /** Writes a new branch table with `entries` and frees the old one. */
  private writeTable(entries: readonly TableEntry[]): void {
    const old = this.slots.branchesRef(this.slot);
    const table = this.allocBlock((TABLE_HEADER_WORDS + entries.length * BRANCH_WORDS) * 4);
    const w = this.arena.offset(table) / 4;
    this.arena.u32[w + T_COUNT] = entries.length;
    entries.forEach((entry, i) => {
      const e = w + TABLE_HEADER_WORDS + i * BRANCH_WORDS;
      this.arena.u32[e + B_ARRAY] = entry.array;
      this.arena.u32[e + B_LENGTH] = entry.length;
      this.arena.u32[e + B_CAPACITY] = entry.capacity;
      this.arena.u32[e + B_PUBLISHED] = entry.published;
    });
    this.slots.setBranchesRef(this.slot, table);
    if (old !== 0) this.release([old]);
  }

  // ---- message records ----------------------------------------------------------------

  /** Writes a message record: its id and its DTO JSON bytes. O(message). */
  writeRecord(id: string, json: Uint8Array): Ref {
    const ref = this.allocBlock(UUID_BYTES + json.byteLength);
    const at = this.arena.offset(ref);
    uuidToBytes(id, this.arena.u8, at);
    this.arena.u8.set(json, at + UUID_BYTES);
    workMeter.recordsWritten++;
    workMeter.recordBytesWritten += UUID_BYTES + json.byteLength;
    return ref;
  }

  /** The record of message `id`, searching every branch: O(context) in refs. */
  findRecord(id: string): Ref | undefined {
    const wanted = uuidToBytes(id);
    for (let b = 0; b < this.branchCount(); b++) {
      for (const ref of this.branchRefs(b)) {
        if (uuidBytesEqual(this.arena.u8, this.arena.offset(ref), wanted, 0)) return ref;
      }
    }
    return undefined;
  }

  /** Index of message `id` in a branch, or -1. */
  indexInBranch(branch: number, id: string): number {
    const wanted = uuidToBytes(id);
    const refs = this.branchRefs(branch);
    return refs.findIndex((ref) =>
      uuidBytesEqual(this.arena.u8, this.arena.offset(ref), wanted, 0),
    );
  }

  recordId(ref: Ref): string {
    return bytesToUuid(this.arena.u8, this.arena.offset(ref));
  }

  /** A view (no copy) of a record's JSON bytes, counted as read: the caller copies it. */
  recordJson(ref: Ref): Uint8Array {
    const at = this.arena.offset(ref) + UUID_BYTES;
    const length = this.arena.length(ref) - UUID_BYTES;
    workMeter.recordsRead++;
    workMeter.recordBytesRead += length;
    return this.arena.u8.subarray(at, at + length);
  }

  recordJsonLength(ref: Ref): number {
    return this.arena.length(ref) - UUID_BYTES;
  }

  // ---- lifetime -----------------------------------------------------------------------

  /** Frees every block of the context (records shared by branches once). */
  freeAll(): void {
    const blocks = new Set<Ref>();
    const table = this.slots.branchesRef(this.slot);
    if (table !== 0) {
      for (let b = 0; b < this.branchCount(); b++) {
        for (const ref of this.allRefs(b)) blocks.add(ref);
        blocks.add(this.arena.u32[this.entryWord(b) + B_ARRAY]!);
      }
      blocks.add(table);
    }
    const meta = this.slots.metaRef(this.slot);
    if (meta !== 0) blocks.add(meta);
    this.arena.freeAll(blocks);
    this.slots.addResidentBytes(this.slot, -this.slots.residentBytes(this.slot));
    this.slots.setBranchesRef(this.slot, 0);
    this.slots.setMetaRef(this.slot, 0);
  }

  private allocBlock(bytes: number): Ref {
    const ref = this.arena.alloc(bytes);
    this.slots.addResidentBytes(this.slot, this.arena.blockBytes(ref));
    return ref;
  }

  private allocStore(data: Uint8Array): Ref {
    const ref = this.allocBlock(data.byteLength);
    this.arena.u8.set(data, this.arena.offset(ref));
    return ref;
  }

  private release(refs: Ref[]): void {
    let bytes = 0;
    for (const ref of refs) bytes += this.arena.blockBytes(ref);
    this.arena.freeAll(refs);
    this.slots.addResidentBytes(this.slot, -bytes);
  }

  private tableWord(): number {
    return this.arena.offset(this.slots.branchesRef(this.slot)) / 4;
  }

  private entryWord(branch: number): number {
    return this.tableWord() + TABLE_HEADER_WORDS + branch * BRANCH_WORDS;
  }
}
