import { AppError } from '../errors.js';

/** Maps what a worker can throw to the HTTP error it stands for. */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  switch (code) {
    case 'lock_timeout':
      return new AppError(503, 'lock_timeout', 'the context is busy; try again', {
        'Retry-After': '1',
      });
    case 'lock_deadlock':
      return new AppError(
        503,
        'lock_deadlock',
        'a lock wait was broken to end a deadlock; try again',
        {
          'Retry-After': '1',
        },
      );
    case 'storage_corrupt':
      return new AppError(500, 'storage_corrupt', 'the stored context cannot be read');
    case 'storage_conflict':
      return new AppError(409, 'conflict', message);
    case 'arena_full':
      return new AppError(507, 'insufficient_storage', 'shared memory is full');
    case 'storage_error':
    case 'storage_not_found':
      return new AppError(500, 'storage_error', 'the write could not be made durable');
    default:
      return new AppError(500, 'internal_error', 'internal error');
  }
}
