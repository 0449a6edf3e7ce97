/**
 * An error that maps to an HTTP answer: `{ "error": message, "code": code }` with `status`.
 * Thrown by validation on the main thread and produced by workers as result frames.
 */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'AppError';
  }

  toBody(): { error: string; code: string } {
    return { error: this.message, code: this.code };
  }
}

export const badRequest = (message: string, code = 'validation_error') =>
  new AppError(400, code, message);

export const notFound = (message: string) => new AppError(404, 'not_found', message);

export const conflict = (message: string, code = 'conflict') => new AppError(409, code, message);

export const preconditionFailed = (message: string) =>
  new AppError(412, 'precondition_failed', message);

export const serviceUnavailable = (message: string, code: string, retryAfterSeconds = 1) =>
  new AppError(503, code, message, { 'Retry-After': String(retryAfterSeconds) });
