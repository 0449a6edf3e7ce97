import { AppError } from '../errors.js';
import type { TaskErrorCode } from './task-error.js';

/**
 * Each way a task can fail, as HTTP: its status, and `Retry-After` (seconds) for those a
 * retry may cure. The one place worker failures become HTTP answers.
 */
const HTTP_OF: Record<TaskErrorCode, { status: number; retryAfter?: number }> = {
  not_found: { status: 404 },
  conflict: { status: 409 },
  branch_protected: { status: 409 },
  context_busy: { status: 409 },
  precondition_failed: { status: 412 },
  validation_error: { status: 400 },
  no_pending_tool_approvals: { status: 400 },
  invalid_json_value: { status: 400 },
  context_poisoned: { status: 503, retryAfter: 1 },
  lock_timeout: { status: 503, retryAfter: 1 },
  lock_deadlock: { status: 503, retryAfter: 1 },
  storage_corrupt: { status: 500 },
  storage_error: { status: 500 },
  insufficient_storage: { status: 507 },
  internal_error: { status: 500 },
};

/** The HTTP answer of a failure code (an unknown one is a 500). */
export function httpOfFailure(code: string | undefined): { status: number; retryAfter?: number } {
  if (code === undefined || !Object.hasOwn(HTTP_OF, code)) return { status: 500 };
  return HTTP_OF[code as TaskErrorCode];
}

/** A worker's failure (its code and message) as the AppError the main thread answers with. */
export function appErrorOf(code: string, message: string): AppError {
  const { status, retryAfter } = httpOfFailure(code);
  return new AppError(
    status,
    code,
    message,
    retryAfter === undefined ? {} : { 'Retry-After': String(retryAfter) },
  );
}
