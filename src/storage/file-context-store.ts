import fs from 'node:fs';
import { PromptLibrary, type SystemPrompt } from '../prompts/prompt-library.js';
import { encode } from './codec.js';
import { DirLock } from './dir-lock.js';
import {
  io,
  StorageConflictError,
  StorageError,
  StorageFencedError,
  StorageNotFoundError,
} from './errors.js';
import { FileStorage, type FileStorageOptions } from './file-storage.js';
import { readLastLogRecord } from './log-file.js';
import { contextPaths } from './paths.js';
import { readSnapshotHeader } from './snapshot-file.js';
import type { ContextStore, PageRequest, StoredContext, StoredOp, SummaryPage } from './store.js';
import {
  checkPage,
  checkRun,
  compactNotAtHead,
  decodeCursor,
  encodeCursor,
  isAfter,
  resentCompacted,
  resentDiffers,
  runGap,
  updatedAtMillis,
} from './store-checks.js';
import type { ContextSummary, LogHandle, StorageStats } from './types.js';

/**
 * The local directory (FileStorage, and the prompt library's file) behind the ContextStore
 * contract. Same files, same format: a directory written by the server today opens here.
 *
 * Ownership: ONE process owns the directory, and one store in it: open() takes a lock file
 * (dir-lock.ts) and fails if a live process holds it; close() releases it. Epochs live in this instance's memory, drawn from one counter, so each is larger
 * than any before in this instance; a context not created or claimed by this instance has no
 * current epoch, so every fence is stale for it until it is claimed. A restart forgets all
 * epochs: fences from before it can only come from a dead process.
 *
 * Durability: appendOps writes the run's frames (one write each) and makes them durable
 * with ONE fdatasync; if that fails the log is cut back to where the run began. A crash
 * during the run can leave a prefix of it on disk (whole checksummed frames; a torn last
 * frame is dropped on load), never acknowledged: a re-sent run completes it, idempotently.
 *
 * Calls run synchronously inside their promise (the file calls block this thread; the
 * server still calls FileStorage on its workers), so no two calls interleave.
 */
export class FileContextStore implements ContextStore {
  readonly provider = 'file';
  private readonly epochs = new Map<string, number>();
  private lastEpoch = 0;
  private closed = false;

  private constructor(
    private readonly storage: FileStorage,
    private readonly prompts: PromptLibrary,
    private readonly lock: DirLock,
  ) {}

  static async open(options: FileStorageOptions): Promise<FileContextStore> {
    const storage = new FileStorage(options);
    const lock = DirLock.take(storage.dir);
    let prompts: PromptLibrary;
    try {
      prompts = await PromptLibrary.open(storage.dir);
    } catch (err) {
      lock.release();
      throw new StorageError(`open the prompt library: ${String(err)}`, { cause: err });
    }
    return new FileContextStore(storage, prompts, lock);
  }

  async create(id: string, owner: string, snapshot: unknown, summary: ContextSummary) {
    this.checkOpen();
    void owner; // one owner per directory: nothing to record
    updatedAtMillis(summary);
    this.storage.create(id, snapshot, summary);
    return this.newEpoch(id);
  }

  /**
   * Reads the context whole once (FileStorage.load), which drops a torn tail a crash left
   * and syncs the log: appends written after a torn frame would make the log unreadable.
   */
  async claim(id: string, owner: string) {
    this.checkOpen();
    void owner;
    if (this.storage.load(id) === null) throw new StorageNotFoundError(id);
    return this.newEpoch(id);
  }

  async appendOps(id: string, fence: number, ops: readonly StoredOp[]) {
    this.checkOpen();
    checkRun(ops);
    this.checkFence(id, fence);
    const head = this.head(id);
    const fresh = this.settleResent(id, head, ops);
    if (fresh.length === 0) return;
    const logFile = contextPaths(this.storage.contextsDir, id).log;
    const before = io(`stat the log of ${id}`, () => fileSize(logFile));
    const log: LogHandle = { fd: -1 };
    try {
      for (const op of fresh) this.storage.writeLog(id, op.version, op.op, op.summary, log);
      this.storage.syncLog(id, log, fresh.at(-1)!.version);
    } catch (err) {
      try {
        this.storage.cutLog(id, log, before);
      } catch {
        // The write's error matters more. But the log may now end in a torn frame, and a
        // run appended after it would make the log unreadable: forget the epoch, so every
        // fence is stale until a claim, whose load drops the torn tail.
        this.epochs.delete(id);
      }
      throw err;
    } finally {
      this.storage.closeLog(log);
    }
  }

  async compact(id: string, fence: number, snapshot: unknown, summary: ContextSummary) {
    this.checkOpen();
    this.checkFence(id, fence);
    const head = this.head(id);
    if (summary.version !== head.version) {
      throw compactNotAtHead(id, summary.version, head.version);
    }
    this.storage.compact(id, snapshot, summary);
  }

  async load(id: string): Promise<StoredContext | null> {
    this.checkOpen();
    const loaded = this.storage.load(id);
    if (loaded === null) return null;
    return {
      snapshot: loaded.snapshot,
      snapshotVersion: loaded.snapshotVersion,
      ops: loaded.ops,
      summary: loaded.summary,
      version: loaded.ops.at(-1)?.version ?? loaded.snapshotVersion,
      epoch: this.epochs.get(id) ?? 0,
    };
  }

