/**
 * Why a task failed, in the domain's terms: a code and a message for people. The worker
 * says only this; the main thread maps each code to its HTTP answer (error-mapping.ts).
 */
export type TaskErrorCode =
  // the request's fault
  | 'not_found'
  | 'conflict'
  | 'branch_protected'
  | 'context_busy'
  | 'precondition_failed'
  | 'validation_error'
  | 'no_pending_tool_approvals'
  | 'invalid_json_value'
  // the server's: busy or reloading, worth a retry
  | 'context_poisoned'
  | 'lock_timeout'
  | 'lock_deadlock'
  // the server's
  | 'storage_corrupt'
  | 'storage_error'
  | 'insufficient_storage'
  | 'internal_error';

export class TaskError extends Error {
  constructor(
    readonly code: TaskErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'TaskError';
  }
}

const SERVER_FAULTS: ReadonlySet<TaskErrorCode> = new Set([
  'context_poisoned',
  'lock_timeout',
  'lock_deadlock',
  'storage_corrupt',
  'storage_error',
  'insufficient_storage',
  'internal_error',
]);

/** Whether a failure is the server's (reported with the request's trace id), not the request's. */
export function isServerFault(code: TaskErrorCode): boolean {
  return SERVER_FAULTS.has(code);
}

const REQUEST_FAULTS: ReadonlySet<string> = new Set<TaskErrorCode>([
  'not_found',
  'conflict',
  'branch_protected',
  'context_busy',
  'precondition_failed',
  'validation_error',
  'no_pending_tool_approvals',
  'invalid_json_value',
]);

/**
 * What a worker can throw, as a TaskError: its own, a coded error of a shared module (a
 * request fault such as `not_found`), a lock or storage failure by its code; anything
 * else is an internal error.
 */
export function toTaskError(err: unknown): TaskError {
  if (err instanceof TaskError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (typeof code === 'string' && REQUEST_FAULTS.has(code)) {
    return new TaskError(code as TaskErrorCode, message);
  }
  switch (code) {
    case 'lock_timeout':
      return new TaskError('lock_timeout', 'the context is busy; try again');
    case 'lock_deadlock':
      return new TaskError('lock_deadlock', 'a lock wait was broken to end a deadlock; try again');
    case 'storage_corrupt':
      return new TaskError('storage_corrupt', 'the stored context cannot be read');
    case 'storage_conflict':
      return new TaskError('conflict', message);
    case 'arena_full':
      return new TaskError('insufficient_storage', 'shared memory is full');
    case 'storage_error':
    case 'storage_not_found':
      return new TaskError('storage_error', 'the write could not be made durable');
    default:
      return new TaskError('internal_error', 'internal error');
  }
}
