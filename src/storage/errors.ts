/**
 * Storage errors. All extend StorageError; `code` tells them apart:
 * - 'storage_error': an I/O failure (the fs error is the `cause`);
 * - 'storage_corrupt': a file failed validation and was left untouched for inspection;
 * - 'storage_conflict': create() of an id that exists;
 * - 'storage_not_found': append()/compact() of an id that does not exist.
 */
export type StorageErrorCode =
  | 'storage_error'
  | 'storage_corrupt'
  | 'storage_conflict'
  | 'storage_not_found';

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

  constructor(readonly id: string) {
    super(`context ${id} already exists`);
    this.name = 'StorageConflictError';
  }
}

export class StorageNotFoundError extends StorageError {
  override readonly code = 'storage_not_found';

  constructor(readonly id: string) {
    super(`context ${id} does not exist`);
    this.name = 'StorageNotFoundError';
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
