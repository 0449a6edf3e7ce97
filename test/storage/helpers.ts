import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { FileStorage, type FileStorageOptions } from '../../src/storage/file-storage.js';
import { contextPaths } from '../../src/storage/paths.js';
import type { ContextSummary } from '../../src/storage/types.js';

export interface Warning {
  msg: string;
  err: unknown;
}

/** Each test's storage: a fresh temp directory, removed afterwards, and FileStorages over it. */
export interface StorageFixture {
  /** This test's directory. */
  dir(): string;
  /** A FileStorage over this test's directory (a new one is a restart), and its warnings. */
  open(options?: Partial<FileStorageOptions>): { storage: FileStorage; warnings: Warning[] };
  /** Where a FileStorage over this test's directory keeps a context's log. */
  logPath(id: string): string;
  /** Where a FileStorage over this test's directory keeps a context's snapshot. */
  snapshotPath(id: string): string;
}

/** Call at the top of a test file: registers the per-test directory's set-up and removal. */
export function useStorageFixture(): StorageFixture {
  let dir = '';
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ccs-storage-'));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return {
    dir: () => dir,
    open(options = {}) {
      const warnings: Warning[] = [];
      const storage = new FileStorage({
        dir,
        onWarning: (msg, err) => warnings.push({ msg, err }),
        ...options,
      });
      return { storage, warnings };
    },
    logPath: (id) => contextPaths(path.join(dir, 'contexts'), id).log,
    snapshotPath: (id) => contextPaths(path.join(dir, 'contexts'), id).snapshot,
  };
}

export function newId(): string {
  return randomUUID();
}

export function summary(id: string, version: number, extra: Partial<ContextSummary> = {}) {
  return {
    id,
    config: { model: 'test-model', temperature: 0.5 },
    current_state: 'active',
    active_branch_name: 'main',
    message_count: version,
    updated_at: new Date(Date.UTC(2025, 0, 1, 0, 0, version)).toISOString(),
    version,
    ...extra,
  } satisfies ContextSummary;
}

export function flipByte(file: string, offset: number): void {
  const bytes = fs.readFileSync(file);
  bytes[offset] = bytes[offset]! ^ 0xff;
  fs.writeFileSync(file, bytes);
}

/** Appends ops `from..to` (inclusive) and returns each frame's byte count. */
export function appendRange(storage: FileStorage, id: string, from: number, to: number) {
  const sizes: number[] = [];
  for (let v = from; v <= to; v++) {
    sizes.push(storage.append(id, v, { kind: 'message', n: v }, summary(id, v)));
  }
  return sizes;
}
