import { StorageConflictError } from './errors.js';
import type { PageRequest, StoredOp } from './store.js';
import type { ContextSummary } from './types.js';

/**
 * Argument checks and the listing cursor shared by every ContextStore provider, so that
 * they refuse and order alike. A failed check is a caller's bug (RangeError), or, for a
 * cursor from a client, bad input the HTTP layer answers with a 4xx.
 */

export const MAX_PAGE = 1000;

/**
 * The longest run appendOps takes. PostgreSQL binds at most 65,535 parameters in one
 * statement and its append takes two an op (plus seven), so the bound is the same for
 * every provider; a caller with more splits them into several runs.
 */
export const MAX_RUN = 10_000;

/** A run for appendOps: non-empty, consecutive versions, each summary at its op's version. */
export function checkRun(ops: readonly StoredOp[]): void {
  if (ops.length === 0) throw new RangeError('appendOps: empty run');
  if (ops.length > MAX_RUN) throw new RangeError(`appendOps: run longer than ${MAX_RUN}`);
  ops.forEach((op, i) => {
    if (!Number.isSafeInteger(op.version) || op.version < 1) {
      throw new RangeError(`appendOps: bad version ${op.version}`);
    }
    if (i > 0 && op.version !== ops[i - 1]!.version + 1) {
      throw new RangeError(`appendOps: versions not consecutive at ${op.version}`);
    }
    if (op.summary.version !== op.version) {
      throw new RangeError(
        `appendOps: op ${op.version} carries a summary at ${op.summary.version}`,
      );
    }
    updatedAtMillis(op.summary);
  });
}

/** `summary.updated_at` as epoch milliseconds, the listing's sort key. */
export function updatedAtMillis(summary: ContextSummary): number {
  const ms = Date.parse(summary.updated_at);
  if (Number.isNaN(ms)) throw new RangeError(`summary.updated_at is not a timestamp`);
  return ms;
}

export function checkPage(page: PageRequest): void {
  if (!Number.isInteger(page.limit) || page.limit < 1 || page.limit > MAX_PAGE) {
    throw new RangeError(`page limit must be 1..${MAX_PAGE}`);
  }
}

/** A position in the listing's order: after (updated_at, id), both descending. */
export interface ListingPosition {
  /** updated_at in milliseconds. */
  at: number;
  id: string;
}

export function encodeCursor(position: ListingPosition): string {
  return Buffer.from(JSON.stringify([position.at, position.id])).toString('base64url');
}

/** Date's range: ±8.64e15 ms around the epoch. */
const MAX_DATE_MS = 8.64e15;
/** Longer than any id a provider stores (a UUID is 36). */
const MAX_CURSOR_ID = 200;

/**
 * Throws RangeError for a cursor no provider made: not the shape encodeCursor gives, a
 * time outside Date's range, or an id no store could hold (a NUL, or too long).
 */
export function decodeCursor(cursor: string): ListingPosition {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new RangeError('bad listing cursor');
  }
  if (
    !Array.isArray(value) ||
    value.length !== 2 ||
    !Number.isSafeInteger(value[0]) ||
    Math.abs(value[0]) > MAX_DATE_MS ||
    typeof value[1] !== 'string' ||
    value[1].length > MAX_CURSOR_ID ||
    value[1].includes('\u0000')
  ) {
    throw new RangeError('bad listing cursor');
  }
  return { at: value[0], id: value[1] };
}

/** True when (at, id) comes after `position` in the listing's order. */
export function isAfter(at: number, id: string, position: ListingPosition): boolean {
  return at < position.at || (at === position.at && id < position.id);
}

/** appendOps re-sent an op the snapshot covers: its stored bytes are gone, so no comparison. */
export function resentCompacted(id: string, version: number) {
  return new StorageConflictError(
    id,
    `context ${id}: op ${version} is covered by the snapshot; a re-sent run cannot be compared`,
  );
}

/** appendOps re-sent an op whose stored bytes differ. */
export function resentDiffers(id: string, version: number) {
  return new StorageConflictError(
    id,
    `context ${id}: op ${version} is stored with different content`,
  );
}

/** appendOps sent a run that does not start at or before one past the stored version. */
export function runGap(id: string, first: number, stored: number) {
  return new StorageConflictError(
    id,
    `context ${id}: run starts at ${first}, stored version is ${stored}`,
  );
}

/** compact at a version other than the stored one. */
export function compactNotAtHead(id: string, at: number, stored: number) {
  return new StorageConflictError(
    id,
    `context ${id}: compaction at ${at}, stored version is ${stored}`,
  );
}
