import fs from 'node:fs';
import path from 'node:path';
import { removeStaleTempFiles, writeFileAtomic } from './atomic-file.js';
import { io, StorageConflictError, StorageNotFoundError } from './errors.js';
import { fsyncDir, readFileIfExists, unlinkIfExists } from './fs-io.js';
import {
  appendFrame,
  encodeLogFrame,
  parseLog,
  readLastLogRecord,
  truncateLog,
} from './log-file.js';
import { contextPaths, idFromSnapshotName } from './paths.js';
import { encodeSnapshotFile, parseSnapshotFile, readSnapshotHeader } from './snapshot-file.js';
import type { ContextStorage, ContextSummary, LoadedContext } from './types.js';

export interface FileStorageOptions {
  /** Root data directory; contexts live in `<dir>/contexts/`. */
  dir: string;
  /** fsync files and directories before returning (default true). Off only for tests. */
  fsync?: boolean;
  /** Told about recoverable problems: a dropped torn tail, a context skipped in a listing. */
  onWarning?: (msg: string, err: unknown) => void;
}

/**
 * Embedded storage in a local directory (DESIGN.md §4 Storage): per context an atomically
 * replaced snapshot `<id>.snap` and an append-only checksummed log `<id>.log`.
 *
 * Durability: every mutating call returns only once its effect is on disk. A crash at any
 * instant leaves each context as it was after its last acknowledged call, or with at most
 * one unacknowledged append dropped as a torn tail on load.
 *
 * Concurrency: synchronous by design, for worker threads. Calls that change or load one
 * context must be serialised by the caller (the context's write lock); load() may cut a
 * torn tail off the log. listSummaries() and exists() are safe at any time. Several
 * instances (one per worker) may share the directory.
 */
export class FileStorage implements ContextStorage {
  readonly dir: string;
  readonly contextsDir: string;
  private readonly fsync: boolean;
  private readonly onWarning: (msg: string, err: unknown) => void;

  constructor(options: FileStorageOptions) {
    this.dir = path.resolve(options.dir);
    this.contextsDir = path.join(this.dir, 'contexts');
    this.fsync = options.fsync ?? true;
    this.onWarning = options.onWarning ?? (() => {});
    io(`create ${this.contextsDir}`, () => fs.mkdirSync(this.contextsDir, { recursive: true }));
    for (const name of io('remove stale temp files', () =>
      removeStaleTempFiles(this.contextsDir),
    )) {
      this.onWarning(`storage: removed temp file left by a crash: ${name}`, undefined);
    }
  }

  create(id: string, snapshot: unknown, summary: ContextSummary): void {
    const paths = contextPaths(this.contextsDir, id);
    const content = encodeSnapshotFile(summary, snapshot);
    io(`create context ${id}`, () => {
      if (fs.existsSync(paths.snapshot)) throw new StorageConflictError(id);
      // A log without a snapshot is left by a delete interrupted by a crash; its ops must
      // not be replayed onto the new context.
      if (unlinkIfExists(paths.log) && this.fsync) fsyncDir(this.contextsDir);
      const created = writeFileAtomic(paths.snapshot, content, {
        fsync: this.fsync,
        exclusive: true,
      });
      if (!created) throw new StorageConflictError(id);
    });
  }

  append(id: string, version: number, op: unknown, summary: ContextSummary): number {
    const paths = contextPaths(this.contextsDir, id);
    const frame = encodeLogFrame(version, op, summary);
    io(`append to context ${id}`, () => {
      const options = { fsync: this.fsync, create: false };
      if (appendFrame(paths.log, frame, options)) return;
      // First append since create (or since the log was lost): create the log, durably.
      if (!fs.existsSync(paths.snapshot)) throw new StorageNotFoundError(id);
      appendFrame(paths.log, frame, { ...options, create: true });
      if (this.fsync) fsyncDir(this.contextsDir);
    });
    return frame.length;
  }

  compact(id: string, snapshot: unknown, summary: ContextSummary): void {
    const paths = contextPaths(this.contextsDir, id);
    const content = encodeSnapshotFile(summary, snapshot);
    io(`compact context ${id}`, () => {
      if (!fs.existsSync(paths.snapshot)) throw new StorageNotFoundError(id);
      writeFileAtomic(paths.snapshot, content, { fsync: this.fsync });
      // A crash before this point is harmless: load() skips log ops the snapshot covers.
      truncateLog(paths.log, 0, this.fsync);
    });
  }

  load(id: string): LoadedContext | null {
    const paths = contextPaths(this.contextsDir, id);
    return io(`load context ${id}`, () => {
      const snapshotBytes = readFileIfExists(paths.snapshot);
      if (snapshotBytes === null) return null;
      const { header, snapshot } = parseSnapshotFile(snapshotBytes, id, paths.snapshot);
      const logBytes = readFileIfExists(paths.log) ?? Buffer.alloc(0);
      const log = parseLog(logBytes, id, paths.log);
      if (log.torn) {
        const dropped = logBytes.length - log.goodEnd;
        this.onWarning(
          `storage: context ${id}: dropping ${dropped} byte torn tail of ${paths.log} ` +
            `(${log.torn.reason})`,
          undefined,
        );
        truncateLog(paths.log, log.goodEnd, this.fsync);
      }
      const newer = log.records.filter((record) => record.version > header.version);
      return {
        snapshot,
        snapshotVersion: header.version,
        ops: newer.map((record) => ({ version: record.version, op: record.op })),
        summary: newer.at(-1)?.summary ?? header.summary,
        logBytes: log.goodEnd,
        logRecords: log.records.length,
      };
    });
  }

  delete(id: string): boolean {
    const paths = contextPaths(this.contextsDir, id);
    return io(`delete context ${id}`, () => {
      // The snapshot defines existence, so it goes first: a crash in between leaves an
      // orphan log that load/list ignore and create removes.
      const existed = unlinkIfExists(paths.snapshot);
      const hadLog = unlinkIfExists(paths.log);
      if ((existed || hadLog) && this.fsync) fsyncDir(this.contextsDir);
      return existed;
    });
  }

  listSummaries(): ContextSummary[] {
    const names = io(`list ${this.contextsDir}`, () => fs.readdirSync(this.contextsDir));
    const summaries: ContextSummary[] = [];
    for (const name of names) {
      const id = idFromSnapshotName(name);
      if (id === null) continue;
      const summary = this.readSummary(id);
      if (summary) summaries.push(summary);
    }
    return summaries;
  }

  exists(id: string): boolean {
    const paths = contextPaths(this.contextsDir, id);
    return io(`stat context ${id}`, () => fs.existsSync(paths.snapshot));
  }

  /** Snapshot header summary, overridden by a newer last log record; null to skip. */
  private readSummary(id: string): ContextSummary | null {
    const paths = contextPaths(this.contextsDir, id);
    let header: ReturnType<typeof readSnapshotHeader>;
    try {
      header = readSnapshotHeader(paths.snapshot, id);
    } catch (err) {
      this.onWarning(`storage: context ${id}: skipped in listing, unreadable snapshot`, err);
      return null;
    }
    if (header === null) return null; // deleted since readdir
    try {
      const last = readLastLogRecord(paths.log, id);
      if (last && last.version > header.version) return last.summary;
    } catch (err) {
      this.onWarning(`storage: context ${id}: unreadable log, listing snapshot summary`, err);
    }
    return header.summary;
  }
}
