/**
 * Storage errors. All extend StorageError; `code` tells them apart:
 * - 'storage_error': an I/O failure (the fs error is the `cause`);
 * - 'storage_corrupt': a file failed validation and was left untouched for inspection;
 * - 'storage_conflict': the stored state refuses the call: create() (or createPrompt()) of
 *   an id that exists; appendOps() of a run that does not follow the stored version, that
 *   re-sends an op stored with other bytes or one the snapshot covers, or that kept losing
 *   to concurrent writes; compact() at a version other than the stored one;
 * - 'storage_not_found': append()/compact() of an id that does not exist;
 * - 'storage_fenced': a ContextStore write whose owner epoch is no longer current (another
 *   instance claimed the context); nothing was committed;
 * - 'storage_unavailable': a ContextStore could not reach its database, or it did not
 *   answer within the configured bound; a write's outcome is unknown (it may have landed),
 *   unless `outcomeUnknown` is false: the database rolled the call back (a serialization
 *   failure, a deadlock, a statement or lock timeout), so nothing landed. Either way the
 *   call may be retried.
 */
export type StorageErrorCode =
  | 'storage_error'
  | 'storage_corrupt'
  | 'storage_conflict'
  | 'storage_not_found'
  | 'storage_fenced'
  | 'storage_unavailable';

export class StorageError extends Error {
  readonly code: StorageErrorCode = 'storage_error';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StorageError';
  }
}

export class StorageCorruptError extends StorageError {
  override readonly code = 'storage_corrupt';

  constructor(
    readonly id: string,
    /** Absolute path of the offending file. */
    readonly file: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`context ${id}: corrupt file ${file}: ${reason}`, options);
    this.name = 'StorageCorruptError';
  }
}

export class StorageConflictError extends StorageError {
  override readonly code = 'storage_conflict';

  constructor(
    readonly id: string,
    message = `context ${id} already exists`,
  ) {
    super(message);
    this.name = 'StorageConflictError';
  }
}

export class StorageNotFoundError extends StorageError {
  override readonly code = 'storage_not_found';

  constructor(
    readonly id: string,
    message = `context ${id} does not exist`,
  ) {
    super(message);
    this.name = 'StorageNotFoundError';
  }
}

export class StorageFencedError extends StorageError {
  override readonly code = 'storage_fenced';

  constructor(
    readonly id: string,
    /** The epoch the caller wrote with. */
    readonly fence: number,
  ) {
    super(`context ${id}: owner epoch ${fence} is no longer current; nothing was committed`);
    this.name = 'StorageFencedError';
  }
}

export class StorageUnavailableError extends StorageError {
  override readonly code = 'storage_unavailable';
  /** False when the database said it rolled the call back: nothing of it was committed. */
  readonly outcomeUnknown: boolean;

  constructor(message: string, options?: { cause?: unknown; outcomeUnknown?: boolean }) {
    super(message, options);
    this.name = 'StorageUnavailableError';
    this.outcomeUnknown = options?.outcomeUnknown ?? true;
  }
}

/** Node fs error code, if any. */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

/** Runs an fs operation, wrapping any non-storage failure in a StorageError. */
export function io<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof StorageError) throw err;
    const detail = err instanceof Error ? err.message : String(err);
    throw new StorageError(`${what}: ${detail}`, { cause: err });
  }
}
