import { TaskError } from '../protocol/task-error.js';
import { SlotStatus, type SlotTable } from '../shm/slot-table.js';

/** Which slot a task is for, at which generation, on behalf of which request. */
export interface SlotRef {
  slot: number;
  gen: number;
  traceId: string;
}

/**
 * Throws unless the slot still holds the occupant the main thread pinned (`at.gen`) in
 * `expected` status. Call under the slot's lock.
 */
export function checkSlot(
  slots: SlotTable,
  at: SlotRef,
  expected: SlotStatus | readonly SlotStatus[],
): void {
  if (slots.generation(at.slot) !== at.gen) {
    throw new TaskError('not_found', 'context not found');
  }
  const status = slots.status(at.slot);
  if (typeof expected === 'number' ? status === expected : expected.includes(status)) return;
  if (status === SlotStatus.Poisoned) {
    throw new TaskError('context_poisoned', 'the context is being reloaded; try again');
  }
  if (expected === SlotStatus.Ready && status === SlotStatus.Free) {
    throw new TaskError('not_found', 'context not found');
  }
  throw new TaskError('internal_error', `slot ${at.slot} is in an unexpected state`);
}