  async delete(id: string, fence: number) {
    this.checkOpen();
    if (!this.storage.exists(id)) return false;
    this.checkFence(id, fence);
    this.epochs.delete(id);
    return this.storage.delete(id);
  }

  async exists(id: string) {
    this.checkOpen();
    return this.storage.exists(id);
  }

  /** Reads every summary (FileStorage.scan) for each page: O(contexts) a page. */
  async listSummaries(page: PageRequest): Promise<SummaryPage> {
    this.checkOpen();
    checkPage(page);
    const after = page.cursor === undefined ? null : decodeCursor(page.cursor);
    const rows = this.storage
      .listSummaries()
      .map((summary) => ({ summary, at: updatedAtMillis(summary) }))
      .filter((row) => after === null || isAfter(row.at, row.summary.id, after))
      .sort((a, b) => b.at - a.at || (a.summary.id < b.summary.id ? 1 : -1));
    const taken = rows.slice(0, page.limit);
    const last = taken.at(-1);
    return {
      summaries: taken.map((row) => row.summary),
      next:
        rows.length > page.limit && last
          ? encodeCursor({ at: last.at, id: last.summary.id })
          : null,
    };
  }

  async listPrompts() {
    this.checkOpen();
    return this.prompts.list();
  }

  async getPrompt(id: string) {
    this.checkOpen();
    return this.prompts.get(id) ?? null;
  }

  // The library throws HTTP errors for a missing or existing id; checking first (in the
  // same synchronous step as its own check) keeps those out and answers storage errors.
  async createPrompt(prompt: SystemPrompt) {
    this.checkOpen();
    if (this.prompts.get(prompt.id)) {
      throw new StorageConflictError(prompt.id, `system prompt ${prompt.id} already exists`);
    }
    await promptWrite(`create system prompt ${prompt.id}`, () =>
      this.prompts.create({ id: prompt.id, content: prompt.content }),
    );
  }

  async updatePrompt(prompt: SystemPrompt) {
    this.checkOpen();
    if (!this.prompts.get(prompt.id)) throw promptNotFound(prompt.id);
    await promptWrite(`update system prompt ${prompt.id}`, () =>
      this.prompts.update(prompt.id, prompt.content),
    );
  }

  async deletePrompt(id: string) {
    this.checkOpen();
    if (!this.prompts.get(id)) return false;
    await promptWrite(`delete system prompt ${id}`, () => this.prompts.remove(id));
    return true;
  }

  stats(): StorageStats {
    return { ...this.storage.stats };
  }

  async close() {
    if (this.closed) return;
    this.closed = true;
    this.lock.release();
  }

  private checkOpen(): void {
    if (this.closed) throw new StorageError('the store is closed');
  }

  private newEpoch(id: string): number {
    const epoch = ++this.lastEpoch;
    this.epochs.set(id, epoch);
    return epoch;
  }

  private checkFence(id: string, fence: number): void {
    if (!this.storage.exists(id)) throw new StorageNotFoundError(id);
    if (this.epochs.get(id) !== fence) throw new StorageFencedError(id, fence);
  }

  /** The stored version and the snapshot's, from the snapshot header and last log frame. */
  private head(id: string): { version: number; snapshotVersion: number } {
    const paths = contextPaths(this.storage.contextsDir, id);
    return io(`read the head of ${id}`, () => {
      const header = readSnapshotHeader(paths.snapshot, id);
      if (header === null) throw new StorageNotFoundError(id);
      const last = readLastLogRecord(paths.log, id);
      const version = last && last.version > header.version ? last.version : header.version;
      return { version, snapshotVersion: header.version };
    });
  }

  /**
   * Checks the ops of a run at versions already stored against what is stored (a re-sent
   * run), and returns the ops still to write. See "Ops and versions" on ContextStore.
   */
  private settleResent(
    id: string,
    head: { version: number; snapshotVersion: number },
    ops: readonly StoredOp[],
  ): readonly StoredOp[] {
    const first = ops[0]!.version;
    if (first > head.version + 1) {
      throw runGap(id, first, head.version);
    }
    if (first > head.version) return ops;
    if (first <= head.snapshotVersion) throw resentCompacted(id, first);
    const stored = new Map(this.storage.load(id)?.ops.map((o) => [o.version, o.op]) ?? []);
    for (const op of ops) {
      if (op.version > head.version) break;
      if (!stored.has(op.version) || !encode(stored.get(op.version)).equals(encode(op.op))) {
        throw resentDiffers(id, op.version);
      }
    }
    return ops.filter((op) => op.version > head.version);
  }
}

function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return 0;
    throw err;
  }
}

/** A write of the prompt library's file, its fs failures as StorageErrors. */
async function promptWrite(what: string, write: () => Promise<unknown>): Promise<void> {
  try {
    await write();
  } catch (err) {
    if (err instanceof StorageError) throw err;
    const detail = err instanceof Error ? err.message : String(err);
    throw new StorageError(`${what}: ${detail}`, { cause: err });
  }
}

function promptNotFound(id: string) {
  return new StorageNotFoundError(id, `system prompt ${id} does not exist`);
}
