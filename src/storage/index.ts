export {
  StorageConflictError,
  StorageCorruptError,
  StorageError,
  type StorageErrorCode,
  StorageNotFoundError,
} from './errors.js';
export { FileStorage, type FileStorageOptions } from './file-storage.js';
export type { ContextStorage, ContextSummary, LoadedContext, LoggedOp } from './types.js';
