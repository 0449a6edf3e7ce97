import type { SummaryIndex } from '../catalog/summary-index.js';
import { isSettled } from '../fsm/state-machine.js';
import type { Logger } from '../log.js';
import type { ContextStateName } from '../model/types.js';
import { errorOf, isFailure } from '../pool/context-pool.js';
import type { ContextService } from '../service/context-service.js';
import { messageOf } from './turn.js';

/** `state_detail.error` of a context whose turn was cut short by the end of the process. */
export const INTERRUPTED_TURN = 'the server stopped during this turn; send a new message';

/**
 * At start-up, before any request is served: a stored context in an unsettled state was
 * in the middle of a turn when the process died, and no turn will ever finish it. Each is
 * moved to Failed{INTERRUPTED_TURN} by the state machine's `TurnAborted`, persisted like
 * any step, so `send_message` accepts it again. Only unsettled contexts (found in the
 * summary index, without loading the others) are touched, one at a time; one that cannot
 * be settled (unreadable files) is logged and left as it is.
 */
export async function settleInterruptedTurns(
  index: SummaryIndex,
  contexts: ContextService,
  log: Logger,
): Promise<{ settled: number; failed: number }> {
  const unsettled = index
    .page(index.size, 0)
    .filter((s) => !isSettled(s.current_state as ContextStateName));
  let settled = 0;
  let failed = 0;
  for (const summary of unsettled) {
    try {
      const reply = await contexts.run(summary.id, 'start-up', {
        op: 'transition',
        events: [{ type: 'TurnAborted', error: INTERRUPTED_TURN }],
      });
      if (isFailure(reply)) throw errorOf(reply);
      settled++;
      log.warn(
        { context: summary.id, state: summary.current_state },
        'a turn was interrupted by the end of the process; the context is now Failed',
      );
    } catch (err) {
      failed++;
      log.error(
        { context: summary.id, state: summary.current_state, err: messageOf(err) },
        'could not settle an interrupted turn',
      );
    }
  }
  return { settled, failed };
}
