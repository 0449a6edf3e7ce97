export {
  StorageConflictError,
  StorageCorruptError,
  StorageError,
  type StorageErrorCode,
  StorageFencedError,
  StorageNotFoundError,
  StorageUnavailableError,
} from './errors.js';
export { FileContextStore } from './file-context-store.js';
export { FileStorage, type FileStorageOptions } from './file-storage.js';
export {
  PostgresContextStore,
  type PostgresStoreOptions,
} from './postgres/pg-context-store.js';
export type {
  ContextStore,
  PageRequest,
  StoredContext,
  StoredOp,
  SummaryPage,
} from './store.js';
export type { ContextStorage, ContextSummary, LoadedContext, LoggedOp } from './types.js';
