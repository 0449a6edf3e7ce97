import fs from 'node:fs';
import path from 'node:path';
import { removeStaleTempFiles, writeFileAtomic } from './atomic-file.js';
import { io, StorageConflictError, StorageCorruptError, StorageNotFoundError } from './errors.js';
import { FaultSyncs } from './fault-syncs.js';
import { fsyncDir, readFileIfExists, unlinkIfExists } from './fs-io.js';
import {
  appendFrameTo,
  cutOpenLog,
  encodeLogFrame,
  openLogForAppend,
  parseLog,
  readLastLogRecord,
  truncateLog,
  truncateOpenLog,
} from './log-file.js';
import { type ContextPaths, contextPaths, idFromSnapshotName } from './paths.js';
import { encodeSnapshotFile, parseSnapshotFile, readSnapshotHeader } from './snapshot-file.js';
import {
  type ContextStorage,
  type ContextSummary,
  type LoadedContext,
  type LogHandle,
  type StorageScan,
  type StorageStats,
  type UnreadableContext,
  zeroStorageStats,
} from './types.js';

export interface FileStorageOptions {
  /** Root data directory; contexts live in `<dir>/contexts/`. */
  dir: string;
  /** fsync files and directories before returning (default true). Off only for tests. */
  fsync?: boolean;
  /** Told about recoverable problems: a dropped torn tail, a context skipped in a listing. */
  onWarning?: (msg: string, err: unknown) => void;
  /**
   * Tests only (FAULT_INJECTION): every log sync first sleeps this long, and records the
   * versions it made durable (see fault-syncs.ts), so that a test can cut logs back to what
   * a power loss would leave. 0 (the default): off.
   */
  faultSyncDelayMs?: number;
}

