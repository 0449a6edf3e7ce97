import path from 'node:path';

const ID_PATTERN = /^[0-9a-f-]{36}$/i;

export const SNAPSHOT_SUFFIX = '.snap';
export const LOG_SUFFIX = '.log';

/** Ids are validated UUIDs upstream; this guards file names against path traversal. */
export function assertContextId(id: string): void {
  if (typeof id !== 'string' || !ID_PATTERN.test(id)) {
    throw new Error(`invalid context id: ${JSON.stringify(id)}`);
  }
}

export interface ContextPaths {
  snapshot: string;
  log: string;
}

export function contextPaths(contextsDir: string, id: string): ContextPaths {
  assertContextId(id);
  return {
    snapshot: path.join(contextsDir, id + SNAPSHOT_SUFFIX),
    log: path.join(contextsDir, id + LOG_SUFFIX),
  };
}

/** The context id of a snapshot file name, or null for any other file. */
export function idFromSnapshotName(name: string): string | null {
  if (!name.endsWith(SNAPSHOT_SUFFIX)) return null;
  const id = name.slice(0, -SNAPSHOT_SUFFIX.length);
  return ID_PATTERN.test(id) ? id : null;
}
