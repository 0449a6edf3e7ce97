import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { FileStorage, type FileStorageOptions } from '../../src/storage/file-storage.js';
import type { ContextSummary } from '../../src/storage/types.js';

/** A fresh temp directory per test, removed afterwards. */
export function useTempDir(): () => string {
  let dir = '';
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ccs-storage-'));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return () => dir;
}

export interface Warning {
  msg: string;
  err: unknown;
}

export function openStorage(
  dir: string,
  options: Partial<FileStorageOptions> = {},
): { storage: FileStorage; warnings: Warning[] } {
  const warnings: Warning[] = [];
  const storage = new FileStorage({
    dir,
    onWarning: (msg, err) => warnings.push({ msg, err }),
    ...options,
  });
  return { storage, warnings };
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

export function snapshotPath(storage: FileStorage, id: string): string {
  return path.join(storage.contextsDir, `${id}.snap`);
}

export function logPath(storage: FileStorage, id: string): string {
  return path.join(storage.contextsDir, `${id}.log`);
}

/** Appends ops `from..to` (inclusive) and returns each frame's byte count. */
export function appendRange(storage: FileStorage, id: string, from: number, to: number) {
  const sizes: number[] = [];
  for (let v = from; v <= to; v++) {
    sizes.push(storage.append(id, v, { kind: 'message', n: v }, summary(id, v)));
  }
  return sizes;
}