/**
 * Embedded storage in a local directory (docs/storage.md): per context an atomically
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
  /** Running totals of this instance's work; a worker publishes them after each task. */
  readonly stats: StorageStats = zeroStorageStats();
  private readonly fsync: boolean;
  private readonly onWarning: (msg: string, err: unknown) => void;
  private readonly faultSyncs: FaultSyncs | undefined;

  constructor(options: FileStorageOptions) {
    this.dir = path.resolve(options.dir);
    this.contextsDir = path.join(this.dir, 'contexts');
    this.fsync = options.fsync ?? true;
    this.onWarning = options.onWarning ?? (() => {});
    const delay = options.faultSyncDelayMs ?? 0;
    this.faultSyncs = delay > 0 ? new FaultSyncs(this.dir, delay) : undefined;
    io(`create ${this.contextsDir}`, () => fs.mkdirSync(this.contextsDir, { recursive: true }));
    for (const name of io('remove stale temp files', () =>
      removeStaleTempFiles(this.contextsDir),
    )) {
      this.onWarning(`storage: removed temp file left by a crash: ${name}`, undefined);
    }
  }

  create(id: string, snapshot: unknown, summary: ContextSummary): number {
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
    const bytes = byteLength(content);
    this.stats.snapshotBytes += bytes;
    return bytes;
  }

  /**
   * One frame at the end of the log, fdatasynced (write and sync in one call, under the
   * caller's lock). With `log`, the fd opened by the first append stays in it: later
   * appends are one write and one fdatasync, no open or close. If the sync fails the
   * frame is cut off again. (Its arguments, and writeLog's, are spelled and documented once,
   * on `ContextStorage`.)
   */
  append(...[id, version, op, summary, log]: Parameters<ContextStorage['append']>): number {
    const handle = log ?? { fd: -1 };
    try {
      const bytes = this.writeLog(id, version, op, summary, handle);
      try {
        this.syncLog(id, handle, version);
      } catch (err) {
        this.cutBack(handle, bytes);
        throw err;
      }
      return bytes;
    } finally {
      if (log === undefined) this.closeLog(handle);
    }
  }

  writeLog(...[id, version, op, summary, log]: Parameters<ContextStorage['writeLog']>): number {
    const paths = contextPaths(this.contextsDir, id);
    const frame = encodeLogFrame(version, op, summary);
    io(`append to context ${id}`, () => {
      if (log.fd < 0) log.fd = this.openLog(id, paths);
      appendFrameTo(log.fd, frame, false);
    });
    this.stats.appends++;
    this.stats.appendBytes += frame.length;
    return frame.length;
  }

  syncLog(id: string, log: LogHandle, version: number): void {
    if (!this.fsync) return;
    io(`sync the log of context ${id}`, () => {
      if (log.fd < 0) {
        const fd = openLogForAppend(contextPaths(this.contextsDir, id).log, false);
        if (fd === null) throw new StorageNotFoundError(id);
        log.fd = fd;
      }
      this.faultSyncs?.delay();
      fs.fdatasyncSync(log.fd);
    });
    this.stats.logSyncs++;
    this.faultSyncs?.record(id, version);
  }

  cutLog(id: string, log: LogHandle, length: number): void {
    io(`cut the log of context ${id}`, () => {
      if (log.fd >= 0) cutOpenLog(log.fd, length, this.fsync);
      else truncateLog(contextPaths(this.contextsDir, id).log, length, this.fsync);
    });
  }

  /** Cuts the frame just written off the log again (best effort; load() judges the rest). */
  private cutBack(log: LogHandle, bytes: number): void {
    if (log.fd < 0) return;
    try {
      fs.ftruncateSync(log.fd, fs.fstatSync(log.fd).size - bytes);
    } catch {
      // The sync's error matters more.
    }
  }

  compact(id: string, snapshot: unknown, summary: ContextSummary, log?: LogHandle): number {
    const paths = contextPaths(this.contextsDir, id);
    const content = encodeSnapshotFile(summary, snapshot);
    try {
      io(`compact context ${id}`, () => {
        if (!fs.existsSync(paths.snapshot)) throw new StorageNotFoundError(id);
        writeFileAtomic(paths.snapshot, content, { fsync: this.fsync });
        // A crash (or failure) before this point is harmless: load() skips log ops the
        // snapshot covers. The log is emptied in place (never renamed), so an fd kept open
        // stays valid.
        if (log !== undefined && log.fd >= 0) truncateOpenLog(log.fd, this.fsync);
        else truncateLog(paths.log, 0, this.fsync);
      });
    } catch (err) {
      this.stats.compactionFailures++;
      throw err;
    }
    const bytes = byteLength(content);
    this.stats.compactions++;
    this.stats.compactBytes += bytes;
    return bytes;
  }

  closeLog(log: LogHandle): void {
    const fd = log.fd;
    if (fd < 0) return;
    log.fd = -1;
    try {
      fs.closeSync(fd);
    } catch (err) {
      this.onWarning(`storage: closing a log fd failed`, err);
    }
  }

  /** Opens the log for appending; the first append after create also creates it, durably. */
  private openLog(id: string, paths: ContextPaths): number {
    const fd = openLogForAppend(paths.log, false);
    if (fd !== null) return fd;
    if (!fs.existsSync(paths.snapshot)) throw new StorageNotFoundError(id);
    const created = openLogForAppend(paths.log, true)!;
    try {
      if (this.fsync) fsyncDir(this.contextsDir);
    } catch (err) {
      fs.closeSync(created);
      throw err;
    }
    return created;
  }

  load(id: string): LoadedContext | null {
    const paths = contextPaths(this.contextsDir, id);
    return io(`load context ${id}`, () => {
      const snapshotBytes = readFileIfExists(paths.snapshot);
      if (snapshotBytes === null) return null;
      const { header, snapshot } = parseSnapshotFile(snapshotBytes, id, paths.snapshot);
      const logBytes = readFileIfExists(paths.log) ?? Buffer.alloc(0);
      this.stats.loadBytes += snapshotBytes.length + logBytes.length;
      const log = parseLog(logBytes, id, paths.log);
      if (log.torn) {
        this.stats.tornTails++;
        const dropped = logBytes.length - log.goodEnd;
        this.onWarning(
          `storage: context ${id}: dropping ${dropped} byte torn tail of ${paths.log} ` +
            `(${log.torn.reason})`,
          undefined,
        );
        truncateLog(paths.log, log.goodEnd, this.fsync);
      } else if (logBytes.length > 0) {
        // Frames written before a crash (or a failed sync) may still be only in the page
        // cache; they are served once loaded, so they are made durable first.
        this.syncFile(paths.log);
      }
      const newer = log.records.filter((record) => record.version > header.version);
      return {
        snapshot,
        snapshotVersion: header.version,
        snapshotBytes: snapshotBytes.length,
        ops: newer.map((record) => ({ version: record.version, op: record.op })),
        summary: newer.at(-1)?.summary ?? header.summary,
        logBytes: log.goodEnd,
        logRecords: log.records.length,
      };
    });
  }

  private syncFile(file: string): void {
    if (!this.fsync) return;
    const fd = fs.openSync(file, 'r');
    try {
      fs.fdatasyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
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

  /**
   * Every stored context, for the listing, without loading any: per context the snapshot's
   * header frame and the log's last frame (see readLastLogRecord), never a snapshot body or
   * a whole log. A context whose summary cannot be read (bad snapshot header, or a last log
   * frame whose checksum holds but whose payload does not decode) is reported in
   * `unreadable`, so the server still knows it exists and answers `storage_corrupt` for
   * it rather than 404. Files are only read, never changed.
   */
  scan(): StorageScan {
    const names = io(`list ${this.contextsDir}`, () => fs.readdirSync(this.contextsDir));
    const summaries: ContextSummary[] = [];
    const unreadable: UnreadableContext[] = [];
    const counter = { bytesRead: 0 };
    for (const name of names) {
      const id = idFromSnapshotName(name);
      if (id === null) continue;
      const read = this.readSummary(id, counter);
      if (read === null) continue;
      if ('reason' in read) unreadable.push(read);
      else summaries.push(read);
    }
    return { summaries, unreadable, bytesRead: counter.bytesRead };
  }

  /** The readable summaries of `scan()`. */
  listSummaries(): ContextSummary[] {
    return this.scan().summaries;
  }

  exists(id: string): boolean {
    const paths = contextPaths(this.contextsDir, id);
    return io(`stat context ${id}`, () => fs.existsSync(paths.snapshot));
  }

  /**
   * Snapshot header summary, overridden by a newer last log record; null when the context
   * vanished meanwhile; an UnreadableContext when its header cannot be read.
   */
  private readSummary(
    id: string,
    counter: { bytesRead: number },
  ): ContextSummary | UnreadableContext | null {
    const paths = contextPaths(this.contextsDir, id);
    let header: ReturnType<typeof readSnapshotHeader>;
    try {
      header = readSnapshotHeader(paths.snapshot, id, counter);
    } catch (err) {
      this.onWarning(`storage: context ${id}: unreadable snapshot, listed as corrupt`, err);
      return { id, reason: err instanceof Error ? err.message : String(err) };
    }
    if (header === null) return null; // deleted since readdir
    try {
      const last = readLastLogRecord(paths.log, id, counter);
      if (last && last.version > header.version) return last.summary;
    } catch (err) {
      // A checksummed frame that does not decode is an acknowledged change that cannot be
      // read: listing the older snapshot summary would hide it, so the context is corrupt.
      if (err instanceof StorageCorruptError) {
        this.onWarning(`storage: context ${id}: unreadable log, listed as corrupt`, err);
        return { id, reason: err.message };
      }
      this.onWarning(`storage: context ${id}: unreadable log, listing snapshot summary`, err);
    }
    return header.summary;
  }
}

function byteLength(chunks: readonly Uint8Array[]): number {
  let bytes = 0;
  for (const chunk of chunks) bytes += chunk.byteLength;
  return bytes;
}
