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

/** A write that storage did not make durable. */
export function notDurable(): TaskError {
  return new TaskError('storage_error', 'the write could not be made durable');
}

/** Whose fault each failure is: every code once, checked by the compiler. */
const FAULT_OF: Record<TaskErrorCode, 'request' | 'server'> = {
  not_found: 'request',
  conflict: 'request',
  branch_protected: 'request',
  context_busy: 'request',
  precondition_failed: 'request',
  validation_error: 'request',
  no_pending_tool_approvals: 'request',
  invalid_json_value: 'request',
  context_poisoned: 'server',
  lock_timeout: 'server',
  lock_deadlock: 'server',
  storage_corrupt: 'server',
  storage_error: 'server',
  insufficient_storage: 'server',
  internal_error: 'server',
};

/** Whether a failure is the server's (reported with the request's trace id), not the request's. */
export function isServerFault(code: TaskErrorCode): boolean {
  return FAULT_OF[code] === 'server';
}

function isRequestFault(code: string): code is TaskErrorCode {
  return Object.hasOwn(FAULT_OF, code) && FAULT_OF[code as TaskErrorCode] === 'request';
}

/**
 * What a worker can throw, as a TaskError: its own, a coded error of a shared module (a
 * request fault such as `not_found`), a lock or storage failure by its code; anything
 * else is an internal error.
 */
export function toTaskError(err: unknown): TaskError {
  if (err instanceof TaskError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (typeof code === 'string' && isRequestFault(code)) {
    return new TaskError(code, message);
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
      return notDurable();
    default:
      return new TaskError('internal_error', 'internal error');
  }
}
