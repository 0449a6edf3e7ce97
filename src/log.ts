import { type Logger, pino } from 'pino';

/**
 * Structured JSON logs (one object a line). Every line of a request carries its `traceId`,
 * whichever thread writes it: the main thread and the workers each make a child logger
 * with the trace id of the request at hand.
 */
export type { Logger };

export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { pid: process.pid, ...bindings } });
}
